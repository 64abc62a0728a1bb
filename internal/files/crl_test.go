package files_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// TestCRLFiles scans real CRL files under a files: entry: an nginx ssl_crl bundle (PEM, one CRL
// per CA), a distribution point's DER download, a CA bundle with its CRL, a garbage CRL block
// and DER garbage. Each CRL is two series by file and position; the garbage is a parse error
// naming the file; a republished CRL keeps its series with the new times.
func TestCRLFiles(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("CRLFiles", now)
	crlPEM := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}) }
	inter := testcerts.CRL(pki.Intermediate, now.Add(-time.Hour), now.Add(23*time.Hour), big.NewInt(5))
	root := testcerts.CRL(pki.Root, now.Add(-24*time.Hour), now.Add(6*24*time.Hour))
	dir := t.TempDir()
	mustWrite := func(p string, data []byte) {
		t.Helper()
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(dir+"/nginx-crl.pem", slices.Concat(crlPEM(inter), crlPEM(root)))
	mustWrite(dir+"/root.crl", root)
	mustWrite(dir+"/ca-with-crl.pem", slices.Concat(pki.Root.PEM(), crlPEM(root)))
	mustWrite(dir+"/broken-crl.pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{0x30, 0x03, 1, 2, 3}}))
	mustWrite(dir+"/garbage.crl", []byte{0x30, 0x03, 1, 2, 3})

	cfg, err := config.Parse(fmt.Appendf(nil, "files:\n  - paths: [%q, %q]\n", dir+"/*.pem", dir+"/*.crl"))
	if err != nil {
		t.Fatal(err)
	}
	src := files.New(cfg.Files, "", slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now))
	ts := func(d time.Duration) float64 { return float64(now.Add(d).Unix()) }
	golden := func(interThis, interNext time.Duration) string {
		rootThis, rootNext := ts(-24*time.Hour), ts(6*24*time.Hour)
		return fmt.Sprintf(`# HELP cert_crl_next_update_timestamp_seconds A stored CRL's nextUpdate (by when its issuer publishes the next one) as a Unix timestamp; absent when it has none.
# TYPE cert_crl_next_update_timestamp_seconds gauge
cert_crl_next_update_timestamp_seconds{index="0",issuer="CRLFiles Root CA",path="%[1]s/ca-with-crl.pem"} %[3]v
cert_crl_next_update_timestamp_seconds{index="0",issuer="CRLFiles Intermediate CA",path="%[1]s/nginx-crl.pem"} %[5]v
cert_crl_next_update_timestamp_seconds{index="1",issuer="CRLFiles Root CA",path="%[1]s/nginx-crl.pem"} %[3]v
cert_crl_next_update_timestamp_seconds{index="0",issuer="CRLFiles Root CA",path="%[1]s/root.crl"} %[3]v
# HELP cert_crl_this_update_timestamp_seconds A stored CRL's thisUpdate (when it was published) as a Unix timestamp.
# TYPE cert_crl_this_update_timestamp_seconds gauge
cert_crl_this_update_timestamp_seconds{index="0",issuer="CRLFiles Root CA",path="%[1]s/ca-with-crl.pem"} %[2]v
cert_crl_this_update_timestamp_seconds{index="0",issuer="CRLFiles Intermediate CA",path="%[1]s/nginx-crl.pem"} %[4]v
cert_crl_this_update_timestamp_seconds{index="1",issuer="CRLFiles Root CA",path="%[1]s/nginx-crl.pem"} %[2]v
cert_crl_this_update_timestamp_seconds{index="0",issuer="CRLFiles Root CA",path="%[1]s/root.crl"} %[2]v
# HELP cert_expiry_exporter_file_error 1 per file (or glob, or directory) that currently cannot be read, with the reason.
# TYPE cert_expiry_exporter_file_error gauge
cert_expiry_exporter_file_error{path="%[1]s/broken-crl.pem",reason="parse"} 1
cert_expiry_exporter_file_error{path="%[1]s/garbage.crl",reason="parse"} 1
`, dir, rootThis, rootNext, ts(interThis), ts(interNext))
	}
	families := []string{"cert_crl_this_update_timestamp_seconds", "cert_crl_next_update_timestamp_seconds", "cert_expiry_exporter_file_error"}
	snap := src.Once(context.Background())
	if err := testutil.CollectAndCompare(filesCollector{snap, now}, strings.NewReader(golden(-time.Hour, 23*time.Hour)), families...); err != nil {
		t.Error(err)
	}
	if !snap.Status[0].Up {
		t.Errorf("entry down: %+v (CRL files are files it could read)", snap.Status[0])
	}
	problems := map[string]string{}
	for _, p := range snap.Problems {
		problems[strings.TrimPrefix(p.Where, dir)] = p.Message
	}
	if m := problems["/broken-crl.pem"]; !strings.Contains(m, "PEM block 0 (X509 CRL)") {
		t.Errorf("broken CRL's problem %q does not name its block", m)
	}

	// The intermediate's CRL is republished (the cron job of the CA): same series, new times.
	mustWrite(dir+"/nginx-crl.pem", slices.Concat(crlPEM(testcerts.CRL(pki.Intermediate, now, now.Add(24*time.Hour))), crlPEM(root)))
	snap = src.Once(context.Background())
	if err := testutil.CollectAndCompare(filesCollector{snap, now}, strings.NewReader(golden(0, 24*time.Hour)), families...); err != nil {
		t.Error(err)
	}
}
