package config

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Lego is one lego installation (`lego:` takes one or a list): the directory lego's --path
// names (it holds certificates/ and accounts/), and the file its output is captured to.
type Lego struct {
	Path string `yaml:"path"`
	// LogFile is where lego's stderr is captured (lego has no log file of its own); without
	// it only the certificates are watched.
	LogFile string `yaml:"log_file,omitempty"`
	// LogTimezone is the zone of lego's zone-less log timestamps (default: local).
	LogTimezone string `yaml:"log_timezone,omitempty"`
	// HistoryMaxAge bounds the replay of old and rotated logs at start.
	HistoryMaxAge model.Duration `yaml:"history_max_age,omitempty"`
	// RescanInterval rereads certificates/ even when fsnotify is silent.
	RescanInterval model.Duration `yaml:"rescan_interval,omitempty"`
	// CheckKey opts in to reading certificates/<name>.key to match it with the certificate.
	CheckKey bool `yaml:"check_key,omitempty"`
	// Labels are the installation's owner labels, on its certificates' cert_info and alerts.
	Labels Labels `yaml:"labels,omitempty"`
}

// Files is the files entry that reads the installation's certificates: <path>/certificates/
// <name>.crt (the certificate and its issuers; <name>.issuer.crt is the issuers alone), and
// with check_key <name>.key beside it.
func (l *Lego) Files() Files {
	dir := globEscape(filepath.Join(l.Path, "certificates"))
	f := Files{
		Paths:          []string{filepath.Join(dir, "*.crt")},
		Exclude:        []string{filepath.Join(dir, "*.issuer.crt")},
		CheckKey:       l.CheckKey,
		RescanInterval: l.RescanInterval,
		Labels:         l.Labels,
	}
	f.defaults()
	return f
}

// globEscape quotes the glob metacharacters of a literal path.
func globEscape(p string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`).Replace(p)
}

func (l *Lego) defaults() {
	if l.HistoryMaxAge == 0 {
		l.HistoryMaxAge = model.Duration(30 * 24 * time.Hour)
	}
	if l.RescanInterval == 0 {
		l.RescanInterval = model.Duration(time.Minute)
	}
}

func (l *Lego) validate(path string) error {
	if l.Path == "" {
		return fieldError(path+".path", "must be set: the directory lego's --path names (it holds certificates/)")
	}
	if !filepath.IsAbs(l.Path) {
		return fieldError(path+".path", "must be absolute, got %q", l.Path)
	}
	if l.LogFile != "" && !filepath.IsAbs(l.LogFile) {
		return fieldError(path+".log_file", "must be absolute, got %q", l.LogFile)
	}
	if err := validateLog(path, l.LogTimezone, l.HistoryMaxAge, l.RescanInterval); err != nil {
		return err
	}
	return l.Labels.validate(path + ".labels")
}

// Location is the zone of lego's log timestamps.
func (l *Lego) Location() *time.Location { return location(l.LogTimezone) }
