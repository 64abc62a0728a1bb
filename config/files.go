package config

import (
	"errors"
	"path/filepath"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Files is one `files:` entry: globs of certificate files and how to read them.
type Files struct {
	Paths   []string `yaml:"paths"`
	Exclude []string `yaml:"exclude,omitempty"`
	// Password / PasswordFile open PKCS#12 files.
	Password     promconfig.Secret `yaml:"password,omitempty"`
	PasswordFile string            `yaml:"password_file,omitempty"`
	// CAFile replaces the system roots for the chain check of these files.
	CAFile string `yaml:"ca_file,omitempty"`
	// CheckKey opts in to reading the private key next to each certificate (certbot's
	// privkey.pem, else <stem>.key); KeyPaths globs name the key files instead, matched to a
	// certificate by directory and stem.
	CheckKey bool     `yaml:"check_key,omitempty"`
	KeyPaths []string `yaml:"key_paths,omitempty"`
	// MaxFileSize caps what is read from one file (bytes); larger files are reported, not read.
	MaxFileSize int64 `yaml:"max_file_size,omitempty"`
	// RescanInterval is the safety-net full rescan (±10% jitter) on top of fsnotify events.
	RescanInterval model.Duration `yaml:"rescan_interval,omitempty"`
	// Labels are the entry's owner labels (cert_info, alerts).
	Labels Labels `yaml:"labels,omitempty"`
	// Usage is how a service uses these certificates: UsageServer (the default, also when empty)
	// or UsageClient, a TLS client certificate (mTLS), which must allow clientAuth.
	Usage string `yaml:"usage,omitempty"`
}

// Usages of a files: entry's certificates.
const (
	UsageServer = "server"
	UsageClient = "client"
)

func (f *Files) defaults() {
	if f.MaxFileSize == 0 {
		f.MaxFileSize = 4 << 20
	}
	if f.RescanInterval == 0 {
		f.RescanInterval = model.Duration(5 * time.Minute)
	}
}

func (f *Files) validate(path string) error {
	if len(f.Paths) == 0 {
		return fieldError(path+".paths", "must list at least one glob")
	}
	for _, g := range []struct {
		field string
		globs []string
	}{{"paths", f.Paths}, {"exclude", f.Exclude}, {"key_paths", f.KeyPaths}} {
		for i, p := range g.globs {
			if _, err := filepath.Match(p, ""); err != nil || p == "" {
				if err == nil {
					err = errors.New("empty")
				}
				return fieldError(path+"."+g.field, "bad glob %q (#%d): %v", p, i, err)
			}
		}
	}
	if len(f.KeyPaths) > 0 && !f.CheckKey {
		return fieldError(path+".key_paths", "has no effect without check_key: true")
	}
	if f.Password != "" && f.PasswordFile != "" {
		return fieldError(path+".password_file", "password and password_file are mutually exclusive")
	}
	if f.MaxFileSize < 0 {
		return fieldError(path+".max_file_size", "must be positive")
	}
	if time.Duration(f.RescanInterval) < time.Second {
		return fieldError(path+".rescan_interval", "must be at least 1s")
	}
	if f.Usage != "" && f.Usage != UsageServer && f.Usage != UsageClient {
		return fieldError(path+".usage", "unknown usage %q (one of %s, %s)", f.Usage, UsageServer, UsageClient)
	}
	return f.Labels.validate(path + ".labels")
}
