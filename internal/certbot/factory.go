package certbot

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/acmestate"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Factory is the `certbot:` source.
var Factory = source.Factory{
	Name: "certbot",
	Part: func(cfg *config.Config) (any, bool) {
		if cfg.Certbot == nil {
			return nil, false
		}
		return *cfg.Certbot, true
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		return newSource(*cfg.Certbot, env.Logger, env.Clock)
	},
}

// source renders the snapshot in the shape every source shares; the certbot families and the
// per-lineage renewal families every ACME client shares (acmestate) come with it.
func (s *Snapshot) source() *source.Snapshot {
	out := &source.Snapshot{
		Clients: []source.Client{{Name: "certbot", Log: s.Log, Seen: s.HasRun, LastRun: s.LastRun, LastRunSuccess: s.LastRunSuccess}},
		Status:  s.Status,
		State:   s,
	}
	names := make([]acmestate.Name, 0, len(s.Lineages))
	for _, l := range s.Lineages {
		r := source.Renewal{
			Client: "certbot", Lineage: l.Name, Domain: l.Domain,
			LastAttempt: l.LastAttempt, LastSuccess: l.LastSuccess, LastRenewal: l.LastRenewal,
			Reason: l.FailureReason, Message: l.FailureMessage,
		}
		for _, p := range l.Problems {
			r.Problems = append(r.Problems, source.ChallengeProblem{Identifier: p.Identifier, Type: p.Type, Detail: p.Detail})
		}
		for _, h := range l.HookFailures {
			r.Hooks = append(r.Hooks, h.Hook)
		}
		if l.Conf != nil {
			r.Server = l.Conf.Server
		}
		out.Renewals = append(out.Renewals, r)
		var attempts uint64
		for _, n := range l.Attempts {
			attempts += n
		}
		names = append(names, acmestate.Name{Renewal: r, Attempts: int(attempts), Failures: l.Failures})
	}
	out.Metrics = func(ch chan<- prometheus.Metric) {
		s.collect(ch)
		acmestate.Collect(ch, names)
	}
	return out
}

var (
	runsDesc = prometheus.NewDesc("certbot_runs_total",
		"Certbot runs seen since the exporter started (history replay included).", []string{"result"}, nil)
	hookFailureDesc = prometheus.NewDesc("certbot_hook_failure",
		"1 while the hook's latest run for the lineage failed; a failed deploy hook stands until a renewal whose deploy hook does not fail.", []string{"lineage", "hook"}, nil)
	lineageInfoDesc = prometheus.NewDesc("certbot_lineage_info",
		"The lineage's renewal configuration.", []string{"lineage", "domain", "server", "authenticator", "staging"}, nil)
	logLinesDesc = prometheus.NewDesc("cert_expiry_exporter_certbot_log_lines_total",
		"Lines read from the certbot log.", nil, nil)
	logBytesDesc = prometheus.NewDesc("cert_expiry_exporter_certbot_log_bytes_total",
		"Bytes read from the certbot log.", nil, nil)
	logUnparsedDesc = prometheus.NewDesc("cert_expiry_exporter_certbot_log_unparsed_records_total",
		"Certbot log records that did not start with a timestamp or were not understood.", nil, nil)
)

// collect emits the certbot families. The per-lineage renewal families are acmestate's;
// cert_renewal_failure, the client's runs
// (cert_renewal_client_*) and the health series are rendered with every source's (collector).
func (s *Snapshot) collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, r := range []string{"success", "failure"} {
		counter(runsDesc, s.Runs[r], r)
	}
	for _, l := range s.Lineages {
		failed := map[string]bool{}
		for _, h := range l.HookFailures {
			failed[h.Hook] = true
		}
		for _, hook := range hookKinds {
			if failed[hook] || l.Conf != nil && l.Conf.Hook(hook) != "" {
				gauge(hookFailureDesc, collector.Bool(failed[hook]), l.Name, hook)
			}
		}
		if l.Conf != nil {
			gauge(lineageInfoDesc, 1, l.Name, l.Domain, l.Conf.Server, l.Conf.Authenticator,
				strconv.FormatBool(l.Conf.Staging()))
		}
	}
	counter(logLinesDesc, s.LogLines)
	counter(logBytesDesc, s.LogBytes)
	counter(logUnparsedDesc, s.LogUnparsed)
}
