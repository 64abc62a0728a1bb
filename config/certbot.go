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
	// RescanInterval rereads renewal/*.conf and stats the log even when fsnotify is silent.
	RescanInterval model.Duration `yaml:"rescan_interval,omitempty"`
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
	if c.RescanInterval == 0 {
		c.RescanInterval = model.Duration(time.Minute)
	}
}

func (c *Certbot) validate(path string) error {
	if c.HistoryMaxAge < 0 {
		return fieldError(path+".history_max_age", "must not be negative")
	}
	if c.RescanInterval < model.Duration(time.Second) {
		return fieldError(path+".rescan_interval", "must be at least 1s")
	}
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
