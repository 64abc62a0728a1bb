package ari

import (
	"net/http"
	"time"

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
// the ACME directory of each lineage a renewal client knows. A chain whose leaf's window a
// renewal client keeps itself (Caddy stores the CA's answer beside the certificate) is not
// asked about again.
func subjectsOf(snaps []*source.Snapshot, cfg config.ARI, now time.Time) []subject {
	var chains []certs.Chain
	servers := map[string]string{}
	known := map[certs.Key]bool{}
	for _, s := range snaps {
		for _, w := range s.Windows {
			known[w.Cert] = true
		}
	}
	for _, s := range snaps {
		for _, c := range s.Chains {
			if c.Source != certs.SourceProbe && (len(c.Certs) == 0 || !known[c.Certs[0].Key()]) {
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
