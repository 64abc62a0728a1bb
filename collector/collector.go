// Package collector renders the inventory's snapshots as Prometheus metrics; it does no I/O.
package collector

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/health"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
)

// Collector emits const metrics from the latest snapshots, so a scrape never waits on disk or
// network, and cert_expiry_seconds is computed at scrape time.
type Collector struct {
	inv *inventory.Inventory
	now func() time.Time
	// withoutChains leaves the certificate and chain series to WriteChains.
	withoutChains bool
}

// New returns a collector over inv.
func New(inv *inventory.Inventory, now func() time.Time) *Collector {
	return &Collector{inv: inv, now: now}
}

// WithoutChains returns a collector of every series but the certificate and chain series of
// the files and targets sources, for a /metrics handler that writes those with WriteChains.
func (c *Collector) WithoutChains() *Collector {
	return &Collector{inv: c.inv, now: c.now, withoutChains: true}
}

// Describe sends nothing: series depend on what the sources found, so the collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect emits every source's series and the sources' health.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	v := c.inv.View()
	now := c.now()
	j := joins{ari: v.ARI, staging: v.StagingLineages(), written: c.withoutChains}
	if v.Files != nil {
		collectFiles(ch, v.Files, now, j)
	}
	if v.Targets != nil {
		collectTargets(ch, v.Targets, now, j)
	}
	if v.ARI != nil {
		collectARI(ch, v.ARI)
	}
	collectDrift(ch, v.Drift, now)
	if v.Certbot != nil {
		collectCertbot(ch, v.Certbot)
	}
	collectHealth(ch, v.Statuses())
}

var (
	sourceUp          = prometheus.NewDesc("cert_expiry_exporter_source_up", "1 when the source's last pass worked.", []string{"source", "name"}, nil)
	sourceLastSuccess = prometheus.NewDesc("cert_expiry_exporter_source_last_success_timestamp_seconds", "When the source last worked.", []string{"source", "name"}, nil)
	errorsTotal       = prometheus.NewDesc("cert_expiry_exporter_errors_total", "Errors by source and fixed reason.", []string{"source", "reason"}, nil)
)

func collectHealth(ch chan<- prometheus.Metric, statuses []health.Status) {
	// Several instances of one source (e.g. two targets) share the error counters of the source.
	errs := map[string]map[string]uint64{}
	for _, s := range statuses {
		ch <- prometheus.MustNewConstMetric(sourceUp, prometheus.GaugeValue, b2f(s.Up), s.Source, s.Name)
		if !s.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(sourceLastSuccess, prometheus.GaugeValue, unix(s.LastSuccess), s.Source, s.Name)
		}
		if errs[s.Source] == nil {
			errs[s.Source] = map[string]uint64{}
		}
		for r, n := range s.Errors {
			errs[s.Source][r] += n
		}
	}
	srcs := make([]string, 0, len(errs))
	for s := range errs {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		for r, n := range errs[s] {
			ch <- prometheus.MustNewConstMetric(errorsTotal, prometheus.CounterValue, float64(n), s, r)
		}
	}
}
