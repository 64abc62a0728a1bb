package kube

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certmanager"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// reasonTooLarge is a Secret value over max_value_size; with certs.DecodeReason's (parse,
// empty, password) the `reason`s of cert_expiry_exporter_kubernetes_secret_error.
const reasonTooLarge = "too_large"

// caKey is where cert-manager and most tools put the CA of a kubernetes.io/tls Secret: the
// other keys' chains are verified against it, so a private CA is not an unknown authority.
const caKey = "ca.crt"

// maxLiftedValueBytes bounds a lifted label value: annotations are unbounded.
const maxLiftedValueBytes = 128

// objectCerts is what is kept of a Secret (or, with configMap, a ConfigMap): its name, and its
// matching keys' certificates parsed and checked. The object's data is dropped as soon as it
// is parsed (in the list and watch responses, before the reflector sees them), with the managed
// fields (often larger than a bundle), so neither a value nor a private key is held. It is
// immutable once made.
type objectCerts struct {
	objectID
	configMap bool
	chains    []certs.Chain
	errs      []secretError
	// until is the first validity bound (NotBefore, NotAfter) of the certificates its verdicts
	// (Verify) depend on, after the parse; zero when there is none.
	until time.Time
}

// objectID is the part of an object's metadata the reflector and the snapshot read. Not a
// metav1.ObjectMeta: that is 11 words of fields and slices, ~10 MB of a 20k-Secret heap for
// three strings; the reflector gets one, made when it asks (apimeta.Accessor).
type objectID struct {
	Namespace, Name, ResourceVersion string
}

func (o *objectID) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name, ResourceVersion: o.ResourceVersion}
}

// GetObjectKind: the reflector reads no kind from the objects it expects by type.
func (s *objectCerts) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns s: it is never modified.
func (s *objectCerts) DeepCopyObject() runtime.Object { return s }

func (s *objectCerts) verdictsUntil() time.Time { return s.until }

// secretError is a key of a Secret (or a ConfigMap) that holds no usable certificate.
type secretError struct {
	Key, Reason, Message string
}

// parser turns Secrets into objectCerts with the section's settings.
type parser struct {
	cfg      *config.Kubernetes
	password string // of PKCS#12 values, from secrets.pkcs12_password_file
	now      func() time.Time
}

// meta keeps the identity of s, for a deletion or a bookmark (whose data is not looked at).
func meta(s *corev1.Secret) *objectCerts {
	return &objectCerts{objectID: objectID{s.Namespace, s.Name, s.ResourceVersion}}
}

// parse reads the certificates of s's matching keys.
func (p *parser) parse(s *corev1.Secret) *objectCerts {
	out := meta(s)
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		if p.matches(k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return out
	}
	slices.Sort(keys)
	now := p.now()
	labels := p.labels(&s.ObjectMeta)
	changed := changedAt(&s.ObjectMeta)
	var lineage string
	if c := s.Annotations[certmanager.CertificateNameAnnotation]; c != "" && p.cfg.CertManager != nil {
		// Joins the chains to the renewal state of the Certificate that wrote them.
		lineage = s.Namespace + "/" + c
	}
	var roots *x509.CertPool // nil: the system roots
	// ca.crt is the root whether or not it is a matched key (by default it is not: see the
	// default secrets.keys).
	if ca := s.Data[caKey]; len(ca) > 0 && int64(len(ca)) <= p.cfg.MaxValueSize {
		if xs, _ := certs.Decode(ca, p.password); len(xs) > 0 {
			roots = x509.NewCertPool()
			for _, c := range xs {
				roots.AddCert(c)
			}
		}
	}
	for _, k := range keys {
		xs, ks := p.decodeKey(out, k, s.Data[k], p.password)
		for _, sp := range valueSpans(len(xs), ks) {
			// A Java keystore's private key entry is "<k>/<alias>": a data key cannot hold "/",
			// so it never collides with another key.
			key := k
			if sp.Keyed {
				key = k + "/" + ks.Aliases[sp.Start]
			}
			c := certs.Chain{
				Location: certs.Location{Source: certs.SourceKubernetes, Lineage: lineage, Namespace: s.Namespace, Secret: s.Name, Key: key},
				Labels:   labels,
				Certs:    make([]certs.Cert, sp.End-sp.Start),
				Changed:  changed,
			}
			xc := xs[sp.Start:sp.End]
			for i, x := range xc {
				c.Certs[i] = certs.New(x)
				if ks.Aliases != nil {
					c.Certs[i].Alias = ks.Aliases[sp.Start+i]
				}
			}
			var path []*x509.Certificate
			c.Verify, path = certs.VerifyPath(xc, certs.VerifyOptions{Roots: roots, Now: now})
			out.keepUntil(certs.NextBound(now, xc, path))
			out.chains = append(out.chains, c)
		}
	}
	return out
}

// valueSpans are the chains of a value's n certificates: all of them, or, for a Java keystore,
// each private key entry's (its leaf first, so that every entry's leaf is index 0 and pages)
// and then its trusted entries'.
func valueSpans(n int, ks certs.Keystore) []certs.Span {
	switch {
	case n == 0:
		return nil
	case ks.Aliases == nil:
		return []certs.Span{{Start: 0, End: n}}
	}
	return certs.Spans(ks.Chains(), ks.Keyed, n)
}

// decodeKey reads the certificates of the value v of key k, recording in out why it holds none
// (too large, not a certificate); a private key under a matching name is neither.
func (p *parser) decodeKey(out *objectCerts, k string, v []byte, password string) ([]*x509.Certificate, certs.Keystore) {
	if int64(len(v)) > p.cfg.MaxValueSize {
		out.errs = append(out.errs, secretError{k, reasonTooLarge, fmt.Sprintf("%d bytes, more than max_value_size %d", len(v), p.cfg.MaxValueSize)})
		return nil, certs.Keystore{}
	}
	xs, ks, err := certs.DecodeAliases(v, password)
	if errors.Is(err, certs.ErrKeyOnly) {
		return nil, certs.Keystore{}
	}
	if err != nil {
		out.errs = append(out.errs, secretError{k, certs.DecodeReason(err), err.Error()})
	}
	return xs, ks
}

// keepUntil lowers the object's verdict bound to b, when b is set and earlier.
func (s *objectCerts) keepUntil(b time.Time) {
	if !b.IsZero() && (s.until.IsZero() || b.Before(s.until)) {
		s.until = b
	}
}

// matches says whether a data key is read: it matches a configured pattern and is not the
// private key (config rejects patterns that match tls.key; this also keeps out its variants).
func (p *parser) matches(key string) bool {
	if key == corev1.TLSPrivateKeyKey || strings.HasSuffix(key, ".key") {
		return false
	}
	for _, g := range p.cfg.Secrets.Keys {
		if ok, _ := path.Match(g, key); ok {
			return true
		}
	}
	return false
}

// labels are the owner labels of the certificates of object s (a Secret, a ConfigMap): the
// static ones and those lifted from its labels and annotations (left out when s has none of
// that name).
func (p *parser) labels(s *metav1.ObjectMeta) certs.Labels {
	m := make(map[string]string, len(p.cfg.Labels)+len(p.cfg.LiftLabels)+len(p.cfg.LiftAnnotations))
	for n, v := range p.cfg.Labels {
		m[n] = v
	}
	for _, l := range []struct {
		lift, from map[string]string
	}{{p.cfg.LiftLabels, s.Labels}, {p.cfg.LiftAnnotations, s.Annotations}} {
		for n, k := range l.lift {
			if v := truncate(l.from[k], maxLiftedValueBytes); v != "" {
				m[n] = v
			}
		}
	}
	return certs.NewLabels(m)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// changedAt is when the object (a Secret, a ConfigMap) was last written: the latest of its
// managed fields' times (what the API server records per writer), else its creation.
func changedAt(s *metav1.ObjectMeta) time.Time {
	t := s.CreationTimestamp.Time
	for _, f := range s.ManagedFields {
		if f.Time != nil && f.Time.After(t) {
			t = f.Time.Time
		}
	}
	return t
}
