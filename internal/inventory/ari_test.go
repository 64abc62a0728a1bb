package inventory

import (
	"reflect"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certbot"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

func TestLineageJoins(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Join", now)
	leaf := func(name string) certs.Cert {
		return certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{name}, Now: now}).Cert)
	}
	v := View{
		Certbot: &certbot.Snapshot{Lineages: []certbot.Lineage{
			{Name: "prod", Conf: &certbot.RenewalConf{Server: "https://acme-v02.api.letsencrypt.org/directory"}},
			{Name: "stg", Conf: &certbot.RenewalConf{Server: "https://acme-staging-v02.api.letsencrypt.org/directory"}},
			{Name: "pebble", Conf: &certbot.RenewalConf{Server: "https://127.0.0.1:14000/dir"}},
			{Name: "noconf"},
		}},
		Files: &files.Snapshot{Chains: []certs.Chain{
			{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/letsencrypt/live/prod/cert.pem", Lineage: "prod"}, Certs: []certs.Cert{leaf("prod.example")}},
			{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/letsencrypt/live/noconf/cert.pem", Lineage: "noconf"}, Certs: []certs.Cert{leaf("noconf.example")}},
		}},
	}
	if got, want := v.StagingLineages(), map[string]bool{"stg": true, "pebble": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("StagingLineages = %v, want %v", got, want)
	}
	on := true
	subs := v.ARISubjects(config.ARI{Enabled: &on}, now)
	if len(subs) != 1 || subs[0].Lineage != "prod" || subs[0].Directory != "https://acme-v02.api.letsencrypt.org/directory" {
		t.Errorf("ARISubjects = %+v", subs)
	}
	if (View{}).StagingLineages() != nil || (View{}).ARISubjects(config.ARI{Enabled: &on}, now) != nil {
		t.Error("empty view: joins not empty")
	}
}
