package inventory

import (
	"slices"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// View is the sources' snapshots at one moment with the joins between them. Every view of the
// exporter (metrics, page, check) reads the joins from here, so they cannot disagree. The
// methods of a nil View give each certificate's own values (no joins), as /probe needs.
type View struct {
	// Snapshots are the sources' latest, in registry order.
	Snapshots []*source.Snapshot
	// Drift is the served-vs-disk join.
	Drift []Drift

	renewals map[renewalKey]*source.Renewal
	windows  map[certs.Key]*source.Window
	joined   joined // what Drift was computed from
	// ownerNames are the owner label names of each snapshot's chains (reused while the
	// snapshot is), labelNames their sorted union.
	ownerNames map[*source.Snapshot][]string
	labelNames []string
}

// joined is what the drift join read: the snapshots holding served chains (or Deploys) and
// stored chains (each immutable), the grace, and the index of the stored chains. A publish
// that changes none of them (certbot's, ARI's) reuses the join, one that changes only served
// chains (a probe) reuses the index: at 100k stored chains each costs ~100 ms. Without a
// served chain there is nothing to join and no index (10 MB at 100k files).
type joined struct {
	served, stored []*source.Snapshot
	grace          time.Duration
	idx            *storedIndex
}

// newView joins snaps; prev (may be nil) is the view it replaces, whose drift join is reused
// when its inputs did not change.
func newView(snaps []*source.Snapshot, grace time.Duration, prev *View) *View {
	v := &View{Snapshots: snaps, renewals: map[renewalKey]*source.Renewal{}, windows: map[certs.Key]*source.Window{}}
	for _, s := range snaps {
		hasServed, hasStored := kinds(s.Chains)
		if hasServed || len(s.Deploys) > 0 { // the join reads the Deploys too
			v.joined.served = append(v.joined.served, s)
		}
		if hasStored {
			v.joined.stored = append(v.joined.stored, s)
		}
	}
	v.joined.grace = grace
	sameStored := prev != nil && slices.Equal(prev.joined.stored, v.joined.stored)
	switch {
	case sameStored && slices.Equal(prev.joined.served, v.joined.served) && prev.joined.grace == grace:
		v.joined.idx, v.Drift = prev.joined.idx, prev.Drift
	case len(v.joined.served) > 0:
		if sameStored && prev.joined.idx != nil {
			v.joined.idx = prev.joined.idx
		} else {
			v.joined.idx = indexStored(chainsOf(v.joined.stored, false))
		}
		v.Drift = joinDrift(chainsOf(v.joined.served, true), v.joined.idx, deploysOf(v.joined.served), grace)
	}
	v.ownerNames = make(map[*source.Snapshot][]string, len(snaps))
	for _, s := range snaps {
		names, ok := prev.ownerNamesOf(s)
		if !ok {
			names = ownerLabelNames(s.Chains)
		}
		v.ownerNames[s] = names
		v.labelNames = append(v.labelNames, names...)
		for i := range s.Renewals {
			r := &s.Renewals[i]
			k := renewalKey{r.Client, r.Lineage}
			if _, dup := v.renewals[k]; !dup {
				v.renewals[k] = r
			}
		}
		for i := range s.Windows {
			w := &s.Windows[i]
			if _, dup := v.windows[w.Cert]; !dup && w.Cert.AKI != "" {
				v.windows[w.Cert] = w
			}
		}
	}
	slices.Sort(v.labelNames)
	v.labelNames = slices.Compact(v.labelNames)
	return v
}

// LabelNames are the owner label names (certs.Chain.Labels) of every chain, sorted: the
// labels cert_info carries beyond its own, and the page's filters.
func (v *View) LabelNames() []string {
	if v == nil {
		return nil
	}
	return v.labelNames
}

func (v *View) ownerNamesOf(s *source.Snapshot) ([]string, bool) {
	if v == nil {
		return nil, false
	}
	n, ok := v.ownerNames[s]
	return n, ok
}

// ownerLabelNames lists the distinct owner label names of chains, sorted.
func ownerLabelNames(chains []certs.Chain) []string {
	var names []string
	for i := range chains {
		for _, l := range chains[i].Labels {
			if !slices.Contains(names, l.Name) {
				names = append(names, l.Name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// renewalKey identifies a renewal: two clients on one host may manage the same name.
type renewalKey struct{ client, lineage string }

// Renewal returns the renewal state of the lineage of chains at loc, nil when no source knows
// it. A lineage of stored files (Location.Source "file") is certbot's (the files source names
// only the lineages of certbot's live/), one of a Kubernetes Secret is cert-manager's (the
// Certificate that writes it); an ACME client's own store (lego, caddy) names its chains'
// source after the client.
func (v *View) Renewal(loc certs.Location) *source.Renewal {
	if v == nil || loc.Lineage == "" || loc.Source == certs.SourceProbe {
		return nil
	}
	client := loc.Source
	switch client {
	case certs.SourceFile:
		client = "certbot"
	case certs.SourceKubernetes:
		client = certs.ClientCertManager
	}
	return v.renewals[renewalKey{client, loc.Lineage}]
}

// Window returns the CA's renewal window for c, wherever c was seen (file or probe).
func (v *View) Window(c certs.Cert) (*source.Window, bool) {
	if v == nil || c.AuthorityKeyID == "" {
		return nil, false
	}
	w, ok := v.windows[c.Key()]
	return w, ok
}

// RenewalDue is when c should be renewed: the start of the CA's window when it gave one, else
// NotBefore + 2/3 of the lifetime. Metrics, alerts, the page and check all use it.
func (v *View) RenewalDue(c certs.Cert) time.Time {
	if w, ok := v.Window(c); ok {
		return w.Start
	}
	return c.RenewalDue()
}

// Staging applies the one staging rule (internal/certs/staging.go): a staging issuer, or a
// stored certificate of a lineage that renews against a staging directory.
func (v *View) Staging(c certs.Cert, loc certs.Location) bool {
	if c.Staging {
		return true
	}
	r := v.Renewal(loc)
	return r != nil && certs.IsStagingDirectory(r.Server)
}

// Statuses lists every source's health.
func (v *View) Statuses() []source.Status {
	var out []source.Status
	for _, s := range v.Snapshots {
		out = append(out, s.Status...)
	}
	return out
}

// kinds says whether chains hold served (probed) and stored chains. A probe module's client
// certificate is neither: no server serves it, so it has no deployment to drift from.
func kinds(chains []certs.Chain) (served, stored bool) {
	for i := range chains {
		switch chains[i].Source {
		case certs.SourceProbe:
			served = true
		case certs.SourceClient:
		default:
			stored = true
		}
		if served && stored {
			break
		}
	}
	return served, stored
}

// chainsOf collects the served (or stored) chains of snaps.
func chainsOf(snaps []*source.Snapshot, served bool) []*certs.Chain {
	var out []*certs.Chain
	for _, s := range snaps {
		for i := range s.Chains {
			if c := &s.Chains[i]; c.Source != certs.SourceClient && (c.Source == certs.SourceProbe) == served {
				out = append(out, c)
			}
		}
	}
	return out
}
