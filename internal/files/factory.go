package files

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Factory is the `files:` source. It knows certbot's live/ layout when `certbot:` is set.
var Factory = source.Factory{
	Name: "files",
	Part: func(cfg *config.Config) (any, bool) {
		return struct {
			Files      []config.Files
			CertbotDir string
		}{cfg.Files, certbotDir(cfg)}, len(cfg.Files) > 0
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		return New(cfg.Files, certbotDir(cfg), env.Logger, env.Clock)
	},
}

func certbotDir(cfg *config.Config) string {
	if cfg.Certbot == nil {
		return ""
	}
	return cfg.Certbot.ConfigDir
}

var fileErrorDesc = prometheus.NewDesc("cert_expiry_exporter_file_error",
	"1 per file (or glob, or directory) that currently cannot be read, with the reason.", []string{"path", "reason"}, nil)

// ErrorMetrics emits cert_expiry_exporter_file_error, one series per unreadable path: the files
// source's, and those of the ACME client stores read through it (lego).
func ErrorMetrics(errs []FileError) func(chan<- prometheus.Metric) {
	if len(errs) == 0 {
		return nil
	}
	return func(ch chan<- prometheus.Metric) {
		for _, e := range errs {
			ch <- prometheus.MustNewConstMetric(fileErrorDesc, prometheus.GaugeValue, 1, e.Path, e.Reason)
		}
	}
}
