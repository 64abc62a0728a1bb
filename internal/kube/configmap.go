package kube

// kubernetes.configmaps: the CA bundles of ConfigMaps (trust-manager's Bundle targets,
// kube-root-ca.crt, an application's ca.crt), so that a trust anchor's expiry is seen before the
// clients trusting it fail. Each matching key is one bundle: a chain of CA certificates, each its
// own series by index, as a files: entry's CA bundle file.

import (
	"context"
	"crypto/x509"
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// configMapStatus prefixes the namespace in the source_up name of the ConfigMap watches: they
// need rights of their own (configmaps), and a watch refused them must not take the namespace's
// Secrets down with it.
const configMapStatus = "configmaps/"

// configMapMeta keeps the identity of c, for a deletion or a bookmark.
func configMapMeta(c *corev1.ConfigMap) *objectCerts {
	return &objectCerts{configMap: true, objectID: objectID{c.Namespace, c.Name, c.ResourceVersion}}
}

// parseConfigMap reads the CA bundles of cm's matching data and binaryData keys. A bundle is
// its own trust store: its chain is verified with its own certificates as the roots, so the
// verdict is whether its first certificate is valid now (a private CA's bundle checked against
// the system roots would always be unknown_authority, saying nothing), and its certificates are
// CAs that no rule judges like a leaf.
func (p *parser) parseConfigMap(cm *corev1.ConfigMap) *objectCerts {
	out := configMapMeta(cm)
	values := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.BinaryData {
		if p.matchesConfigMap(k) {
			values[k] = v
		}
	}
	// The API server refuses a key in both; data wins should one ever come.
	for k, v := range cm.Data {
		if p.matchesConfigMap(k) {
			values[k] = []byte(v)
		}
	}
	if len(values) == 0 {
		return out
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	now := p.now()
	labels := p.labels(&cm.ObjectMeta)
	changed := changedAt(&cm.ObjectMeta)
	for _, k := range keys {
		// A trust store holds no secret: a PKCS#12 one is read without a password.
		xs, _ := p.decodeKey(out, k, values[k], "") // a trust store's entries are one bundle
		if len(xs) == 0 {
			continue
		}
		c := certs.Chain{
			Location: certs.Location{Source: certs.SourceKubernetes, Namespace: cm.Namespace, ConfigMap: cm.Name, Key: k},
			Labels:   labels,
			Certs:    make([]certs.Cert, len(xs)),
			Changed:  changed,
		}
		roots := x509.NewCertPool()
		for i, x := range xs {
			c.Certs[i] = certs.New(x)
			roots.AddCert(x)
		}
		c.Verify = certs.Verify(xs, certs.VerifyOptions{Roots: roots, Now: now})
		out.keepUntil(certs.NextBound(now, xs[:1]))
		out.chains = append(out.chains, c)
	}
	return out
}

// matchesConfigMap says whether a ConfigMap key is read: it matches configmaps.keys.
func (p *parser) matchesConfigMap(key string) bool {
	for _, g := range p.cfg.ConfigMaps.Keys {
		if ok, _ := path.Match(g, key); ok {
			return true
		}
	}
	return false
}

// configMaps are the ConfigMaps matching configmaps.label_selector, parsed as they arrive.
type configMaps struct {
	// labels is the label selector (configmaps.label_selector), fields the field selector
	// (the excluded namespaces): the API server sends no other ConfigMap.
	labels, fields string
	client         apiResource
	parser         *parser
}

func (r *configMaps) String() string {
	if r.labels == "" {
		return "ConfigMaps"
	}
	return "ConfigMaps labelled " + r.labels
}

func (r *configMaps) name() string { return "configmaps" }

func (r *configMaps) expected() runtime.Object { return &objectCerts{} }

func (r *configMaps) list(ctx context.Context, namespace string, opts metav1.ListOptions) (runtime.Object, error) {
	opts.LabelSelector, opts.FieldSelector = r.labels, r.fields
	l := &corev1.ConfigMapList{}
	if err := r.client.list(ctx, namespace, opts, l); err != nil {
		return nil, err
	}
	out := &objectCertsList{ListMeta: l.ListMeta, Items: make([]*objectCerts, len(l.Items))}
	for i := range l.Items {
		out.Items[i] = r.parser.parseConfigMap(&l.Items[i])
	}
	return out, nil
}

// watch sees a ConfigMap relabelled out of the selector as deleted: the API server sends a
// DELETED event for an object that stops matching.
func (r *configMaps) watch(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.LabelSelector, opts.FieldSelector = r.labels, r.fields
	return r.client.watch(ctx, namespace, opts)
}

// keep parses an added or modified ConfigMap; a deletion or a bookmark keeps only the name and
// version.
func (r *configMaps) keep(ev watch.Event) runtime.Object {
	c, ok := ev.Object.(*corev1.ConfigMap)
	switch {
	case !ok:
		return ev.Object
	case ev.Type == watch.Added || ev.Type == watch.Modified:
		return r.parser.parseConfigMap(c)
	}
	return configMapMeta(c)
}
