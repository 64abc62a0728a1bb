// Package inventory holds the latest snapshot of every source, for the views to render.
package inventory

import (
	"sync"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/certbot"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/health"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/targets"
)

// View is a consistent set of snapshots; nil means the source is not configured or has not
// published yet. Snapshots are immutable, so a View can be read without locks.
type View struct {
	Files   *files.Snapshot
	Targets *targets.Snapshot
	Certbot *certbot.Snapshot
}

// Statuses lists every source's health.
func (v View) Statuses() []health.Status {
	var out []health.Status
	if v.Files != nil {
		out = append(out, v.Files.Status...)
	}
	if v.Targets != nil {
		out = append(out, v.Targets.Status...)
	}
	if v.Certbot != nil {
		out = append(out, v.Certbot.Status...)
	}
	return out
}

// Inventory is written by the sources of the current generation and read by scrapes.
type Inventory struct {
	mu   sync.RWMutex
	gen  uint64
	view View
	want View // which sources the current generation runs (non-nil placeholder = expected)
}

// New returns an empty inventory.
func New() *Inventory { return &Inventory{} }

// Generation starts a new set of sources (after a reload): publishes from older generations
// are dropped from then on, while the last snapshots stay visible until the new sources publish,
// so a reload leaves no gap in the series. Sources that the new config no longer has are cleared.
func (i *Inventory) Generation(hasFiles, hasTargets, hasCertbot bool) uint64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.gen++
	if !hasFiles {
		i.view.Files = nil
	}
	if !hasTargets {
		i.view.Targets = nil
	}
	if !hasCertbot {
		i.view.Certbot = nil
	}
	i.want = View{}
	if hasFiles {
		i.want.Files = &files.Snapshot{}
	}
	if hasTargets {
		i.want.Targets = &targets.Snapshot{}
	}
	if hasCertbot {
		i.want.Certbot = &certbot.Snapshot{}
	}
	return i.gen
}

func (i *Inventory) set(gen uint64, f func(*View)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if gen == i.gen {
		f(&i.view)
	}
}

// FilesPublisher returns the publish callback for the files source of generation gen.
func (i *Inventory) FilesPublisher(gen uint64) func(*files.Snapshot) {
	return func(s *files.Snapshot) { i.set(gen, func(v *View) { v.Files = s }) }
}

// TargetsPublisher returns the publish callback for the background probes of generation gen.
func (i *Inventory) TargetsPublisher(gen uint64) func(*targets.Snapshot) {
	return func(s *targets.Snapshot) { i.set(gen, func(v *View) { v.Targets = s }) }
}

// CertbotPublisher returns the publish callback for the certbot source of generation gen.
func (i *Inventory) CertbotPublisher(gen uint64) func(*certbot.Snapshot) {
	return func(s *certbot.Snapshot) { i.set(gen, func(v *View) { v.Certbot = s }) }
}

// View returns the current snapshots.
func (i *Inventory) View() View {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.view
}

// Ready reports whether every source of the current generation has published once.
func (i *Inventory) Ready() bool {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return (i.want.Files == nil || i.view.Files != nil) &&
		(i.want.Targets == nil || i.view.Targets != nil) &&
		(i.want.Certbot == nil || i.view.Certbot != nil)
}
