package lego

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/acmestate"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Factory is the `lego:` source.
var Factory = source.Factory{
	Name: "lego",
	Part: func(cfg *config.Config) (any, bool) {
		return []config.Lego(cfg.Lego), len(cfg.Lego) > 0
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		return newSource(cfg.Lego, env.Logger, env.Clock)
	},
}

// metrics emits the per-name families lego shares with Caddy and the store's file errors;
// cert_renewal_failure, the client runs and the health series come with every source's.
func metrics(names []acmestate.Name, fileErrs []files.FileError) func(ch chan<- prometheus.Metric) {
	errs := files.ErrorMetrics(fileErrs)
	return func(ch chan<- prometheus.Metric) {
		acmestate.Collect(ch, names)
		if errs != nil {
			errs(ch)
		}
	}
}
