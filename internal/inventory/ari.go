package inventory

import (
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/ari"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// ARISubjects is the certificates the ARI source asks about: the local files whose CA is
// known from ari.directories or from their certbot lineage's renewal conf server.
func (v View) ARISubjects(cfg config.ARI, now time.Time) []ari.Subject {
	if v.Files == nil {
		return nil
	}
	return ari.Subjects(v.Files.Chains, v.lineageServers(), cfg, now)
}

// lineageServers maps each certbot lineage to the ACME directory of its renewal conf.
func (v View) lineageServers() map[string]string {
	if v.Certbot == nil {
		return nil
	}
	out := make(map[string]string, len(v.Certbot.Lineages))
	for _, l := range v.Certbot.Lineages {
		if l.Conf != nil && l.Conf.Server != "" {
			out[l.Name] = l.Conf.Server
		}
	}
	return out
}

// StagingLineages lists the certbot lineages that renew against a staging or test CA
// (certs.IsStagingDirectory of the renewal conf server): their files' certificates are staging
// certificates whatever their issuer says.
func (v View) StagingLineages() map[string]bool {
	var out map[string]bool
	for name, server := range v.lineageServers() {
		if certs.IsStagingDirectory(server) {
			if out == nil {
				out = map[string]bool{}
			}
			out[name] = true
		}
	}
	return out
}
