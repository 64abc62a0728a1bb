package inventory

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// Drift is one probed address and one stored chain (a local file, a Kubernetes Secret's key)
// whose leaves cover the same names: cert_served_outdated.
type Drift struct {
	Target, IP, Path, Lineage string
	// Namespace, Secret and Key name the stored chain when it is a Secret's (Path is then "").
	Namespace, Secret, Key string
	Domain                 string // of the served leaf
	// Since is when the stored chain got its newer certificate (its last change, else the
	// leaf's NotBefore); zero while the endpoint serves the stored certificate or a newer one.
	Since time.Time
	// Outdated: a probe made more than drift.grace_period after Since was still served the
	// older certificate. It depends only on what the probe and the file show, so a restart or
	// a one-shot check comes to the same answer at once.
	Outdated bool
}

// nameKey is a leaf's DNS names, sorted and comma-joined: served and stored leaves pair when
// their keys are equal.
func nameKey(c certs.Cert) string {
	n := c.Names()
	if len(n) == 0 {
		return ""
	}
	n = slices.Clone(n)
	slices.Sort(n)
	return strings.Join(slices.Compact(n), ",")
}

// storedIndex maps a leaf's name key to the stored chains with that leaf.
type storedIndex map[string][]*certs.Chain

func indexStored(stored []*certs.Chain) storedIndex {
	idx := storedIndex{}
	for _, c := range stored {
		// A CA-first chain (a bundle) has no leaf to deploy; nor has a ConfigMap's CA bundle,
		// whatever its first certificate is: a pinned certificate there is trusted, not served.
		if len(c.Certs) == 0 || c.Certs[0].IsCA || c.ConfigMap != "" {
			continue
		}
		if k := nameKey(c.Certs[0]); k != "" {
			idx[k] = append(idx[k], c)
		}
	}
	return idx
}

// joinDrift pairs every served chain with the stored chains whose leaf has the same names.
// Sorted by target, ip, stored chain; one pair per (target, ip, stored chain), since a target probed by two
// modules is one endpoint.
func joinDrift(served []*certs.Chain, idx storedIndex, grace time.Duration) []Drift {
	if len(served) == 0 || len(idx) == 0 {
		return nil
	}
	var out []Drift
	for _, s := range served {
		if len(s.Certs) == 0 {
			continue
		}
		leaf := s.Certs[0]
		for _, d := range idx[nameKey(leaf)] {
			p := Drift{Target: s.Target, IP: s.IP, Path: d.Path, Lineage: d.Lineage, Namespace: d.Namespace, Secret: d.Secret, Key: d.Key, Domain: leaf.Domain}
			if disk := d.Certs[0]; disk.NotBefore.After(leaf.NotBefore) {
				p.Since = d.Changed
				if p.Since.IsZero() {
					p.Since = disk.NotBefore
				}
				p.Outdated = s.Seen.Sub(p.Since) > grace
			}
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Drift) int {
		// Of two probes of one endpoint (two modules), the outdated one is kept.
		return cmp.Or(cmp.Compare(a.Target, b.Target), cmp.Compare(a.IP, b.IP), cmp.Compare(a.Stored(), b.Stored()), -cmpBool(a.Outdated, b.Outdated))
	})
	return slices.CompactFunc(out, func(a, b Drift) bool {
		return a.Target == b.Target && a.IP == b.IP && a.Stored() == b.Stored()
	})
}

// Stored names the stored chain: its path, or its Secret's place (SecretPlace).
func (d *Drift) Stored() string {
	if d.Secret != "" {
		return SecretPlace(d.Namespace, d.Secret, d.Key)
	}
	return d.Path
}

// SecretPlace names a Kubernetes Secret's data key in texts: "Secret <namespace>/<secret> key <key>".
func SecretPlace(namespace, secret, key string) string {
	return "Secret " + namespace + "/" + secret + " key " + key
}

// ConfigMapPlace names a ConfigMap's CA bundle key in texts (kubernetes.configmaps), as
// SecretPlace a Secret's: "ConfigMap <namespace>/<configmap> key <key>".
func ConfigMapPlace(namespace, configMap, key string) string {
	return "ConfigMap " + namespace + "/" + configMap + " key " + key
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
