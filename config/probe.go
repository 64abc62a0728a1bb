package config

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// DefaultModule is the module used when a target or /probe request names none.
const DefaultModule = "tls"

// Module is a named set of probe settings.
type Module struct {
	Timeout  model.Duration `yaml:"timeout,omitempty"`
	StartTLS string         `yaml:"starttls,omitempty"`
	// TLSConfig is Prometheus' tls_config: ca_file/ca, cert_file/cert, key_file/key,
	// server_name, insecure_skip_verify, min_version, max_version. insecure_skip_verify skips
	// the hostname check (probing by address); the chain is captured and verified either way:
	// a probe never stops at a bad certificate.
	TLSConfig promconfig.TLSConfig `yaml:"tls_config,omitempty"`
	// ProxyURL is an HTTP CONNECT proxy.
	ProxyURL *URL `yaml:"proxy_url,omitempty"`
	// IPProtocol: "" (all addresses), "ip4" or "ip6".
	IPProtocol string `yaml:"ip_protocol,omitempty"`
	// CheckRevocation fetches CRLs from the distribution points (stapled OCSP is always read).
	CheckRevocation *bool `yaml:"check_revocation,omitempty"`
	// Labels are the owner labels of the module's client certificate (tls_config.cert_file):
	// on its cert_info and its alerts, so that they reach whoever renews it. The probes of the
	// module's targets carry their targets' labels.
	Labels Labels `yaml:"labels,omitempty"`
}

// movedModuleKeys are the module keys that became tls_config's, for a clear error.
var movedModuleKeys = map[string]string{
	"ca_file": "tls_config.ca_file", "cert_file": "tls_config.cert_file", "key_file": "tls_config.key_file",
	"server_name": "tls_config.server_name", "insecure_skip_verify": "tls_config.insecure_skip_verify",
	"min_version": "tls_config.min_version",
}

func (m *Module) defaults() {
	if m.Timeout == 0 {
		m.Timeout = model.Duration(10 * time.Second)
	}
	if m.CheckRevocation == nil {
		t := true
		m.CheckRevocation = &t
	}
}

func (m *Module) validate(path string) error {
	if _, ok := defaultPorts[m.StartTLS]; !ok {
		return fieldError(path+".starttls", "unknown protocol %q (one of smtp, imap, pop3, ftp, ldap, postgres, mysql, xmpp)", m.StartTLS)
	}
	switch m.IPProtocol {
	case "", "ip4", "ip6":
	default:
		return fieldError(path+".ip_protocol", "must be ip4, ip6 or empty, not %q", m.IPProtocol)
	}
	if err := validateTLSConfig(path+".tls_config", &m.TLSConfig); err != nil {
		return err
	}
	if err := validateInlineCert(path+".tls_config.cert", m.TLSConfig.Cert); err != nil {
		return err
	}
	if m.ProxyURL != nil && m.ProxyURL.Scheme != "http" {
		return fieldError(path+".proxy_url", "want an http:// CONNECT proxy, got scheme %q", m.ProxyURL.Scheme)
	}
	return m.Labels.validate(path + ".labels")
}

// validateTLSConfig checks the parts of a tls_config that the exporter reads itself
// (internal/tlsfiles) rather than through prometheus/common.
func validateTLSConfig(path string, tc *promconfig.TLSConfig) error {
	for _, ref := range []struct{ name, v string }{{"ca_ref", tc.CARef}, {"cert_ref", tc.CertRef}, {"key_ref", tc.KeyRef}} {
		if ref.v != "" {
			return fieldError(path+"."+ref.name, "secret references are not supported; use the _file or inline form")
		}
	}
	if (tc.CertFile != "") != (tc.KeyFile != "") {
		return fieldError(path+".cert_file", "cert_file and key_file go together (or cert and key, inline)")
	}
	if tc.MaxVersion != 0 && tc.MinVersion > tc.MaxVersion {
		return fieldError(path+".max_version", "must not be lower than min_version")
	}
	return nil
}

// validateInlineCert checks an inline client certificate at load time, as the client source
// exports it: its CERTIFICATE blocks must parse, and there must be one. Other blocks and text
// are skipped, as crypto/tls's X509KeyPair does, except a private key: `cert` is shown on
// /config as it is, so a key pasted there would be published.
func validateInlineCert(path, data string) error {
	if data == "" {
		return nil
	}
	rest, n := []byte(data), 0
	for i := 1; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			return fieldError(path, "PEM block %d is a private key, which /config would show: put it in key", i)
		case b.Type != "CERTIFICATE":
			continue
		}
		n++
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fieldError(path, "certificate %d: %v", n, err)
		}
	}
	if n == 0 {
		return fieldError(path, "no PEM certificate")
	}
	return nil
}

// Target is one endpoint probed in the background.
type Target struct {
	Target     string         `yaml:"target"`
	Module     string         `yaml:"module,omitempty"`
	ServerName string         `yaml:"server_name,omitempty"`
	Interval   model.Duration `yaml:"interval,omitempty"`
	// Labels are the target's owner labels (cert_info, alerts).
	Labels Labels `yaml:"labels,omitempty"`
}

func (t *Target) defaults() {
	if t.Module == "" {
		t.Module = DefaultModule
	}
	if t.Interval == 0 {
		t.Interval = model.Duration(5 * time.Minute)
	}
}

// validate checks t, the entry after earlier in targets:. Series of a background probe are
// keyed by the target as written and the ip (no module or server_name label), so the same
// target twice would export the same series twice (a failed scrape), and two spellings of one
// endpoint would probe it twice: both are errors. Names compare case-insensitively.
func (t *Target) validate(path string, modules map[string]Module, earlier []Target) error {
	m, ok := modules[t.Module]
	if !ok {
		return fieldError(path+".module", "unknown module %q", t.Module)
	}
	endpoint, err := endpointOf(t.Target, m)
	if err != nil {
		return fieldError(path+".target", "%v", err)
	}
	if t.Interval < model.Duration(time.Second) {
		return fieldError(path+".interval", "must be at least 1s")
	}
	for j, e := range earlier {
		// The certificate series of a background probe are keyed by target and ip, so a second
		// entry for the same endpoint (another module or server_name) would collide with the first.
		if other, _ := endpointOf(e.Target, modules[e.Module]); strings.EqualFold(e.Target, t.Target) || strings.EqualFold(other, endpoint) {
			return fieldError(path, "duplicate of targets[%d]: list each host:port once (probe other SNI names through /probe)", j)
		}
	}
	return t.Labels.validate(path + ".labels")
}

// endpointOf is the host:port a target reaches, with the module protocol's default port.
func endpointOf(target string, m Module) (string, error) {
	host, port, err := ParseTarget(target, m.StartTLS)
	return net.JoinHostPort(host, port), err
}

// Probe holds global probe settings.
type Probe struct {
	// AllowedTargets restricts /probe and targets: host patterns ("*.example.com") and CIDRs,
	// checked after DNS resolution. Empty allows everything.
	AllowedTargets []string `yaml:"allowed_targets,omitempty"`
	// Concurrency bounds background probes running at once.
	Concurrency int `yaml:"concurrency,omitempty"`
}

func (p *Probe) defaults() {
	if p.Concurrency == 0 {
		p.Concurrency = 16
	}
}

func (p *Probe) validate(path string) error {
	for i, a := range p.AllowedTargets {
		if a == "" {
			return fieldError(fmt.Sprintf("%s.allowed_targets[%d]", path, i), "empty pattern")
		}
		if strings.Contains(a, "/") {
			if _, _, err := net.ParseCIDR(a); err != nil {
				return fieldError(fmt.Sprintf("%s.allowed_targets[%d]", path, i), "bad CIDR: %v", err)
			}
		}
	}
	if p.Concurrency < 0 {
		return fieldError(path+".concurrency", "must be positive")
	}
	return nil
}
