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
	return validateLog(path, c.LogTimezone, c.HistoryMaxAge, c.RescanInterval)
}

// validateLog checks the settings certbot and lego share for following a client's log.
func validateLog(path, timezone string, historyMaxAge, rescanInterval model.Duration) error {
	if historyMaxAge < 0 {
		return fieldError(path+".history_max_age", "must not be negative")
	}
	if rescanInterval < model.Duration(time.Second) {
		return fieldError(path+".rescan_interval", "must be at least 1s")
	}
	if timezone != "" {
		if _, err := time.LoadLocation(timezone); err != nil {
			return fieldError(path+".log_timezone", "%v", err)
		}
	}
	return nil
}

// Location is the zone of certbot's log timestamps.
func (c *Certbot) Location() *time.Location { return location(c.LogTimezone) }

// location is a validated log_timezone's zone; local time when unset (certbot and lego write
// zone-less local timestamps).
func location(timezone string) *time.Location {
	if timezone == "" {
		return time.Local
	}
	loc, _ := time.LoadLocation(timezone) // validated
	return loc
}
