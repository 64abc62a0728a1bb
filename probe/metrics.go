package probe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
)

var probeLabels = []string{"target", "ip", "module"}

var (
	probeAddrSuccess = prometheus.NewDesc("cert_probe_success", "1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).", probeLabels, nil)
	probeAddrDur     = prometheus.NewDesc("cert_probe_duration_seconds", "Duration of the last probe.", probeLabels, nil)
	probeAddrLast    = prometheus.NewDesc("cert_probe_last_timestamp_seconds", "When the last probe finished.", probeLabels, nil)
	probeAddrLastOK  = prometheus.NewDesc("cert_probe_last_success_timestamp_seconds", "When the address was last probed successfully; its certificate series are those of that probe while later ones fail.", probeLabels, nil)
	probeAddrTLS     = prometheus.NewDesc("cert_probe_tls_info", "TLS version and cipher negotiated; always 1.", append(append([]string{}, probeLabels...), "version", "cipher"), nil)
	probeAddrFailure = prometheus.NewDesc("cert_probe_failure", "1 with the reason when the last probe failed; absent when it succeeded.", append(append([]string{}, probeLabels...), "reason"), nil)

	probeSuccess  = prometheus.NewDesc("probe_success", "1 when every address of the target was probed successfully.", nil, nil)
	probeDuration = prometheus.NewDesc("probe_duration_seconds", "How long the probe took.", nil, nil)
	probeFailure  = prometheus.NewDesc("probe_failure", "1 per reason that made the probe fail.", []string{"reason"}, nil)
)

// collect emits the background probes' per-address series (their chains are rendered with
// every source's).
func (s *targetsSnapshot) collect(ch chan<- prometheus.Metric) {
	for _, p := range s.Probes {
		collectProbeAddrs(ch, &p.Result, p.Module, p.At)
		for _, sv := range p.Served {
			ch <- prometheus.MustNewConstMetric(probeAddrLastOK, prometheus.GaugeValue, collector.Unix(sv.At), p.Target, sv.IP, p.Module)
		}
	}
}

// collectProbeAddrs emits the per-address series of one probe; at (when not zero) is when it
// finished. A probe that never reached an address (dns, refused name) has one series with ip="".
func collectProbeAddrs(ch chan<- prometheus.Metric, r *Result, module string, at time.Time) {
	addrs := r.Addrs
	if len(addrs) == 0 {
		addrs = []Addr{{Failure: r.Failure, Duration: r.Duration}}
	}
	for _, a := range addrs {
		l := []string{r.Target, a.IP, module}
		ch <- prometheus.MustNewConstMetric(probeAddrSuccess, prometheus.GaugeValue, collector.Bool(a.Success), l...)
		ch <- prometheus.MustNewConstMetric(probeAddrDur, prometheus.GaugeValue, a.Duration.Seconds(), l...)
		if !at.IsZero() {
			ch <- prometheus.MustNewConstMetric(probeAddrLast, prometheus.GaugeValue, collector.Unix(at), l...)
		}
		if a.Success {
			ch <- prometheus.MustNewConstMetric(probeAddrTLS, prometheus.GaugeValue, 1, append(l, a.TLSVersion, a.Cipher)...)
		}
		if a.Failure != "" {
			ch <- prometheus.MustNewConstMetric(probeAddrFailure, prometheus.GaugeValue, 1, append(l, a.Failure)...)
		}
	}
}

// resultCollector renders one /probe request into its per-request registry: probe_success,
// probe_duration_seconds, probe_failure{reason}, the per-address probe series and the chains.
type resultCollector struct {
	Result *Result
	Module string
	Now    time.Time
}

// Describe sends nothing: the series vary per request.
func (resultCollector) Describe(chan<- *prometheus.Desc) {}

// Collect emits the probe's series.
func (p resultCollector) Collect(ch chan<- prometheus.Metric) {
	r := p.Result
	ch <- prometheus.MustNewConstMetric(probeSuccess, prometheus.GaugeValue, collector.Bool(r.Success()))
	ch <- prometheus.MustNewConstMetric(probeDuration, prometheus.GaugeValue, r.Duration.Seconds())
	for _, f := range r.Failures() {
		ch <- prometheus.MustNewConstMetric(probeFailure, prometheus.GaugeValue, 1, f)
	}
	collectProbeAddrs(ch, r, p.Module, time.Time{})
	collector.Chains{Chains: r.Chains(), Now: p.Now}.Collect(ch)
}
