package config

import (
	"fmt"
	"maps"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Kubernetes is the `kubernetes:` section: the TLS Secrets of a cluster, read through the API
// server with LIST+WATCH. A bare `kubernetes:` reads the kubernetes.io/tls Secrets of every
// namespace with the pod's service account.
type Kubernetes struct {
	// Kubeconfig is a kubeconfig file (its current context); empty: the in-cluster service
	// account.
	Kubeconfig string         `yaml:"kubeconfig,omitempty"`
	Namespaces KubeNamespaces `yaml:"namespaces,omitempty"`
	Secrets    KubeSecrets    `yaml:"secrets,omitempty"`
	// MaxValueSize caps one Secret (or ConfigMap) value (bytes); a larger one is reported, not
	// parsed.
	MaxValueSize int64 `yaml:"max_value_size,omitempty"`
	// LiftLabels and LiftAnnotations map an owner label name to the name of an object label
	// (or annotation) whose value it takes on cert_info, so that alerts route by what the
	// teams already write on their Secrets.
	LiftLabels      map[string]string `yaml:"lift_labels,omitempty"`
	LiftAnnotations map[string]string `yaml:"lift_annotations,omitempty"`
	// Labels are static owner labels on every certificate of the section.
	Labels Labels `yaml:"labels,omitempty"`
	// CertManager also follows cert-manager's Certificates in the same namespaces; nil when
	// the key is absent (it needs rights on cert-manager's resources).
	CertManager *KubeCertManager `yaml:"cert_manager,omitempty"`
	// Ingresses probes the TLS hosts of the Ingresses in the same namespaces; nil when the key
	// is absent (it needs rights on ingresses and dials the ingress controllers).
	Ingresses *KubeIngresses `yaml:"ingresses,omitempty"`
	// Gateways probes the TLS listeners of the Gateway API Gateways in the same namespaces;
	// nil when the key is absent (it needs rights on gateways and dials the gateways).
	Gateways *KubeGateways `yaml:"gateways,omitempty"`
	// ConfigMaps also reads the CA bundles of the ConfigMaps in the same namespaces; nil when
	// the key is absent (it needs rights on configmaps).
	ConfigMaps *KubeConfigMaps `yaml:"configmaps,omitempty"`
}

// KubeConfigMaps is `kubernetes.configmaps:`: ConfigMaps holding CA bundles (trust-manager's
// Bundles, kube-root-ca.crt, an application's ca.crt), so that a trust anchor's expiry is seen
// before the clients that trust it fail. Every matching key is one bundle of CA certificates.
type KubeConfigMaps struct {
	// Keys are glob patterns of the data and binaryData keys read as certificates (PEM, DER,
	// a PKCS#12 trust store without a password).
	Keys []string `yaml:"keys,omitempty"`
	// LabelSelector keeps the ConfigMaps whose labels match, on the server: the others are
	// never sent.
	LabelSelector string `yaml:"label_selector,omitempty"`
}

// KubeIngresses is `kubernetes.ingresses:`: each `spec.tls` host of the section's Ingresses is
// a background probe target, dialled from where the exporter runs (inside the cluster), so
// that a controller still serving the certificate a Secret held before its renewal is
// cert_served_outdated, as for a configured target and a file.
type KubeIngresses struct {
	// Module is the probe module (default tls); it must speak TLS at once (no starttls) and
	// dial the address itself (no proxy_url).
	Module string `yaml:"module,omitempty"`
	// Address is dialled for every host, e.g. an ingress controller's Service
	// ("ingress-nginx-controller.ingress-nginx.svc:443"); empty: each Ingress's
	// status.loadBalancer.ingress addresses (ip, else hostname).
	Address string `yaml:"address,omitempty"`
	// Port is the port of the status addresses, and of Address when it names none (443).
	Port int `yaml:"port,omitempty"`
	// Interval is each host's probe interval (5m, as targets:).
	Interval model.Duration `yaml:"interval,omitempty"`
}

func (i *KubeIngresses) defaults() {
	discoveredDefaults(&i.Module, &i.Interval)
	if i.Port == 0 {
		i.Port = 443
	}
}

// validate checks the section against the probe modules.
func (i *KubeIngresses) validate(p string, modules map[string]Module) error {
	if i.Port < 1 || i.Port > 65535 {
		return fieldError(p+".port", "must be between 1 and 65535")
	}
	return validateDiscovered(p, i.Module, i.Address, i.Interval, modules, "an Ingress", "the ingress controller's")
}

// KubeGateways is `kubernetes.gateways:`: each TLS listener (protocol HTTPS or TLS, TLS
// terminated by the Gateway) with a hostname of the section's Gateway API Gateways
// (gateways.gateway.networking.k8s.io) is a background probe target, as an Ingress's host
// is for kubernetes.ingresses.
type KubeGateways struct {
	// Module is the probe module (default tls), as for kubernetes.ingresses.
	Module string `yaml:"module,omitempty"`
	// Address is dialled for every listener, e.g. the gateway's Service
	// ("envoy-default-web.envoy-gateway-system.svc"), at the listener's port unless it names
	// one; empty: each Gateway's status.addresses, at the listener's port.
	Address string `yaml:"address,omitempty"`
	// Interval is each listener's probe interval (5m, as targets:).
	Interval model.Duration `yaml:"interval,omitempty"`
}

func (g *KubeGateways) defaults() { discoveredDefaults(&g.Module, &g.Interval) }

func (g *KubeGateways) validate(p string, modules map[string]Module) error {
	return validateDiscovered(p, g.Module, g.Address, g.Interval, modules, "a Gateway", "the gateway's")
}

// GatewayAddress is the address dialled for a listener on port (host:port, the port Address
// names, else the listener's), or "" when the Gateways' status addresses are.
func (g *KubeGateways) GatewayAddress(port int) string { return dialAddress(g.Address, port) }

// discoveredDefaults are the defaults of a section whose targets a source discovers.
func discoveredDefaults(module *string, interval *model.Duration) {
	if *module == "" {
		*module = DefaultModule
	}
	if *interval == 0 {
		*interval = model.Duration(5 * time.Minute)
	}
}

// validateDiscovered checks the module, address and interval of a section whose targets a
// source discovers and dials at a server of its own (server: who serves TLS, dialled: whose
// addresses).
func validateDiscovered(p, module, address string, interval model.Duration, modules map[string]Module, server, dialled string) error {
	if err := validateDialModule(p+".module", module, modules, server, dialled); err != nil {
		return err
	}
	if interval < model.Duration(time.Second) {
		return fieldError(p+".interval", "must be at least 1s")
	}
	if address != "" {
		if _, _, err := ParseTarget(address, ""); err != nil {
			return fieldError(p+".address", "%v", err)
		}
	}
	return nil
}

// validateDialModule checks the module of targets a source discovers and dials at a server
// of its own (server: who serves TLS, dialled: whose addresses): the handshake must start at
// once, and a proxy would dial the name's own addresses instead.
func validateDialModule(path, name string, modules map[string]Module, server, dialled string) error {
	m, ok := modules[name]
	switch {
	case !ok:
		return fieldError(path, "unknown module %q", name)
	case m.StartTLS != "":
		return fieldError(path, "module %q uses starttls %s; %s serves TLS at once", name, m.StartTLS, server)
	case m.ProxyURL != nil:
		return fieldError(path, "module %q uses proxy_url, which dials the host's own addresses, not %s", name, dialled)
	}
	return nil
}

// IngressAddress is the address dialled for every host (host:port, the port defaulted to
// Port), or "" when the Ingresses' status addresses are.
func (i *KubeIngresses) IngressAddress() string { return dialAddress(i.Address, i.Port) }

// dialAddress is a validated address as host:port, port when it names none; "" for "".
func dialAddress(address string, port int) string {
	if address == "" {
		return ""
	}
	host, p, _ := ParseTarget(address, "") // validated
	if _, _, err := net.SplitHostPort(address); err != nil {
		p = strconv.Itoa(port) // none given
	}
	return net.JoinHostPort(host, p)
}

// KubeCertManager is `kubernetes.cert_manager:`: the renewal state of cert-manager's
// Certificates (certificates.cert-manager.io), as cert_renewal_failure.
type KubeCertManager struct {
	// ACME also reads the ACME Orders and Challenges (acme.cert-manager.io) of the
	// Certificates' namespaces: a failed ACME validation reaches a Certificate only as `order
	// is in "invalid" state`, its cause is on them. Default true; false for clusters without
	// ACME issuers, which then need no rights on those resources.
	ACME *bool `yaml:"acme,omitempty"`
}

// KubeNamespaces selects the namespaces whose Secrets are read.
type KubeNamespaces struct {
	// Include names namespaces, each watched alone (a Role in each is enough); empty: all,
	// with one cluster-wide watch.
	Include []string `yaml:"include,omitempty"`
	// Exclude leaves namespaces out on the server (a field selector), so their Secrets are
	// never sent.
	Exclude []string `yaml:"exclude,omitempty"`
	// LabelSelector keeps the namespaces whose labels match (and, with Include, are listed):
	// the source watches the namespaces and runs each matching one's watches alone, as for
	// Include, while it matches.
	LabelSelector string `yaml:"label_selector,omitempty"`
}

// KubeSecrets selects the Secrets (by type, on the server) and their keys.
type KubeSecrets struct {
	// Types are Secret types, each a server-side field selector: the API server never sends
	// the Secrets of other types (helm releases, tokens).
	Types []string `yaml:"types,omitempty"`
	// Keys are glob patterns of the data keys parsed as certificates (PEM, DER, PKCS#12).
	Keys []string `yaml:"keys,omitempty"`
	// PKCS12PasswordFile holds the password of PKCS#12 values.
	PKCS12PasswordFile string `yaml:"pkcs12_password_file,omitempty"`
}

// Bounds of the kubernetes: section.
const (
	// maxKubeValueSize is the API server's own limit on a whole Secret.
	maxKubeValueSize = 1 << 20
	// maxLifted bounds the lifted labels and annotations together: each is a cert_info label.
	maxLifted = 8
	// privateKeyName is the data key of a kubernetes.io/tls Secret's private key, which is
	// never read.
	privateKeyName = "tls.key"
)

func (k *Kubernetes) defaults() {
	if len(k.Secrets.Types) == 0 {
		k.Secrets.Types = []string{"kubernetes.io/tls"}
	}
	if len(k.Secrets.Keys) == 0 {
		// Not ca.crt: cert-manager writes the issuer's CA into every Secret it makes, and each
		// copy would be a chain of its own series. It is the verification root of the Secret's
		// other keys whether or not it is listed here.
		k.Secrets.Keys = []string{"tls.crt"}
	}
	if k.MaxValueSize == 0 {
		k.MaxValueSize = 256 << 10
	}
	if cm := k.CertManager; cm != nil && cm.ACME == nil {
		cm.ACME = new(true)
	}
	if k.Ingresses != nil {
		k.Ingresses.defaults()
	}
	if k.Gateways != nil {
		k.Gateways.defaults()
	}
	if cm := k.ConfigMaps; cm != nil && len(cm.Keys) == 0 {
		// What trust-manager, cert-manager's CA injectors and kube-root-ca.crt name their
		// bundles (ca.crt, trust-bundle.pem); the ConfigMap's other keys are configuration.
		cm.Keys = []string{"*.crt", "*.pem"}
	}
}

func (k *Kubernetes) validate(p string) error {
	ns := p + ".namespaces"
	for _, l := range []struct {
		field string
		names []string
	}{{"include", k.Namespaces.Include}, {"exclude", k.Namespaces.Exclude}} {
		for i, n := range l.names {
			if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
				return fieldError(fmt.Sprintf("%s.%s[%d]", ns, l.field, i), "%q is not a namespace name: %s", n, strings.Join(errs, "; "))
			}
			if slices.Index(l.names, n) < i {
				return fieldError(fmt.Sprintf("%s.%s[%d]", ns, l.field, i), "%q listed twice", n)
			}
			if l.field == "exclude" && slices.Contains(k.Namespaces.Include, n) {
				return fieldError(fmt.Sprintf("%s.%s[%d]", ns, l.field, i), "%q is also included", n)
			}
		}
	}
	if k.Namespaces.LabelSelector != "" {
		if _, err := labels.Parse(k.Namespaces.LabelSelector); err != nil {
			return fieldError(ns+".label_selector", "%v", err)
		}
	}
	for i, t := range k.Secrets.Types {
		if errs := validation.IsQualifiedName(t); len(errs) > 0 {
			return fieldError(fmt.Sprintf("%s.secrets.types[%d]", p, i), "%q is not a Secret type: %s", t, strings.Join(errs, "; "))
		}
		if slices.Index(k.Secrets.Types, t) < i {
			return fieldError(fmt.Sprintf("%s.secrets.types[%d]", p, i), "%q listed twice", t)
		}
	}
	for i, g := range k.Secrets.Keys {
		f := fmt.Sprintf("%s.secrets.keys[%d]", p, i)
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return fieldError(f, "bad glob %q", g)
		}
		if ok, _ := path.Match(g, privateKeyName); ok {
			return fieldError(f, "%q matches %s, the private key, which is never read; name the certificate keys", g, privateKeyName)
		}
	}
	if cm := k.ConfigMaps; cm != nil {
		for i, g := range cm.Keys {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				return fieldError(fmt.Sprintf("%s.configmaps.keys[%d]", p, i), "bad glob %q", g)
			}
		}
		if cm.LabelSelector != "" {
			if _, err := labels.Parse(cm.LabelSelector); err != nil {
				return fieldError(p+".configmaps.label_selector", "%v", err)
			}
		}
	}
	if k.MaxValueSize < 0 || k.MaxValueSize > maxKubeValueSize {
		return fieldError(p+".max_value_size", "must be between 1 and %d (the API server's limit on a Secret)", maxKubeValueSize)
	}
	if err := k.Labels.validate(p + ".labels"); err != nil {
		return err
	}
	if n := len(k.LiftLabels) + len(k.LiftAnnotations); n > maxLifted {
		return fieldError(p, "%d lifted labels and annotations, at most %d", n, maxLifted)
	}
	for _, l := range []struct {
		field, what string
		lift        map[string]string
	}{{"lift_labels", "label", k.LiftLabels}, {"lift_annotations", "annotation", k.LiftAnnotations}} {
		for _, n := range slices.Sorted(maps.Keys(l.lift)) {
			f := p + "." + l.field + "." + n
			if err := checkLabelName(f, n); err != nil {
				return err
			}
			if _, ok := k.Labels[n]; ok {
				return fieldError(f, "also a static label in %s.labels", p)
			}
			if _, ok := k.LiftAnnotations[n]; ok && l.field == "lift_labels" {
				return fieldError(f, "also lifted from an annotation in %s.lift_annotations", p)
			}
			if errs := validation.IsQualifiedName(l.lift[n]); len(errs) > 0 {
				return fieldError(f, "%q is not an object %s name: %s", l.lift[n], l.what, strings.Join(errs, "; "))
			}
		}
	}
	return nil
}

// ownerLabels are the section's owner labels on cert_info, static and lifted, for counting
// their names (the lifted ones' values are the object keys they come from).
func (k *Kubernetes) ownerLabels() Labels {
	out := maps.Clone(k.Labels)
	if out == nil {
		out = Labels{}
	}
	for n, v := range k.LiftLabels {
		out[n] = v
	}
	for n, v := range k.LiftAnnotations {
		out[n] = v
	}
	return out
}
