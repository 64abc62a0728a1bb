// Package inventory holds the latest snapshot of every source, for the views to render.
package inventory

import (
	"sync"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/ari"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certbot"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/health"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/targets"
)

// Kind names a source.
type Kind string

// The sources.
const (
	Files   Kind = "files"
	Targets Kind = "targets"
	Certbot Kind = "certbot"
	ARI     Kind = "ari"
)

// View is a consistent set of snapshots; nil means the source is not configured or has not
// published yet. Snapshots are immutable, so a View can be read without locks.
type View struct {
	Files   *files.Snapshot
	Targets *targets.Snapshot
	Certbot *certbot.Snapshot
	ARI     *ari.Snapshot
	// Drift is derived from Files and Targets when either publishes (served-vs-disk join).
	Drift []Drift
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
	if v.ARI != nil {
		out = append(out, v.ARI.Status...)
	}
	return out
}

// Inventory is written by the sources and read by scrapes.
type Inventory struct {
	mu      sync.RWMutex
	view    View
	gen     map[Kind]uint64
	pending map[Kind]bool // started but not yet published
	drift   driftTracker
}

// New returns an empty inventory.
func New() *Inventory {
	return &Inventory{gen: map[Kind]uint64{}, pending: map[Kind]bool{}}
}

// Restart is called when a source is (re)started with a new config, or stopped (running false).
// Publishes of the source's earlier generations are dropped from then on. A restarted source's
// last snapshot stays visible until the new one publishes, so a reload leaves no gap in the
// series; a stopped source's snapshot is removed.
func (i *Inventory) Restart(k Kind, running bool) uint64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.gen[k]++
	// Readiness waits only for a source's first snapshot, so a reload does not flip /-/ready.
	i.pending[k] = running && !i.presentLocked(k)
	if !running {
		i.setLocked(k, nil)
	}
	return i.gen[k]
}

func (i *Inventory) presentLocked(k Kind) bool {
	switch k {
	case Files:
		return i.view.Files != nil
	case Targets:
		return i.view.Targets != nil
	case Certbot:
		return i.view.Certbot != nil
	case ARI:
		return i.view.ARI != nil
	}
	return false
}

func (i *Inventory) setLocked(k Kind, s any) {
	switch k {
	case Files:
		i.view.Files, _ = s.(*files.Snapshot)
	case Targets:
		i.view.Targets, _ = s.(*targets.Snapshot)
	case Certbot:
		i.view.Certbot, _ = s.(*certbot.Snapshot)
	case ARI:
		i.view.ARI, _ = s.(*ari.Snapshot)
	}
	if k == Files || k == Targets {
		i.deriveDriftLocked()
	}
}

func (i *Inventory) publish(k Kind, gen uint64, s any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if gen == i.gen[k] {
		i.setLocked(k, s)
		i.pending[k] = false
	}
}

// FilesPublisher returns the publish callback for the files source of generation gen.
func (i *Inventory) FilesPublisher(gen uint64) func(*files.Snapshot) {
	return func(s *files.Snapshot) { i.publish(Files, gen, s) }
}

// TargetsPublisher returns the publish callback for the background probes of generation gen.
func (i *Inventory) TargetsPublisher(gen uint64) func(*targets.Snapshot) {
	return func(s *targets.Snapshot) { i.publish(Targets, gen, s) }
}

// CertbotPublisher returns the publish callback for the certbot source of generation gen.
func (i *Inventory) CertbotPublisher(gen uint64) func(*certbot.Snapshot) {
	return func(s *certbot.Snapshot) { i.publish(Certbot, gen, s) }
}

// ARIPublisher returns the publish callback for the ARI source of generation gen.
func (i *Inventory) ARIPublisher(gen uint64) func(*ari.Snapshot) {
	return func(s *ari.Snapshot) { i.publish(ARI, gen, s) }
}

// SetDrift configures the served-vs-disk join: drift.grace_period, and the clock that dates
// "first seen different". Until it is called no drift is derived.
func (i *Inventory) SetDrift(grace time.Duration, now func() time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.drift.grace, i.drift.now = grace, now
	i.deriveDriftLocked()
}

func (i *Inventory) deriveDriftLocked() {
	var served []certs.Chain
	if i.view.Targets != nil {
		served = i.view.Targets.Chains()
	}
	i.view.Drift = i.drift.update(served, i.view.Files)
}

// View returns the current snapshots.
func (i *Inventory) View() View {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.view
}

// Ready reports whether every running source has published its first snapshot.
func (i *Inventory) Ready() bool {
	i.mu.RLock()
	defer i.mu.RUnlock()
	for _, p := range i.pending {
		if p {
			return false
		}
	}
	return true
}
