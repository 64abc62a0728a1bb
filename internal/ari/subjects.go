package ari

import (
	"sort"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// subjects picks the certificates to ask about from the local files: the leaf of each file
// whose ACME directory is known, from ari.directories (first matching entry wins) or, when
// ari.enabled, from the certbot lineage's renewal conf server (servers: lineage → URL).
// Expired certificates and certificates without an authority key identifier are skipped: a
// CA has nothing to suggest for them. The result is sorted and has one entry per directory and
// certificate, preferring the entry that names a lineage.
func subjects(chains []certs.Chain, servers map[string]string, cfg config.ARI, now time.Time) []subject {
	byKey := map[cacheKey]int{}
	var out []subject
	for i := range chains {
		ch := &chains[i]
		if ch.Source == certs.SourceProbe || len(ch.Certs) == 0 {
			continue
		}
		leaf := ch.Certs[0]
		if leaf.IsCA || !now.Before(leaf.NotAfter) {
			continue
		}
		dir := directoryFor(ch.Location, servers, cfg)
		if dir == "" {
			continue
		}
		id, err := CertID(leaf)
		if err != nil {
			continue
		}
		k := cacheKey{dir, id}
		if j, ok := byKey[k]; ok {
			if out[j].Lineage == "" {
				out[j].Lineage = ch.Lineage
			}
			continue
		}
		byKey[k] = len(out)
		out = append(out, subject{Cert: leaf, Lineage: ch.Lineage, Directory: dir, ID: id})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Directory != out[j].Directory {
			return out[i].Directory < out[j].Directory
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func directoryFor(loc certs.Location, servers map[string]string, cfg config.ARI) string {
	for _, d := range cfg.Directories {
		for _, p := range d.Paths {
			if config.MatchGlob(p, loc.Path) {
				return d.Directory.URL.String()
			}
		}
	}
	if loc.Lineage != "" && cfg.Enabled != nil && *cfg.Enabled {
		return servers[loc.Lineage]
	}
	return ""
}
