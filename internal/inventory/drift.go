package inventory

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Drift is one probed address and one stored chain (a local file, a Kubernetes Secret's key)
// that it is to serve: cert_served_outdated. A target discovered from an Ingress or a Gateway
// is to serve the Secrets they name; any other, the stored chains whose leaves cover the same
// names.
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

// tlsCertKey is the key of a kubernetes.io/tls Secret's certificate (corev1.TLSCertKey;
// not imported for one string).
const tlsCertKey = "tls.crt"

// secretKey names a Secret: namespace and name.
type secretKey struct{ namespace, name string }

// storedIndex holds the stored chains that have a leaf to deploy: by the leaf's name key, and
// the Secrets' tls.crt (what an Ingress controller or a Gateway serves) by Secret.
type storedIndex struct {
	names   map[string][]*certs.Chain
	secrets map[secretKey][]*certs.Chain
}

func indexStored(stored []*certs.Chain) *storedIndex {
	idx := &storedIndex{names: map[string][]*certs.Chain{}, secrets: map[secretKey][]*certs.Chain{}}
	for _, c := range stored {
		// A CA-first chain (a bundle) has no leaf to deploy; nor has a ConfigMap's CA bundle,
		// whatever its first certificate is: a pinned certificate there is trusted, not served.
		if len(c.Certs) == 0 || c.Certs[0].IsCA || c.ConfigMap != "" {
			continue
		}
		if k := nameKey(c.Certs[0]); k != "" {
			idx.names[k] = append(idx.names[k], c)
		}
		if c.Secret != "" && c.Key == tlsCertKey {
			k := secretKey{c.Namespace, c.Secret}
			idx.secrets[k] = append(idx.secrets[k], c)
		}
	}
	return idx
}

// deploysOf maps each target of snaps' Deploys to the Secrets it is to serve.
func deploysOf(snaps []*source.Snapshot) map[string][]secretKey {
	var out map[string][]secretKey
	for _, s := range snaps {
		for _, d := range s.Deploys {
			if out == nil {
				out = map[string][]secretKey{}
			}
			if k := (secretKey{d.Namespace, d.Secret}); !slices.Contains(out[d.Target], k) {
				out[d.Target] = append(out[d.Target], k)
			}
		}
	}
	return out
}

// pairs are the stored chains a served chain is compared with. A target that names its
// Secrets pairs with those of them that are stored: a renewal may change the names, and a
// certificate copied into other namespaces is not this one's. Of several, the one served (if
// any) alone: two Ingresses, or an Ingress and a Gateway, may name one host with two Secrets,
// each served at its own address. A target whose Secrets are none of the stored chains (not
// watched), or that names none, pairs by names.
func (idx *storedIndex) pairs(s *certs.Chain, deploys map[string][]secretKey) []*certs.Chain {
	leaf := s.Certs[0]
	var named []*certs.Chain
	for _, k := range deploys[s.Target] {
		named = append(named, idx.secrets[k]...)
	}
	if len(named) == 0 {
		return idx.names[nameKey(leaf)]
	}
	if i := slices.IndexFunc(named, func(d *certs.Chain) bool { return sameCert(d.Certs[0], leaf) }); i >= 0 {
		return named[i : i+1]
	}
	return named
}

// sameCert says whether a and b are one certificate (issuer's key, serial and NotBefore).
func sameCert(a, b certs.Cert) bool {
	return a.Key() == b.Key() && a.NotBefore.Equal(b.NotBefore)
}

// joinDrift pairs every served chain with the stored chains it is to serve (pairs). Sorted by
// target, ip, stored chain; one pair per (target, ip, stored chain), since a target probed by
// two modules is one endpoint.
func joinDrift(served []*certs.Chain, idx *storedIndex, deploys map[string][]secretKey, grace time.Duration) []Drift {
	if len(served) == 0 || idx == nil {
		return nil
	}
	var out []Drift
	for _, s := range served {
		if len(s.Certs) == 0 {
			continue
		}
		leaf := s.Certs[0]
		for _, d := range idx.pairs(s, deploys) {
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
