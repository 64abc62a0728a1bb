// Package collector renders the inventory as Prometheus metrics; it does no I/O. It owns the
// families every source shares (certificates, chains, renewals, ARI windows, drift, source health); a
// source's own families come with its snapshot (source.Snapshot.Metrics).
package collector

import (
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Collector emits const metrics from the latest snapshots, so a scrape never waits on disk or
// network, and cert_expiry_seconds is computed at scrape time.
type Collector struct {
	store *inventory.Store
	now   func() time.Time
	// scrape, when set, is the one view and time a scrape renders (Scrape): every series
	// but the certificate and chain series, which WriteChains writes.
	scrape *pinned
}

type pinned struct {
	view *inventory.View
	now  time.Time
}

// New returns a collector over store.
func New(store *inventory.Store, now func() time.Time) *Collector {
	return &Collector{store: store, now: now}
}

// Scrape returns a collector for one /metrics scrape that writes the certificate and chain
// series itself (WriteChains): it collects every other series, and both read the one view of
// the store and the one time taken now, so a publish or a reload during the scrape cannot
// make its series disagree (certificates of one view beside the health of another).
func (c *Collector) Scrape() *Collector {
	return &Collector{store: c.store, now: c.now, scrape: &pinned{view: c.store.View(), now: c.now()}}
}

// at is the view and time to render.
func (c *Collector) at() (*inventory.View, time.Time) {
	if c.scrape != nil {
		return c.scrape.view, c.scrape.now
	}
	return c.store.View(), c.now()
}

// Describe sends nothing: series depend on what the sources found, so the collector is unchecked.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect emits every source's series and the sources' health.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	v, now := c.at()
	windows := map[[3]string]bool{}
	for _, s := range v.Snapshots {
		if c.scrape == nil {
			collectChains(ch, s.Chains, now, v)
		}
		collectRenewals(ch, s.Renewals)
		collectClients(ch, s.Clients)
		collectWindows(ch, s.Windows, windows)
		if s.Metrics != nil {
			s.Metrics(ch)
		}
	}
	collectDrift(ch, v.Drift)
	collectHealth(ch, v.Statuses())
}

var (
	sourceUp          = prometheus.NewDesc("cert_expiry_exporter_source_up", "1 when the source's last pass worked.", []string{"source", "name"}, nil)
	sourceLastSuccess = prometheus.NewDesc("cert_expiry_exporter_source_last_success_timestamp_seconds", "When the source last worked.", []string{"source", "name"}, nil)
	errorsTotal       = prometheus.NewDesc("cert_expiry_exporter_errors_total", "Errors by source and fixed reason.", []string{"source", "reason"}, nil)
)

func collectHealth(ch chan<- prometheus.Metric, statuses []source.Status) {
	// Several instances of one source (e.g. two targets) share the error counters of the source.
	errs := map[string]map[string]uint64{}
	for _, s := range statuses {
		ch <- prometheus.MustNewConstMetric(sourceUp, prometheus.GaugeValue, Bool(s.Up), s.Source, s.Name)
		if !s.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(sourceLastSuccess, prometheus.GaugeValue, Unix(s.LastSuccess), s.Source, s.Name)
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

var certRenewalFailure = prometheus.NewDesc("cert_renewal_failure",
	"1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.",
	[]string{"client", "lineage", "domain", "reason"}, nil)

// collectRenewals emits cert_renewal_failure: no series before the first attempt, 0 with
// reason "none" after a success, 1 with the reason after a failure.
func collectRenewals(ch chan<- prometheus.Metric, renewals []source.Renewal) {
	for i := range renewals {
		r := &renewals[i]
		if r.Reason != "" {
			ch <- prometheus.MustNewConstMetric(certRenewalFailure, prometheus.GaugeValue, Bool(r.Failed()), r.Client, r.Lineage, r.Domain, r.Reason)
		}
	}
}

var (
	clientLastRun = prometheus.NewDesc("cert_renewal_client_last_run_timestamp_seconds",
		"Start of the newest run of the renewal client seen in its log; 0 when no run was seen in the log history.", []string{"client", "log"}, nil)
	clientLastRunSuccess = prometheus.NewDesc("cert_renewal_client_last_run_success",
		"1 when the renewal client's newest run ended without a failure.", []string{"client", "log"}, nil)
)

// collectClients emits the runs of the renewal clients run from a timer or cron (certbot,
// lego). The timestamp is always there, 0 without a run: an absent series would keep
// RenewalClientNotRunning silent exactly when the timer stopped before the replayed history.
func collectClients(ch chan<- prometheus.Metric, clients []source.Client) {
	for _, c := range clients {
		if !c.Seen {
			ch <- prometheus.MustNewConstMetric(clientLastRun, prometheus.GaugeValue, 0, c.Name, c.Log)
			continue
		}
		ch <- prometheus.MustNewConstMetric(clientLastRun, prometheus.GaugeValue, Unix(c.LastRun), c.Name, c.Log)
		ch <- prometheus.MustNewConstMetric(clientLastRunSuccess, prometheus.GaugeValue, Bool(c.LastRunSuccess), c.Name, c.Log)
	}
}

var (
	windowLabels = []string{"lineage", "domain", "serial"}
	windowStart  = prometheus.NewDesc("cert_ari_window_start_timestamp_seconds", "Start of the renewal window the CA suggests (ACME Renewal Information, RFC 9773).", windowLabels, nil)
	windowEnd    = prometheus.NewDesc("cert_ari_window_end_timestamp_seconds", "End of the renewal window the CA suggests; in the past when the CA wants the certificate replaced now.", windowLabels, nil)
	windowInfo   = prometheus.NewDesc("cert_ari_info", "The CA's explanation URL for the renewal window; always 1.", append(slices.Clone(windowLabels), "explanation_url"), nil)
)

// collectWindows emits the CA's suggested renewal window of each certificate, as the ari
// source fetched it or a renewal client stored it (Caddy). A certificate two sources know of
// is the first one's (seen, across the snapshots of a scrape): each series must stay unique.
func collectWindows(ch chan<- prometheus.Metric, windows []source.Window, seen map[[3]string]bool) {
	for _, w := range windows {
		l := [3]string{w.Lineage, w.Domain, w.Serial}
		if seen[l] {
			continue
		}
		seen[l] = true
		ch <- prometheus.MustNewConstMetric(windowStart, prometheus.GaugeValue, Unix(w.Start), l[:]...)
		ch <- prometheus.MustNewConstMetric(windowEnd, prometheus.GaugeValue, Unix(w.End), l[:]...)
		ch <- prometheus.MustNewConstMetric(windowInfo, prometheus.GaugeValue, 1, w.Lineage, w.Domain, w.Serial, w.ExplanationURL)
	}
}
