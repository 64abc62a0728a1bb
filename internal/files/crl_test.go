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
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
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

// TestCRLFilesSnapshot: the snapshot lists every CRL file of an entry with the entry's owner
// labels (on cert_crl_info, for the rules to join), each list's revoked entries counted; a file
// with a bad CRL block is listed with the block's error beside its good lists; a DER file that
// is no CRL is no CRL file. A CRL file that cannot be read any more (its symlink now dangles)
// stays listed, in error, for as long as it cannot be read, and comes back when it can.
func TestCRLFilesSnapshot(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("CRLSnap", now)
	crlPEM := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}) }
	inter := crlPEM(testcerts.CRL(pki.Intermediate, now.Add(-time.Hour), now.Add(23*time.Hour), big.NewInt(5), big.NewInt(6)))
	root := crlPEM(testcerts.CRL(pki.Root, now.Add(-24*time.Hour), now.Add(6*24*time.Hour)))
	garbage := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{0x30, 0x03, 1, 2, 3}})
	dir := t.TempDir()
	mustWrite := func(p string, data []byte) {
		t.Helper()
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(dir+"/bundle.pem.real", slices.Concat(inter, root))
	if err := os.Symlink(dir+"/bundle.pem.real", dir+"/bundle.pem"); err != nil {
		t.Fatal(err)
	}
	mustWrite(dir+"/half.pem", slices.Concat(root, garbage))
	mustWrite(dir+"/garbage.crl", []byte{0x30, 0x03, 1, 2, 3})
	mustWrite(dir+"/ca.pem", pki.Root.PEM())
	cfg, err := config.Parse(fmt.Appendf(nil, "files:\n  - paths: [%q, %q]\n    labels: {team: pki, env: prod}\n", dir+"/*.pem", dir+"/*.crl"))
	if err != nil {
		t.Fatal(err)
	}
	src := files.New(cfg.Files, "", slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now))
	describe := func(crls []source.CRLFile) string {
		var b strings.Builder
		for _, f := range crls {
			fmt.Fprintf(&b, "%s %v error=%q:", strings.TrimPrefix(f.Path, dir), f.Labels, f.Error)
			for _, c := range f.CRLs {
				fmt.Fprintf(&b, " [%s %s %s %d]", c.Issuer, c.ThisUpdate.Format(time.RFC3339), c.NextUpdate.Format(time.RFC3339), c.Entries)
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	healthy := `/bundle.pem [{env prod} {team pki}] error="": [CRLSnap Intermediate CA 2026-12-03T11:00:00Z 2026-12-04T11:00:00Z 2] [CRLSnap Root CA 2026-12-02T12:00:00Z 2026-12-09T12:00:00Z 0]
/half.pem [{env prod} {team pki}] error="PEM block 1 (X509 CRL): x509: malformed tbs crl": [CRLSnap Root CA 2026-12-02T12:00:00Z 2026-12-09T12:00:00Z 0]
`
	snap := src.Once(context.Background())
	if got := describe(snap.CRLs); got != healthy {
		t.Errorf("CRL files:\n%s\nwant:\n%s", got, healthy)
	}
	ts := func(d time.Duration) float64 { return float64(now.Add(d).Unix()) }
	want := fmt.Sprintf(`# HELP cert_crl_info A stored CRL with the owner labels of its files: entry, for the rules to join; always 1.
# TYPE cert_crl_info gauge
cert_crl_info{env="prod",index="0",issuer="CRLSnap Intermediate CA",path="%[1]s/bundle.pem",team="pki"} 1
cert_crl_info{env="prod",index="1",issuer="CRLSnap Root CA",path="%[1]s/bundle.pem",team="pki"} 1
cert_crl_info{env="prod",index="0",issuer="CRLSnap Root CA",path="%[1]s/half.pem",team="pki"} 1
# HELP cert_crl_next_update_timestamp_seconds A stored CRL's nextUpdate (by when its issuer publishes the next one) as a Unix timestamp; absent when it has none.
# TYPE cert_crl_next_update_timestamp_seconds gauge
cert_crl_next_update_timestamp_seconds{index="0",issuer="CRLSnap Intermediate CA",path="%[1]s/bundle.pem"} %[2]v
cert_crl_next_update_timestamp_seconds{index="1",issuer="CRLSnap Root CA",path="%[1]s/bundle.pem"} %[3]v
cert_crl_next_update_timestamp_seconds{index="0",issuer="CRLSnap Root CA",path="%[1]s/half.pem"} %[3]v
`, dir, ts(23*time.Hour), ts(6*24*time.Hour))
	if err := testutil.CollectAndCompare(filesCollector{snap, now}, strings.NewReader(want), "cert_crl_info", "cert_crl_next_update_timestamp_seconds"); err != nil {
		t.Error(err)
	}

	// The bundle's target is renamed away: the link dangles. Twice, as the watcher's scans.
	if err := os.Rename(dir+"/bundle.pem.real", dir+"/bundle.old"); err != nil {
		t.Fatal(err)
	}
	broken := fmt.Sprintf(`/bundle.pem [{env prod} {team pki}] error="symlink target %s/bundle.pem.real does not exist":
/half.pem [{env prod} {team pki}] error="PEM block 1 (X509 CRL): x509: malformed tbs crl": [CRLSnap Root CA 2026-12-02T12:00:00Z 2026-12-09T12:00:00Z 0]
`, dir)
	for i := range 2 {
		if got := describe(src.Once(context.Background()).CRLs); got != broken {
			t.Errorf("scan %d with the link dangling:\n%s\nwant:\n%s", i, got, broken)
		}
	}
	if err := os.Rename(dir+"/bundle.old", dir+"/bundle.pem.real"); err != nil {
		t.Fatal(err)
	}
	if got := describe(src.Once(context.Background()).CRLs); got != healthy {
		t.Errorf("after the link's target is back:\n%s\nwant:\n%s", got, healthy)
	}
}
