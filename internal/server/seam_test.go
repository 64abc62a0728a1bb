package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/check"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/server"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// vaultSource is a source that exists only in this test: it "reads" one certificate from an
// imaginary vault and reports one renewal failure. That it shows on /metrics, on the
// inventory and in check proves that the registry alone wires a source in.
type vaultSource struct {
	snap *source.Snapshot
}

func (v vaultSource) Run(ctx context.Context, publish func(*source.Snapshot)) {
	publish(v.snap)
	<-ctx.Done()
}

func (v vaultSource) Once(context.Context) *source.Snapshot { return v.snap }

var vaultUp = prometheus.NewDesc("vault_source_up", "The test source's own family.", nil, nil)

func vaultFactory(now time.Time) source.Factory {
	pki := testcerts.NewPKI("Vault", now)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"vault.test"}, Now: now, NotBefore: now.Add(-88 * 24 * time.Hour), NotAfter: now.Add(2 * 24 * time.Hour)})
	snap := &source.Snapshot{
		Chains: []certs.Chain{{
			Location: certs.Location{Source: "vault", Path: "secret/vault.test", Lineage: "vault.test"},
			Certs:    []certs.Cert{certs.New(leaf.Cert)},
			Verify:   certs.VerifyResult{Reason: certs.ReasonOK, ChainExpiry: leaf.Cert.NotAfter},
		}},
		Renewals: []source.Renewal{{Client: "vault", Lineage: "vault.test", Domain: "vault.test", LastAttempt: now, Reason: "dns"}},
		Status:   []source.Status{{Source: "vault", Name: "secret/", Up: true, LastSuccess: now, Errors: source.NewErrors("io")}},
		Metrics: func(ch chan<- prometheus.Metric) {
			ch <- prometheus.MustNewConstMetric(vaultUp, prometheus.GaugeValue, 1)
		},
	}
	return source.Factory{
		Name: "vault",
		Part: func(*config.Config) (any, bool) { return nil, true },
		New:  func(*config.Config, source.Env) source.Source { return vaultSource{snap} },
	}
}

func TestRegistryAloneAddsASource(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	sources := source.Registry{vaultFactory(now)}
	cfgPath := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(cfgPath, []byte("drift: {grace_period: 1h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(now)
	e, err := server.New(server.ConfigSource{File: cfgPath}, sources, slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h := e.Handler(server.HTTPOptions{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	get := func(path string) string {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	testwait.For(t, "ready", func() bool { return strings.HasPrefix(get("/-/ready"), "Ready") })
	metrics := get("/metrics")
	for _, want := range []string{
		`cert_expiry_seconds{domain="vault.test",index="0",issuer="Vault Intermediate CA",lineage="vault.test",path="secret/vault.test",serial=`,
		`cert_renewal_failure{client="vault",domain="vault.test",lineage="vault.test",reason="dns"} 1`,
		`cert_expiry_exporter_source_up{name="secret/",source="vault"} 1`,
		`cert_expiry_exporter_errors_total{reason="io",source="vault"} 0`,
		"\nvault_source_up 1\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	page := get("/certificates.json")
	if !strings.Contains(page, `"path": "secret/vault.test"`) || !strings.Contains(page, `"renewal failed: dns"`) {
		t.Errorf("/certificates.json lacks the vault certificate or its renewal:\n%s", page)
	}

	cfg, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := check.Judge(inventory.Build(check.Collect(context.Background(), cfg, sources, slog.New(slog.DiscardHandler), clock), now, inventory.DefaultThresholds), false)
	if len(r.Certificates) != 1 || r.Certificates[0].Path != "secret/vault.test" || r.ExitCode != check.StatusCritical {
		t.Errorf("check: exit %d, rows %+v", r.ExitCode, r.Certificates)
	}
}
