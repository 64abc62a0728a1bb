package config

import (
	"fmt"
	"path/filepath"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Drift configures the served-vs-disk comparison.
type Drift struct {
	GracePeriod model.Duration `yaml:"grace_period,omitempty"`
}

func (d *Drift) defaults() {
	if d.GracePeriod == 0 {
		d.GracePeriod = model.Duration(time.Hour)
	}
}

func (d *Drift) validate(path string) error {
	if d.GracePeriod < 0 {
		return fieldError(path+".grace_period", "must not be negative")
	}
	return nil
}

// ARI configures RFC 9773 renewal-information fetching.
type ARI struct {
	// Enabled turns on fetching for certbot lineages (server from the renewal conf).
	Enabled *bool `yaml:"enabled,omitempty"`
	// Directories maps file globs to ACME directory URLs for certificates not managed by certbot.
	Directories []ARIDirectory `yaml:"directories,omitempty"`
	// TLSConfig verifies every CA's ARI endpoint: ca_file for a private ACME CA (step-ca,
	// Pebble); like Prometheus', it replaces the system roots.
	TLSConfig promconfig.TLSConfig `yaml:"tls_config,omitempty"`
}

// ARIDirectory says which ACME directory issued the certificates under Paths.
type ARIDirectory struct {
	Paths     []string `yaml:"paths"`
	Directory URL      `yaml:"directory"`
}

func (a *ARI) defaults() {
	if a.Enabled == nil {
		t := true
		a.Enabled = &t
	}
}

func (a *ARI) validate(path string) error {
	if err := validateTLSConfig(path+".tls_config", &a.TLSConfig); err != nil {
		return err
	}
	for i, d := range a.Directories {
		p := fmt.Sprintf("%s.directories[%d]", path, i)
		if len(d.Paths) == 0 {
			return fieldError(p+".paths", "must list at least one glob")
		}
		for _, g := range d.Paths {
			if _, err := filepath.Match(g, ""); err != nil || g == "" {
				return fieldError(p+".paths", "bad glob %q", g)
			}
		}
		if u := d.Directory; u.URL == nil || (u.Scheme != "https" && u.Scheme != "http") {
			return fieldError(p+".directory", "want an http(s) ACME directory URL, got %q", u)
		}
	}
	return nil
}
