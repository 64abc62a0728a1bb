package files_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
	// Two private key entries (keystore-go orders them by alias: api, then tomcat) and a
	// trusted root. api's chain lacks its intermediate: that tomcat's entry holds it does not
	// make api's verify.
	api := pki.Leaf(testcerts.Options{CN: "api.java.test", DNSNames: []string{"api.java.test"},
		NotBefore: now.Add(-88 * 24 * time.Hour), NotAfter: now.Add(2 * 24 * time.Hour)})
	ks := testcerts.JKS("changeit",
		testcerts.JKSEntry{Alias: "tomcat", Key: true, Chain: []*testcerts.Cert{leaf, pki.Intermediate}},
		testcerts.JKSEntry{Alias: "api", Key: true, Chain: []*testcerts.Cert{api}},
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

	// Each private key entry is a chain of its own, named by its alias (key), its leaf at
	// index 0 as any file's leaf is; the trusted entries are one more chain, a CA bundle (no
	// key). Each chain is verified on its own.
	type row struct {
		c     *testcerts.Cert
		key   string
		index int
		alias string
		info  []string
	}
	leafInfo := func(c *testcerts.Cert) []string {
		return []string{"eku", "server_auth,client_auth", "key_type", "ecdsa-p256", "sans", c.Cert.DNSNames[0],
			"signature_algorithm", "ECDSA-SHA256", "subject", "CN=" + c.Cert.Subject.CommonName}
	}
	caInfo := func(c *testcerts.Cert) []string {
		return []string{"eku", "any", "is_ca", "true", "key_type", "ecdsa-p256", "signature_algorithm", "ECDSA-SHA256",
			"subject", "CN=" + c.Cert.Subject.CommonName + ",O=Java"}
	}
	rows := []row{
		{api, "api", 0, "api", leafInfo(api)},
		{leaf, "tomcat", 0, "tomcat", leafInfo(leaf)}, {pki.Intermediate, "tomcat", 1, "tomcat", caInfo(pki.Intermediate)},
		{pki.Root, "", 0, "root", caInfo(pki.Root)},
	}
	loc := func(key string, extra ...string) []string {
		extra = append(extra, "path", good, "source", "file")
		if key != "" {
			extra = append(extra, "key", key)
		}
		return extra
	}
	lbl := func(r row, extra ...string) string {
		return sortedLabels(append(loc(r.key, "domain", r.c.Cert.Subject.CommonName, "index", fmt.Sprint(r.index),
			"issuer", r.c.Cert.Issuer.CommonName, "serial", r.c.Cert.SerialNumber.Text(16)), extra...)...)
	}
	ts := func(t time.Time) string { return fmt.Sprint(float64(t.Unix())) }
	family := func(name, help string, only func(row) bool, line func(row) string) string {
		var lines []string
		for _, r := range rows {
			if only(r) {
				lines = append(lines, line(r))
			}
		}
		slices.Sort(lines)
		return "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n" + strings.Join(lines, "")
	}
	first := func(r row) bool { return r.index == 0 }
	all := func(row) bool { return true }
	want := family("cert_chain_verified", "1 when the chain verifies, else 0, with the reason.", first,
		func(r row) string {
			if r.key == "api" {
				return "cert_chain_verified{" + sortedLabels(loc(r.key, "reason", "incomplete_chain")...) + "} 0\n"
			}
			return "cert_chain_verified{" + sortedLabels(loc(r.key, "reason", "ok")...) + "} 1\n"
		}) +
		family("cert_expiry_seconds", "Seconds until the certificate's NotAfter, computed at scrape time; negative when expired.", first,
			func(r row) string {
				return fmt.Sprintf("cert_expiry_seconds{%s} %v\n", lbl(r), r.c.Cert.NotAfter.Sub(now).Seconds())
			}) +
		family("cert_info", "Descriptive certificate data; always 1.", all,
			func(r row) string {
				return "cert_info{" + lbl(r, append([]string{"alias", r.alias}, r.info...)...) + "} 1\n"
			}) +
		family("cert_not_after_timestamp_seconds", "Certificate NotAfter as a Unix timestamp.", all,
			func(r row) string {
				return "cert_not_after_timestamp_seconds{" + lbl(r) + "} " + ts(r.c.Cert.NotAfter) + "\n"
			}) +
		family("cert_not_before_timestamp_seconds", "Certificate NotBefore as a Unix timestamp.", first,
			func(r row) string {
				return "cert_not_before_timestamp_seconds{" + lbl(r) + "} " + ts(r.c.Cert.NotBefore) + "\n"
			}) +
		fmt.Sprintf(`# HELP cert_expiry_exporter_file_error 1 per file (or glob, or directory) that currently cannot be read, with the reason.
# TYPE cert_expiry_exporter_file_error gauge
cert_expiry_exporter_file_error{path=%q,reason="io"} 1
cert_expiry_exporter_file_error{path=%q,reason="too_large"} 1
cert_expiry_exporter_file_error{path=%q,reason="parse"} 1
cert_expiry_exporter_file_error{path=%q,reason="password"} 1
cert_expiry_exporter_file_error{path=%q,reason="io"} 1
cert_expiry_exporter_file_error{path=%q,reason="password"} 1
`, fifo, huge, truncated, fifoPassKS, dir+"/pass.fifo", wrong)
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
