package config

import (
	"time"

	"github.com/prometheus/common/model"
)

// Certbot points at a certbot installation: its config dir (live/, renewal/) and its log.
type Certbot struct {
	ConfigDir string `yaml:"config_dir,omitempty"`
	LogFile   string `yaml:"log_file,omitempty"`
	// LogTimezone is the zone certbot's zone-less log timestamps are in (default: local).
	LogTimezone string `yaml:"log_timezone,omitempty"`
	// HistoryMaxAge bounds the replay of old and rotated logs at start.
	HistoryMaxAge model.Duration `yaml:"history_max_age,omitempty"`
}

func (c *Certbot) defaults() {
	if c.ConfigDir == "" {
		c.ConfigDir = "/etc/letsencrypt"
	}
	if c.LogFile == "" {
		c.LogFile = "/var/log/letsencrypt/letsencrypt.log"
	}
	if c.HistoryMaxAge == 0 {
		c.HistoryMaxAge = model.Duration(30 * 24 * time.Hour)
	}
}

func (c *Certbot) validate(path string) error {
	if c.LogTimezone != "" {
		if _, err := time.LoadLocation(c.LogTimezone); err != nil {
			return fieldError(path+".log_timezone", "%v", err)
		}
	}
	return nil
}

// Location is the zone of certbot's log timestamps.
func (c *Certbot) Location() *time.Location {
	if c.LogTimezone == "" {
		return time.Local
	}
	loc, _ := time.LoadLocation(c.LogTimezone) // validated
	return loc
}
