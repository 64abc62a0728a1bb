// Package inventory holds the latest snapshot of every source, joins them (served vs disk,
// staging, the renewal point, lineage ↔ certificates) and judges each certificate the way the
// alert rules do, for /metrics, /certificates and `check` alike. It knows the snapshots'
// shape (internal/source), never which source made one.
package inventory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Store is written by the sources and read by scrapes.
type Store struct {
	mu      sync.RWMutex
	order   []string // source names, in registry order
	snaps   map[string]*source.Snapshot
	gen     map[string]uint64
	pending map[string]bool // started but not yet published
	grace   time.Duration   // drift.grace_period
	view    *View           // rebuilt on every publish: scrapes only read it
	changed chan struct{}   // closed (and replaced) on every publish
}

// New returns an empty store for the sources named, in the order their series are written.
func New(names ...string) *Store {
	s := &Store{order: names, snaps: map[string]*source.Snapshot{}, gen: map[string]uint64{}, pending: map[string]bool{}, changed: make(chan struct{})}
	s.view = s.derive()
	return s
}

// Restart is called when a source is (re)started with a new config, or stopped (running
// false). It returns the publish function of the new generation: publishes of earlier
// generations are dropped from then on. A restarted source's last snapshot stays visible until
// the new one publishes, so a reload leaves no gap in the series; a stopped source's snapshot
// is removed.
func (s *Store) Restart(name string, running bool) func(*source.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen[name]++
	gen := s.gen[name]
	// Readiness waits only for a source's first snapshot, so a reload does not flip /-/ready.
	s.pending[name] = running && s.snaps[name] == nil
	if !running {
		if s.snaps[name] != nil {
			delete(s.snaps, name)
			s.view = s.derive()
		}
		s.broadcast() // a source waited for has stopped
	}
	return func(snap *source.Snapshot) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if gen != s.gen[name] {
			return
		}
		s.snaps[name], s.pending[name] = snap, false
		s.view = s.derive()
		s.broadcast()
	}
}

// broadcast wakes WaitFor; called with the lock held.
func (s *Store) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitFor waits until each source named has a snapshot or is stopped, or ctx ends (false).
func (s *Store) WaitFor(ctx context.Context, names []string) bool {
	for {
		s.mu.RLock()
		missing := slices.ContainsFunc(names, func(n string) bool { return s.snaps[n] == nil && s.pending[n] })
		changed := s.changed
		s.mu.RUnlock()
		if !missing {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// Snapshot returns the latest snapshot of one source (nil when it has none).
func (s *Store) Snapshot(name string) *source.Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snaps[name]
}

// Others returns the latest snapshots of every source but name, for derived sources.
func (s *Store) Others(name string) func() []*source.Snapshot {
	return func() []*source.Snapshot {
		s.mu.RLock()
		defer s.mu.RUnlock()
		var out []*source.Snapshot
		for _, n := range s.order {
			if snap := s.snaps[n]; snap != nil && n != name {
				out = append(out, snap)
			}
		}
		return out
	}
}

// SetGrace sets drift.grace_period, how long a served certificate may lag the disk.
func (s *Store) SetGrace(grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if grace != s.grace {
		s.grace = grace
		s.view = s.derive()
	}
}

// View returns the current joined state; it is immutable, so it can be read without locks.
func (s *Store) View() *View {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.view
}

// Pending lists, in registry order, the running sources that have not published their first
// snapshot yet: the exporter is ready when there are none.
func (s *Store) Pending() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for _, n := range s.order {
		if s.pending[n] {
			out = append(out, n)
		}
	}
	return out
}

func (s *Store) derive() *View {
	var snaps []*source.Snapshot
	for _, n := range s.order {
		if snap := s.snaps[n]; snap != nil {
			snaps = append(snaps, snap)
		}
	}
	return newView(snaps, s.grace, s.view)
}
