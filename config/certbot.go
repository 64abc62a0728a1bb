package config

import (
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
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

// certbotNull says whether the document sets `certbot:` to null (a bare key): YAML decodes
// that to a nil pointer, which would disable certbot although the key asks for it.
func certbotNull(root *yaml.Node) bool {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "certbot" {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			return v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null"
		}
	}
	return false
}
