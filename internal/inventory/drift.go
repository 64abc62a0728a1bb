package inventory

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
)

// Drift is one probed address and one local file whose leaves cover the same names.
type Drift struct {
	Target, IP, Path, Lineage string
	Domain                    string // of the served leaf
	// Since is when the disk was first seen holding a newer certificate than the one served;
	// zero while the endpoint serves the disk's certificate or a newer one.
	Since time.Time
	// OutdatedAt is Since + drift.grace_period: from then on the endpoint is outdated.
	OutdatedAt time.Time
}

// Outdated reports whether the endpoint has served an older certificate than the disk holds
// for longer than the grace period.
func (d Drift) Outdated(now time.Time) bool { return !d.OutdatedAt.IsZero() && now.After(d.OutdatedAt) }

// drift pairs a served chain with a local file covering the same names. newer is true when
// the file's leaf was issued later than the served leaf (a renewal not deployed yet).
type driftPair struct {
	target, ip, path, lineage, domain string
	newer                             bool
}

// diskIndex maps a name set (sorted, comma-joined) to the local files whose leaf covers
// exactly those names. It is rebuilt only when the files snapshot changes.
type diskIndex map[string][]*certs.Chain

func nameKey(c certs.Cert) string {
	n := c.Names()
	if len(n) == 0 {
		return ""
	}
	n = slices.Clone(n)
	sort.Strings(n)
	return strings.Join(slices.Compact(n), ",")
}

func indexDisk(chains []certs.Chain) diskIndex {
	idx := diskIndex{}
	for i := range chains {
		c := &chains[i]
		if c.Source != certs.SourceFile || len(c.Certs) == 0 || c.Certs[0].IsCA {
			continue
		}
		if k := nameKey(c.Certs[0]); k != "" {
			idx[k] = append(idx[k], c)
		}
	}
	return idx
}

// joinDrift is the served-vs-disk join: every (served address, local file) whose leaves have
// the same names. Pure; sorted by target, ip, path.
func joinDrift(served []certs.Chain, idx diskIndex) []driftPair {
	var out []driftPair
	for i := range served {
		s := &served[i]
		if len(s.Certs) == 0 {
			continue
		}
		leaf := s.Certs[0]
		for _, d := range idx[nameKey(leaf)] {
			out = append(out, driftPair{
				target: s.Target, ip: s.IP, path: d.Path, lineage: d.Lineage, domain: leaf.Domain,
				newer: d.Certs[0].NotBefore.After(leaf.NotBefore),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.target != b.target {
			return a.target < b.target
		}
		if a.ip != b.ip {
			return a.ip < b.ip
		}
		return a.path < b.path
	})
	// One series per (target, ip, path): a target probed twice (two modules) is one endpoint.
	return slices.CompactFunc(out, func(a, b driftPair) bool {
		return a.target == b.target && a.ip == b.ip && a.path == b.path
	})
}

type driftKey struct{ target, ip, path string }

// driftTracker keeps the "first seen different" times between snapshots; it is fed by the
// files and targets publishes, never by a scrape.
type driftTracker struct {
	grace time.Duration
	now   func() time.Time // nil until configured: no drift is computed

	indexed *files.Snapshot // the snapshot idx was built from
	idx     diskIndex
	since   map[driftKey]time.Time
}

// update recomputes the join of the served chains and the local files and returns the pairs
// with their times. A pair that stops differing, or disappears, starts afresh.
func (t *driftTracker) update(served []certs.Chain, disk *files.Snapshot) []Drift {
	if t.now == nil || disk == nil || len(served) == 0 {
		t.since = nil
		return nil
	}
	if disk != t.indexed {
		t.idx, t.indexed = indexDisk(disk.Chains), disk
	}
	now := t.now()
	since := make(map[driftKey]time.Time, len(t.since))
	var out []Drift
	for _, p := range joinDrift(served, t.idx) {
		d := Drift{Target: p.target, IP: p.ip, Path: p.path, Lineage: p.lineage, Domain: p.domain}
		if p.newer {
			k := driftKey{p.target, p.ip, p.path}
			s, ok := t.since[k]
			if !ok {
				s = now
			}
			since[k] = s
			d.Since, d.OutdatedAt = s, s.Add(t.grace)
		}
		out = append(out, d)
	}
	t.since = since
	return out
}
