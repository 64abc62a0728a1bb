package files_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// TestKeystoreGolden scans Java keystores through a files: entry with a password_file, next to
// the ways they go wrong (truncated, too large, a FIFO, a wrong password, a password file that
// is a FIFO), and compares the exact exposition and the log lines: every certificate of the
// good keystore with its entry's alias, one error series naming each bad file, nothing blocked.
func TestKeystoreGolden(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	pki := testcerts.NewPKI("Java", now)
	leaf := pki.Leaf(testcerts.Options{CN: "java.test", DNSNames: []string{"java.test"},
		NotBefore: now.Add(-60 * 24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)})
	dir := t.TempDir()
	mustWrite := func(p string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mkfifo := func(p string) {
		t.Helper()
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ks := testcerts.JKS("changeit",
		testcerts.JKSEntry{Alias: "tomcat", Key: true, Chain: []*testcerts.Cert{leaf, pki.Intermediate}},
		testcerts.JKSEntry{Alias: "root", Chain: []*testcerts.Cert{pki.Root}})
	good, truncated, huge, fifo := dir+"/app/keystore.jks", dir+"/app/truncated.jks", dir+"/app/huge.jks", dir+"/app/fifo.jks"
	mustWrite(good, ks)
	mustWrite(truncated, ks[:len(ks)/2])
	mustWrite(huge, append(ks[:4:4], make([]byte, 70_000)...))
	mkfifo(fifo)
	mustWrite(dir+"/root.pem", pki.Root.PEM())
	mustWrite(dir+"/app.pass", []byte("changeit\n"))
	wrong, fifoPassKS := dir+"/trust/truststore.jks", dir+"/other/keystore.jks"
	mustWrite(wrong, testcerts.JKS("secret", testcerts.JKSEntry{Alias: "root", Chain: []*testcerts.Cert{pki.Root}}))
	mustWrite(dir+"/wrong.pass", []byte("changeit\n"))
	mustWrite(fifoPassKS, ks)
	mkfifo(dir + "/pass.fifo")

	cfg, err := config.Parse(fmt.Appendf(nil, `
files:
  - paths: [%[1]q]
    password_file: %[2]q
    ca_file: %[3]q
    max_file_size: 65536
  - paths: [%[4]q]
    password_file: %[5]q
  - paths: [%[6]q]
    password_file: %[7]q
`, dir+"/app/*.jks", dir+"/app.pass", dir+"/root.pem", wrong, dir+"/wrong.pass", fifoPassKS, dir+"/pass.fifo"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testwait.Buffer{}
	src := files.New(cfg.Files, "", slog.New(slog.NewTextHandler(logs, nil)), clockwork.NewFakeClockAt(now))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	snap := src.Once(ctx)
	if ctx.Err() != nil {
		t.Fatal("the scan blocked")
	}

	lbl := func(c *testcerts.Cert, idx int, extra ...string) string {
		return sortedLabels(append([]string{"domain", c.Cert.Subject.CommonName, "index", fmt.Sprint(idx),
			"issuer", c.Cert.Issuer.CommonName, "path", good,
			"serial", c.Cert.SerialNumber.Text(16), "source", "file"}, extra...)...)
	}
	ts := func(t time.Time) string { return fmt.Sprint(float64(t.Unix())) }
	l := leaf.Cert
	// The keystore is one chain, its key entry's first (leaf, intermediate), then the trusted
	// root: verified like a fullchain file, each certificate's cert_info naming its alias.
	want := fmt.Sprintf(`
# HELP cert_chain_verified 1 when the chain verifies, else 0, with the reason.
# TYPE cert_chain_verified gauge
cert_chain_verified{%s} 1
# HELP cert_expiry_seconds Seconds until the certificate's NotAfter, computed at scrape time; negative when expired.
# TYPE cert_expiry_seconds gauge
cert_expiry_seconds{%[2]s} %[3]s
# HELP cert_info Descriptive certificate data; always 1.
# TYPE cert_info gauge
cert_info{%[4]s} 1
cert_info{%[5]s} 1
cert_info{%[6]s} 1
# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
cert_not_after_timestamp_seconds{%[2]s} %[7]s
cert_not_after_timestamp_seconds{%[8]s} %[9]s
cert_not_after_timestamp_seconds{%[10]s} %[11]s
# HELP cert_not_before_timestamp_seconds Certificate NotBefore as a Unix timestamp.
# TYPE cert_not_before_timestamp_seconds gauge
cert_not_before_timestamp_seconds{%[2]s} %[12]s
# HELP cert_expiry_exporter_file_error 1 per file (or glob, or directory) that currently cannot be read, with the reason.
# TYPE cert_expiry_exporter_file_error gauge
cert_expiry_exporter_file_error{path=%[13]q,reason="io"} 1
cert_expiry_exporter_file_error{path=%[14]q,reason="too_large"} 1
cert_expiry_exporter_file_error{path=%[15]q,reason="parse"} 1
cert_expiry_exporter_file_error{path=%[16]q,reason="password"} 1
cert_expiry_exporter_file_error{path=%[17]q,reason="io"} 1
cert_expiry_exporter_file_error{path=%[18]q,reason="password"} 1
`, sortedLabels("path", good, "reason", "ok", "source", "file"),
		lbl(leaf, 0), fmt.Sprint(l.NotAfter.Sub(now).Seconds()),
		lbl(leaf, 0, "alias", "tomcat", "eku", "server_auth,client_auth", "key_type", "ecdsa-p256", "sans", "java.test",
			"signature_algorithm", "ECDSA-SHA256", "subject", "CN=java.test"),
		lbl(pki.Intermediate, 1, "alias", "tomcat", "eku", "any", "is_ca", "true", "key_type", "ecdsa-p256",
			"signature_algorithm", "ECDSA-SHA256", "subject", "CN=Java Intermediate CA,O=Java"),
		lbl(pki.Root, 2, "alias", "root", "eku", "any", "is_ca", "true", "key_type", "ecdsa-p256",
			"signature_algorithm", "ECDSA-SHA256", "subject", "CN=Java Root CA,O=Java"),
		ts(l.NotAfter), lbl(pki.Intermediate, 1), ts(pki.Intermediate.Cert.NotAfter), lbl(pki.Root, 2), ts(pki.Root.Cert.NotAfter),
		ts(l.NotBefore),
		fifo, huge, truncated, fifoPassKS, dir+"/pass.fifo", wrong)
	if err := testutil.CollectAndCompare(filesCollector{snap, now}, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	for _, p := range []string{fifo, huge, truncated, fifoPassKS, dir + "/pass.fifo", wrong} {
		if n := strings.Count(logs.String(), "path="+p+" "); n != 1 {
			t.Errorf("%d log lines about %s, want 1:\n%s", n, p, logs)
		}
	}
	for _, p := range snap.Problems {
		if p.Where == wrong && p.Message != "JKS: wrong or missing password, or the keystore was altered (integrity check failed)" {
			t.Errorf("wrong password problem: %q", p.Message)
		}
	}
}
