package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
)

// Registry holds every series of /metrics through the registry path alone (the handler also
// streams the certificate series itself), for tests that gather instead of scraping.
func (e *Exporter) Registry() *prometheus.Registry {
	return e.registry(collector.New(e.store, e.now))
}
