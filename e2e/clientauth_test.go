//go:build e2e

package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// Scenario 17: an mTLS client's certificate is renewed without clientAuth (Let's Encrypt's
// classic profile since 2026-02-11). Real nginx requiring client certificates accepts the old
// certificate and refuses the renewed one; the exporter, watching the client's file as a
// `usage: client` entry, pages CertificateClientAuthMissing for the renewed one.
func TestScenario17ClientAuthMissing(t *testing.T) {
	t.Parallel()
	const sc = "s17-client-auth"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	server := leaf(pki, "s17.e2e.test", now, -day, 90*day)
	writeFile(t, filepath.Join(dir, "server.pem"), testcerts.Bundle(server, pki.Intermediate))
	writeFile(t, filepath.Join(dir, "server.key"), server.KeyPEM())
	const client = "s17-client.e2e.test"
	old := pki.Leaf(testcerts.Options{CN: client, Now: now, NotBefore: now.Add(-60 * day), NotAfter: now.Add(30 * day),
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	renewed := pki.Leaf(testcerts.Options{CN: client, Now: now, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * day),
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	port := freePort(t)
	addr := loopbackAddr("127.0.0.1", port)
	startNginx(t, testDir(t, sc+"-nginx"), nginxSite{listen: addr, cert: filepath.Join(dir, "server.pem"), key: filepath.Join(dir, "server.key"), clientCA: ca})
	get := func(c *testcerts.Cert) int {
		t.Helper()
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pki.Pool(), ServerName: "s17.e2e.test", Certificates: []tls.Certificate{c.TLS(pki.Intermediate)}}}}
		resp, err := hc.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(old); code != http.StatusOK {
		t.Fatalf("nginx answered the client certificate with clientAuth with %d, want 200", code)
	}
	if code := get(renewed); code != http.StatusBadRequest {
		t.Fatalf("nginx answered the client certificate without clientAuth with %d, want 400 (refused)", code)
	}

	clientFile := filepath.Join(dir, "client.pem")
	writeFile(t, clientFile, testcerts.Bundle(old, pki.Intermediate))
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
    usage: client
`, clientFile, ca), exporterOpts{})
	// Registered under the directory's unique name: a repeated run (-count) must not meet the
	// alert of the one before, which keeps firing for keep_firing_for.
	job := filepath.Base(dir)
	s.register(t, job, e)
	fault := time.Now()
	writeAtomic(t, clientFile, testcerts.Bundle(renewed, pki.Intermediate))
	wants := []want{{"CertificateClientAuthMissing", map[string]string{"severity": "critical", "domain": client, "policy": "client_auth", "serial": renewed.Cert.SerialNumber.Text(16)}}}
	seen := s.expectAlerts(t, job, wants)
	recordAll(sc, wants, seen, fault, renewed.Cert.NotAfter)
}
