package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certbot"
)

var (
	certRenewalFailureDesc = prometheus.NewDesc("cert_renewal_failure",
		"1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.",
		[]string{"lineage", "domain", "reason"}, nil)
	certbotLastRunDesc = prometheus.NewDesc("certbot_last_run_timestamp_seconds",
		"Start of the newest certbot run seen in the log; 0 when no run was seen in the log history.", nil, nil)
	certbotLastRunSuccessDesc = prometheus.NewDesc("certbot_last_run_success",
		"1 when the newest certbot run ended without a failure.", nil, nil)
	certbotRunsDesc = prometheus.NewDesc("certbot_runs_total",
		"Certbot runs seen since the exporter started (history replay included).", []string{"result"}, nil)
	certbotLastAttemptDesc = prometheus.NewDesc("certbot_lineage_last_attempt_timestamp_seconds",
		"Last time certbot considered the lineage (renewal or not-due check).", []string{"lineage"}, nil)
	certbotLastSuccessDesc = prometheus.NewDesc("certbot_lineage_last_success_timestamp_seconds",
		"Last attempt on the lineage that did not fail.", []string{"lineage"}, nil)
	certbotLastRenewalDesc = prometheus.NewDesc("certbot_lineage_last_renewal_timestamp_seconds",
		"Last time a new certificate was issued for the lineage.", []string{"lineage"}, nil)
	certbotAttemptsDesc = prometheus.NewDesc("certbot_renewal_attempts_total",
		"Renewal attempts by result.", []string{"lineage", "result"}, nil)
	certbotHookFailureDesc = prometheus.NewDesc("certbot_hook_failure",
		"1 while the hook's latest run for the lineage failed; a failed deploy hook stands until a renewal whose deploy hook does not fail.", []string{"lineage", "hook"}, nil)
	certbotLineageInfoDesc = prometheus.NewDesc("certbot_lineage_info",
		"The lineage's renewal configuration.", []string{"lineage", "domain", "server", "authenticator", "staging"}, nil)
	certbotLogLinesDesc = prometheus.NewDesc("cert_expiry_exporter_certbot_log_lines_total",
		"Lines read from the certbot log.", nil, nil)
	certbotLogBytesDesc = prometheus.NewDesc("cert_expiry_exporter_certbot_log_bytes_total",
		"Bytes read from the certbot log.", nil, nil)
	certbotLogUnparsedDesc = prometheus.NewDesc("cert_expiry_exporter_certbot_log_unparsed_records_total",
		"Certbot log records that did not start with a timestamp or were not understood.", nil, nil)
)

// collectCertbot renders a certbot snapshot. Health (source_up, errors_total) is rendered
// generically from s.Health elsewhere.
func collectCertbot(ch chan<- prometheus.Metric, s *certbot.Snapshot) {
	if s == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	// Always present, 0 without a run: an absent series would keep CertbotNotRunning silent
	// exactly when the timer stopped longer ago than the replayed history reaches.
	if s.HasRun {
		gauge(certbotLastRunDesc, unix(s.LastRun))
		gauge(certbotLastRunSuccessDesc, b2f(s.LastRunSuccess))
	} else {
		gauge(certbotLastRunDesc, 0)
	}
	for _, r := range []string{"success", "failure"} {
		counter(certbotRunsDesc, s.Runs[r], r)
	}
	for _, l := range s.Lineages {
		switch l.FailureReason {
		case "":
		case "none":
			gauge(certRenewalFailureDesc, 0, l.Name, l.Domain, "none")
		default:
			gauge(certRenewalFailureDesc, 1, l.Name, l.Domain, l.FailureReason)
		}
		if !l.LastAttempt.IsZero() {
			gauge(certbotLastAttemptDesc, unix(l.LastAttempt), l.Name)
		}
		if !l.LastSuccess.IsZero() {
			gauge(certbotLastSuccessDesc, unix(l.LastSuccess), l.Name)
		}
		if !l.LastRenewal.IsZero() {
			gauge(certbotLastRenewalDesc, unix(l.LastRenewal), l.Name)
		}
		for _, r := range certbot.AttemptResults {
			counter(certbotAttemptsDesc, l.Attempts[r], l.Name, r)
		}
		failed := map[string]bool{}
		for _, h := range l.HookFailures {
			failed[h.Hook] = true
		}
		for _, hook := range []string{"pre", "post", "deploy"} {
			if failed[hook] || l.Conf != nil && l.Conf.Hook(hook) != "" {
				gauge(certbotHookFailureDesc, b2f(failed[hook]), l.Name, hook)
			}
		}
		if l.Conf != nil {
			gauge(certbotLineageInfoDesc, 1, l.Name, l.Domain, l.Conf.Server, l.Conf.Authenticator,
				strconv.FormatBool(l.Conf.Staging()))
		}
	}
	counter(certbotLogLinesDesc, s.LogLines)
	counter(certbotLogBytesDesc, s.LogBytes)
	counter(certbotLogUnparsedDesc, s.LogUnparsed)
}
