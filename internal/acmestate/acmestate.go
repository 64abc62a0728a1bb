// Package acmestate turns what a Go ACME client's log tells about each certificate name
// (logparse.ACMEOutcome, from Caddy's and lego's folders) into the renewal state every source
// shares, and renders the per-name families every ACME client has in common (certbot's too),
// so that a name renews, fails and retries alike whichever client logged it.
package acmestate

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

// Name is one certificate name's renewal state: the shared source.Renewal and the retry
// counts of the per-name families.
type Name struct {
	source.Renewal
	// Attempts counts the attempts seen (history replay included); Failures the failed ones
	// since the last success: the retries a success would end.
	Attempts, Failures int
	// NextRetry is when the client said it would try again (zero: no retry scheduled).
	NextRetry time.Time
}

// Fold is a name's state from its outcome. lineage is the name the client's store files it
// under (the chains' Location.Lineage), server the ACME directory it renews against ("" when
// unknown).
func Fold(client, lineage, server string, o logparse.ACMEOutcome) Name {
	n := Name{
		Renewal: source.Renewal{
			Client: client, Lineage: lineage, Domain: o.Name, Server: server,
			LastAttempt: o.LastAttempt, LastSuccess: o.LastSuccess, LastRenewal: o.LastSuccess,
		},
		Attempts: o.Attempts, Failures: o.Failures, NextRetry: o.NextRetry,
	}
	switch {
	case o.Reason != "":
		// Set exactly while failures stand, also during the retry under way: the failure
		// stays until an attempt succeeds.
		n.Reason, n.Message = o.Reason, o.Error
		for _, p := range o.Problems {
			n.Problems = append(n.Problems, source.ChallengeProblem{Identifier: p.Identifier, Type: p.Type, Detail: p.Detail})
		}
	case o.Result == logparse.NotDue:
		// The client looked at the certificate and kept it: an attempt that did not fail.
		n.LastAttempt, n.LastSuccess, n.Reason = later(o.LastAttempt, o.Time), later(o.LastSuccess, o.Time), "none"
	case !o.LastSuccess.IsZero():
		n.Reason = "none"
	}
	return n
}

// Stored is the state of a certificate in the client's store that its log says nothing about
// (no log configured, or older than the history replayed): no attempt seen, but the directory
// it renews against still decides whether it is a staging certificate.
func Stored(client, lineage, domain, server string) Name {
	return Name{Renewal: source.Renewal{Client: client, Lineage: lineage, Domain: domain, Server: server}}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Renewals are the names' shared renewal state, for Snapshot.Renewals.
func Renewals(names []Name) []source.Renewal {
	out := make([]source.Renewal, len(names))
	for i := range names {
		out[i] = names[i].Renewal
	}
	return out
}

var (
	lastAttemptDesc = prometheus.NewDesc("cert_renewal_last_attempt_timestamp_seconds",
		"Last time the ACME client tried to obtain or renew the certificate, or checked it and kept it.", []string{"client", "lineage"}, nil)
	lastSuccessDesc = prometheus.NewDesc("cert_renewal_last_success_timestamp_seconds",
		"Last attempt on the certificate that did not fail.", []string{"client", "lineage"}, nil)
	attemptsDesc = prometheus.NewDesc("cert_renewal_attempts_total",
		"Attempts to obtain or renew the certificate seen in the client's log (history replay included).", []string{"client", "lineage"}, nil)
	failuresDesc = prometheus.NewDesc("cert_renewal_consecutive_failures",
		"Failed attempts since the last success: the retries a success ends.", []string{"client", "lineage"}, nil)
	nextRetryDesc = prometheus.NewDesc("cert_renewal_next_retry_timestamp_seconds",
		"When the client said it would try again after a failure.", []string{"client", "lineage"}, nil)
)

// Collect emits the per-name families of names that the log has seen an attempt for.
func Collect(ch chan<- prometheus.Metric, names []Name) {
	gauge := func(d *prometheus.Desc, v float64, r *source.Renewal) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, r.Client, r.Lineage)
	}
	for i := range names {
		n := &names[i]
		if n.Reason == "" {
			continue // no attempt seen: cert_renewal_failure is absent too
		}
		if !n.LastAttempt.IsZero() {
			gauge(lastAttemptDesc, collector.Unix(n.LastAttempt), &n.Renewal)
		}
		if !n.LastSuccess.IsZero() {
			gauge(lastSuccessDesc, collector.Unix(n.LastSuccess), &n.Renewal)
		}
		ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.CounterValue, float64(n.Attempts), n.Client, n.Lineage)
		gauge(failuresDesc, float64(n.Failures), &n.Renewal)
		if !n.NextRetry.IsZero() {
			gauge(nextRetryDesc, collector.Unix(n.NextRetry), &n.Renewal)
		}
	}
}

// Metrics are a Go ACME client source's own families: the names' and the file errors of its
// store (cert_expiry_exporter_file_error). cert_renewal_failure and the health series come
// with every source's.
func Metrics(names []Name, fileErrs []files.FileError) func(ch chan<- prometheus.Metric) {
	errs := files.ErrorMetrics(fileErrs)
	return func(ch chan<- prometheus.Metric) {
		Collect(ch, names)
		if errs != nil {
			errs(ch)
		}
	}
}
