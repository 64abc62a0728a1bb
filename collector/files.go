package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
)

var fileError = prometheus.NewDesc("cert_expiry_exporter_file_error",
	"1 per file (or glob, or directory) that currently cannot be read, with the reason.", []string{"path", "reason"}, nil)

// collectFiles emits the series of the local files source: one certificate and chain set per
// file, and an error series per unreadable path. Health is rendered with the other sources.
func collectFiles(ch chan<- prometheus.Metric, s *files.Snapshot, now time.Time, j joins) {
	collectChains(ch, s.Chains, now, j)
	for _, e := range s.Errors {
		ch <- prometheus.MustNewConstMetric(fileError, prometheus.GaugeValue, 1, e.Path, e.Reason)
	}
}
