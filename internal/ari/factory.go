package ari

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Factory is the ARI source: it asks the CAs about the certificates the other sources found on
// disk whose CA is known, from a renewal client's record of its server (certbot lineages, with
// ari.enabled) or from ari.directories.
var Factory = source.Factory{
	Name:    "ari",
	Derived: true,
	Part: func(cfg *config.Config) (any, bool) {
		return cfg.ARI, len(cfg.Files) > 0 && ((*cfg.ARI.Enabled && cfg.Certbot != nil) || len(cfg.ARI.Directories) > 0)
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		ariCfg := cfg.ARI
		subjects := func() []subject { return subjectsOf(env.Others(), ariCfg, env.Clock.Now()) }
		s := newSource(subjects, options{HTTPClient: &http.Client{Transport: newTransport(ariCfg.TLSConfig)}}, env.Logger, env.Clock)
		if env.Prev != nil {
			if prev, ok := env.Prev.State.(*snapshot); ok && prev.cache != nil {
				s.carry(prev)
			}
		}
		return s
	},
}

// subjectsOf picks the subjects from the other sources' snapshots: their stored chains, and
// the ACME directory of each lineage a renewal client knows.
func subjectsOf(snaps []*source.Snapshot, cfg config.ARI, now time.Time) []subject {
	var chains []certs.Chain
	servers := map[string]string{}
	for _, s := range snaps {
		for _, c := range s.Chains {
			if c.Source != certs.SourceProbe {
				chains = append(chains, c)
			}
		}
		for _, r := range s.Renewals {
			if r.Server != "" {
				servers[r.Lineage] = r.Server
			}
		}
	}
	return subjects(chains, servers, cfg, now)
}

var (
	windowLabels = []string{"lineage", "domain", "serial"}
	startDesc    = prometheus.NewDesc("cert_ari_window_start_timestamp_seconds", "Start of the renewal window the CA suggests (ACME Renewal Information, RFC 9773).", windowLabels, nil)
	endDesc      = prometheus.NewDesc("cert_ari_window_end_timestamp_seconds", "End of the renewal window the CA suggests; in the past when the CA wants the certificate replaced now.", windowLabels, nil)
	infoDesc     = prometheus.NewDesc("cert_ari_info", "The CA's explanation URL for the renewal window; always 1.", append(append([]string{}, windowLabels...), "explanation_url"), nil)
)

// collect emits the suggested renewal window of every certificate the CA was asked about.
func (s *snapshot) collect(ch chan<- prometheus.Metric) {
	for _, w := range s.windows {
		l := []string{w.Lineage, w.Domain, w.Serial}
		ch <- prometheus.MustNewConstMetric(startDesc, prometheus.GaugeValue, collector.Unix(w.Start), l...)
		ch <- prometheus.MustNewConstMetric(endDesc, prometheus.GaugeValue, collector.Unix(w.End), l...)
		ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1, append(l, w.ExplanationURL)...)
	}
}
