package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/ari"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

var ariLabels = []string{"lineage", "domain", "serial"}

var (
	ariStart = prometheus.NewDesc("cert_ari_window_start_timestamp_seconds", "Start of the renewal window the CA suggests (ACME Renewal Information, RFC 9773).", ariLabels, nil)
	ariEnd   = prometheus.NewDesc("cert_ari_window_end_timestamp_seconds", "End of the renewal window the CA suggests; in the past when the CA wants the certificate replaced now.", ariLabels, nil)
	ariInfo  = prometheus.NewDesc("cert_ari_info", "The CA's explanation URL for the renewal window; always 1.", append(append([]string{}, ariLabels...), "explanation_url"), nil)
)

// collectARI emits the suggested renewal window of every certificate the CA was asked about.
func collectARI(ch chan<- prometheus.Metric, s *ari.Snapshot) {
	for _, w := range s.Windows {
		l := []string{w.Lineage, w.Domain, w.Serial}
		ch <- prometheus.MustNewConstMetric(ariStart, prometheus.GaugeValue, unix(w.Start), l...)
		ch <- prometheus.MustNewConstMetric(ariEnd, prometheus.GaugeValue, unix(w.End), l...)
		ch <- prometheus.MustNewConstMetric(ariInfo, prometheus.GaugeValue, 1, append(l, w.ExplanationURL)...)
	}
}

// joins are what other sources add to a certificate's series: the CA's ARI window start as
// the renewal point, and staging from the certbot lineage's renewal server. The zero value
// adds nothing.
type joins struct {
	ari     *ari.Snapshot
	staging map[string]bool // certbot lineages that renew against a staging CA
	// written: the chains are written by WriteChains, collectChains emits nothing.
	written bool
}

// isStaging: a staging issuer, or a file of a lineage whose renewal server is a staging CA.
func (j joins) isStaging(x certs.Cert, loc certs.Location) bool {
	return x.Staging || (loc.Source == certs.SourceFile && j.staging[loc.Lineage])
}
