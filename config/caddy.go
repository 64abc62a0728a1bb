package config

import (
	"path/filepath"
	"time"

	"github.com/prometheus/common/model"
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
}

func (c *Caddy) validate(path string) error {
	if !filepath.IsAbs(c.StorageDir) {
		return fieldError(path+".storage_dir", "must be absolute, got %q", c.StorageDir)
	}
	if c.LogFile != "" && !filepath.IsAbs(c.LogFile) {
		return fieldError(path+".log_file", "must be absolute, got %q", c.LogFile)
	}
	if err := validateLog(path, "", c.HistoryMaxAge, c.RescanInterval); err != nil {
		return err
	}
	return c.Labels.validate(path + ".labels")
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
