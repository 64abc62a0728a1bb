package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// DefaultModule is the module used when a target or /probe request names none.
const DefaultModule = "tls"

// Module is a named set of probe settings.
type Module struct {
	Timeout    model.Duration `yaml:"timeout,omitempty"`
	ServerName string         `yaml:"server_name,omitempty"`
	StartTLS   string         `yaml:"starttls,omitempty"`
	CAFile     string         `yaml:"ca_file,omitempty"`
	CertFile   string         `yaml:"cert_file,omitempty"`
	KeyFile    string         `yaml:"key_file,omitempty"`
	// InsecureSkipVerify skips the hostname check (probing by address). The chain is always
	// captured and verified either way: a probe never stops at a bad certificate.
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
	ProxyURL           string `yaml:"proxy_url,omitempty"`
	MinVersion         string `yaml:"min_version,omitempty"`
	// IPProtocol: "" (all addresses), "ip4" or "ip6".
	IPProtocol string `yaml:"ip_protocol,omitempty"`
	// CheckRevocation fetches CRLs from the distribution points (stapled OCSP is always read).
	CheckRevocation *bool `yaml:"check_revocation,omitempty"`
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
	switch m.MinVersion {
	case "", "TLS10", "TLS11", "TLS12", "TLS13":
	default:
		return fieldError(path+".min_version", "unknown version %q (one of TLS10, TLS11, TLS12, TLS13)", m.MinVersion)
	}
	switch m.IPProtocol {
	case "", "ip4", "ip6":
	default:
		return fieldError(path+".ip_protocol", "must be ip4, ip6 or empty, not %q", m.IPProtocol)
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		return fieldError(path+".cert_file", "cert_file and key_file go together")
	}
	return nil
}

// redact hides the proxy password (http://user:password@proxy:3128).
func (m *Module) redact() {
	if u, err := url.Parse(m.ProxyURL); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
			m.ProxyURL = u.String()
		}
	}
}

// Target is one endpoint probed in the background.
type Target struct {
	Target     string         `yaml:"target"`
	Module     string         `yaml:"module,omitempty"`
	ServerName string         `yaml:"server_name,omitempty"`
	Interval   model.Duration `yaml:"interval,omitempty"`
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
	return nil
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
