package config

import (
	"net"
	"path/filepath"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// DefaultCaddyStorage is Caddy's data directory as the Debian and upstream systemd units run
// it (user caddy, HOME=/var/lib/caddy): it holds certificates/.
const DefaultCaddyStorage = "/var/lib/caddy/.local/share/caddy"

// Caddy is one Caddy instance (`caddy:` takes one or a list): its certificate storage and the
// file its JSON log is written to.
type Caddy struct {
	StorageDir string `yaml:"storage_dir,omitempty"`
	// LogFile is Caddy's JSON log (a `log` output file, or stderr captured to a file); without
	// it only the stored certificates are watched. Its timestamps carry their zone.
	LogFile string `yaml:"log_file,omitempty"`
	// HistoryMaxAge bounds the replay of old and rotated logs at start.
	HistoryMaxAge model.Duration `yaml:"history_max_age,omitempty"`
	// RescanInterval rereads the storage and stats the log even when fsnotify is silent.
	RescanInterval model.Duration `yaml:"rescan_interval,omitempty"`
	// Labels are the instance's owner labels, on its certificates' cert_info and alerts.
	Labels Labels `yaml:"labels,omitempty"`
	// Probe dials Caddy for every name of its storage (opt in: nil when the key is absent),
	// so that a Caddy still serving a certificate older than the stored one is
	// cert_served_outdated.
	Probe *CaddyProbe `yaml:"probe,omitempty"`
}

// CaddyProbe is `caddy.probe:`: each name Caddy keeps a certificate for is a background probe
// target, dialled at the one listener Caddy serves every name on, the handshake naming it
// (SNI) as a browser would.
type CaddyProbe struct {
	// Address is Caddy's TLS listener, host[:port] (127.0.0.1:443: the exporter reads the
	// storage, so it runs beside Caddy, which listens on every interface by default).
	Address string `yaml:"address,omitempty"`
	// Module is the probe module (default tls); it must speak TLS at once (no starttls) and
	// dial the address itself (no proxy_url).
	Module string `yaml:"module,omitempty"`
	// Interval is each name's probe interval (5m, as targets:).
	Interval model.Duration `yaml:"interval,omitempty"`
}

// DefaultCaddyProbeAddress is where Caddy's HTTPS listener is reached from beside it.
const DefaultCaddyProbeAddress = "127.0.0.1:443"

// UnmarshalYAML makes a bare `probe:` the probe with its defaults rather than none.
func (c *Caddy) UnmarshalYAML(n *yaml.Node) error {
	type plain Caddy // without this method
	if err := n.Decode((*plain)(c)); err != nil {
		return err
	}
	if nullSection(n, "probe") {
		c.Probe = &CaddyProbe{}
	}
	return nil
}

func (c *Caddy) defaults() {
	if c.StorageDir == "" {
		c.StorageDir = DefaultCaddyStorage
	}
	if c.HistoryMaxAge == 0 {
		c.HistoryMaxAge = model.Duration(30 * 24 * time.Hour)
	}
	if c.RescanInterval == 0 {
		c.RescanInterval = model.Duration(time.Minute)
	}
	if p := c.Probe; p != nil {
		if p.Address == "" {
			p.Address = DefaultCaddyProbeAddress
		}
		if p.Module == "" {
			p.Module = DefaultModule
		}
		if p.Interval == 0 {
			p.Interval = model.Duration(5 * time.Minute)
		}
	}
}

func (c *Caddy) validate(path string, modules map[string]Module) error {
	if !filepath.IsAbs(c.StorageDir) {
		return fieldError(path+".storage_dir", "must be absolute, got %q", c.StorageDir)
	}
	if c.LogFile != "" && !filepath.IsAbs(c.LogFile) {
		return fieldError(path+".log_file", "must be absolute, got %q", c.LogFile)
	}
	if err := validateLog(path, "", c.HistoryMaxAge, c.RescanInterval); err != nil {
		return err
	}
	if err := c.Labels.validate(path + ".labels"); err != nil {
		return err
	}
	if p := c.Probe; p != nil {
		if err := validateDialModule(path+".probe.module", p.Module, modules, "Caddy", "Caddy's listener"); err != nil {
			return err
		}
		if _, _, err := ParseTarget(p.Address, ""); err != nil {
			return fieldError(path+".probe.address", "%v", err)
		}
		if p.Interval < model.Duration(time.Second) {
			return fieldError(path+".probe.interval", "must be at least 1s")
		}
	}
	return nil
}

// ProbeAddress is the address dialled for every name, host:port (port 443 when Address
// names none); "" without probe.
func (c *Caddy) ProbeAddress() string {
	if c.Probe == nil {
		return ""
	}
	host, port, _ := ParseTarget(c.Probe.Address, "") // validated; 443 when none is given
	return net.JoinHostPort(host, port)
}

// Files is the files entry that reads the instance's certificates: certmagic's file storage
// keeps each as <storage_dir>/certificates/<issuer>/<name>/<name>.crt (the chain, leaf first).
func (c *Caddy) Files() Files {
	f := Files{
		Paths:          []string{filepath.Join(globEscape(c.StorageDir), "certificates", "*", "*", "*.crt")},
		RescanInterval: c.RescanInterval,
		Labels:         c.Labels,
	}
	f.defaults()
	return f
}
