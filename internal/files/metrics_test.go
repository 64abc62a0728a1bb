package files_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// filesCollector renders what the files source published: its chains and its own series.
type filesCollector struct {
	snap *source.Snapshot
	now  time.Time
}

func (filesCollector) Describe(chan<- *prometheus.Desc) {}

func (c filesCollector) Collect(ch chan<- prometheus.Metric) {
	collector.Chains{Chains: c.snap.Chains, Now: c.now}.Collect(ch)
	c.snap.Metrics(ch)
}

// TestFilesGolden scans a small tree of real files (a certbot lineage verified against a
// ca_file, a garbage file, a glob matching nothing) and compares the exact exposition.
func TestFilesGolden(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	pki := testcerts.NewPKI("Golden", now)
	leaf := pki.Leaf(testcerts.Options{CN: "golden.test", DNSNames: []string{"golden.test", "www.golden.test"},
		NotBefore: now.Add(-60 * 24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)})
	dir := t.TempDir()
	mustWrite := func(p string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	full := dir + "/letsencrypt/live/golden.test/fullchain.pem"
	mustWrite(full, testcerts.Bundle(leaf, pki.Intermediate))
	mustWrite(dir+"/root.pem", pki.Root.PEM())
	mustWrite(dir+"/other/broken.pem", []byte("garbage"))

	cfg, err := config.Parse([]byte(fmt.Sprintf(`
files:
  - paths: [%[1]q]
    ca_file: %[2]q
  - paths: [%[3]q, %[4]q]
`, dir+"/letsencrypt/live/*/fullchain.pem", dir+"/root.pem", dir+"/other/*.pem", dir+"/nothing/*.pem")))
	if err != nil {
		t.Fatal(err)
	}
	src := files.New(cfg.Files, dir+"/letsencrypt", slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now))
	snap := src.Once(context.Background())

	l, i := leaf.Cert, pki.Intermediate.Cert
	certLbl := func(c *testcerts.Cert, idx int, extra ...string) string {
		return sortedLabels(append([]string{"domain", c.Cert.Subject.CommonName, "index", fmt.Sprint(idx),
			"issuer", c.Cert.Issuer.CommonName, "lineage", "golden.test", "path", full,
			"serial", c.Cert.SerialNumber.Text(16), "source", "file"}, extra...)...)
	}
	lbl := func(c *testcerts.Cert, idx int) string { return certLbl(c, idx) }
	ts := func(t time.Time) string { return fmt.Sprint(float64(t.Unix())) }
	secs := func(d time.Duration) string { return fmt.Sprint(d.Seconds()) }
	verifiedLbl := sortedLabels("lineage", "golden.test", "path", full, "reason", "ok", "source", "file")
	// The chain expires with its leaf: no cert_chain_expiry_timestamp_seconds. The
	// intermediate has only its NotAfter and cert_info; false flags are left out.
	want := fmt.Sprintf(`
# HELP cert_chain_verified 1 when the chain verifies, else 0, with the reason.
# TYPE cert_chain_verified gauge
cert_chain_verified{%[9]s} 1
# HELP cert_expiry_seconds Seconds until the certificate's NotAfter, computed at scrape time; negative when expired.
# TYPE cert_expiry_seconds gauge
cert_expiry_seconds{%[1]s} %[4]s
# HELP cert_info Descriptive certificate data; always 1.
# TYPE cert_info gauge
cert_info{%[10]s} 1
cert_info{%[11]s} 1
# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
cert_not_after_timestamp_seconds{%[1]s} %[3]s
cert_not_after_timestamp_seconds{%[2]s} %[5]s
# HELP cert_not_before_timestamp_seconds Certificate NotBefore as a Unix timestamp.
# TYPE cert_not_before_timestamp_seconds gauge
cert_not_before_timestamp_seconds{%[1]s} %[6]s
# HELP cert_expiry_exporter_file_error 1 per file (or glob, or directory) that currently cannot be read, with the reason.
# TYPE cert_expiry_exporter_file_error gauge
cert_expiry_exporter_file_error{path=%[7]q,reason="parse"} 1
cert_expiry_exporter_file_error{path=%[8]q,reason="no_match"} 1
`, lbl(leaf, 0), lbl(pki.Intermediate, 1), ts(l.NotAfter),
		secs(l.NotAfter.Sub(now)),
		ts(i.NotAfter), ts(l.NotBefore),
		dir+"/other/broken.pem", dir+"/nothing/*.pem", verifiedLbl,
		certLbl(leaf, 0, "eku", "server_auth,client_auth", "key_type", "ecdsa-p256", "sans", "golden.test,www.golden.test",
			"signature_algorithm", "ECDSA-SHA256", "subject", "CN=golden.test"),
		certLbl(pki.Intermediate, 1, "eku", "any", "is_ca", "true", "key_type", "ecdsa-p256",
			"signature_algorithm", "ECDSA-SHA256", "subject", "CN=Golden Intermediate CA,O=Golden"))
	if err := testutil.CollectAndCompare(filesCollector{snap, now}, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// sortedLabels renders name, value pairs in name order, as the exposition format has them.
func sortedLabels(kv ...string) string {
	idx := make([]int, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return kv[idx[a]] < kv[idx[b]] })
	parts := make([]string, len(idx))
	for n, i := range idx {
		parts[n] = fmt.Sprintf("%s=%q", kv[i], kv[i+1])
	}
	return strings.Join(parts, ",")
}
