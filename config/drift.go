package config

import (
	"time"

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

func (d *Drift) validate(path string) error { return nil }

// ARI configures RFC 9773 renewal-information fetching.
type ARI struct {
	// Enabled turns on fetching for certbot lineages (server from the renewal conf).
	Enabled *bool `yaml:"enabled,omitempty"`
	// Directories maps file globs to ACME directory URLs for certificates not managed by certbot.
	Directories []ARIDirectory `yaml:"directories,omitempty"`
}

// ARIDirectory says which ACME directory issued the certificates under Paths.
type ARIDirectory struct {
	Paths     []string `yaml:"paths"`
	Directory string   `yaml:"directory"`
}

func (a *ARI) defaults() {
	if a.Enabled == nil {
		t := true
		a.Enabled = &t
	}
}

func (a *ARI) validate(path string) error { return nil }
