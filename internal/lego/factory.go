package lego

import (
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
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
