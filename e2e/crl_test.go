//go:build e2e

package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// Scenario 19: the CRL file a server checks client certificates against goes stale. Real nginx
// with ssl_verify_client and ssl_crl accepts the client while its CRLs are fresh; the CRL
// publisher then leaves an intermediate's CRL past its nextUpdate in the file and nginx, reloaded,
// refuses every client certificate of that intermediate. The exporter watches the file under
// files: and CertificateRevocationListStale names it, with the entry's owner label.
func TestScenario19CRLStale(t *testing.T) {
	t.Parallel()
	const sc = "s19-crl-stale"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	server := leaf(pki, "s19.e2e.test", now, -day, 90*day)
	writeFile(t, filepath.Join(dir, "server.pem"), testcerts.Bundle(server, pki.Intermediate))
	writeFile(t, filepath.Join(dir, "server.key"), server.KeyPEM())
	client := pki.Leaf(testcerts.Options{CN: "s19-client.e2e.test", Now: now, ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	crlPEM := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}) }
	rootCRL := crlPEM(testcerts.CRL(pki.Root, now.Add(-time.Hour), now.Add(7*day)))
	crlFile := filepath.Join(dir, "crl.pem")
	writeFile(t, crlFile, slices.Concat(crlPEM(testcerts.CRL(pki.Intermediate, now.Add(-time.Hour), now.Add(day))), rootCRL))

	addr := loopbackAddr("127.0.0.1", freePort(t))
	ngx := startNginx(t, testDir(t, sc+"-nginx"), nginxSite{listen: addr, cert: filepath.Join(dir, "server.pem"), key: filepath.Join(dir, "server.key"), clientCA: ca, crl: crlFile})
	get := func() (int, error) {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{
			RootCAs: pki.Pool(), ServerName: "s19.e2e.test", Certificates: []tls.Certificate{client.TLS(pki.Intermediate)}}}}
		resp, err := hc.Get("https://" + addr + "/")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(); err != nil || code != http.StatusOK {
		t.Fatalf("nginx with fresh CRLs answered the client with %d (%v), want 200", code, err)
	}

	// The entry's owner labels reach the page through cert_crl_info (the file holds no certificate).
	e := startExporter(t, dir, fmt.Sprintf("files:\n  - paths: [%q]\n    labels: {team: pki}\n", crlFile), exporterOpts{})
	job := filepath.Base(dir)
	s.register(t, job, e)
	// The publisher's cron job stopped: the file keeps an intermediate CRL whose nextUpdate has
	// passed (published 8 days ago for 7 days).
	fault := time.Now()
	stale := testcerts.CRL(pki.Intermediate, now.Add(-8*day), now.Add(-time.Hour))
	writeAtomic(t, crlFile, slices.Concat(crlPEM(stale), rootCRL))
	if err := ngx.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "nginx to refuse the client once its CRL is stale", func() (bool, error) {
		code, err := get()
		return code == http.StatusBadRequest, err
	})
	wants := []want{{"CertificateRevocationListStale", map[string]string{"severity": "critical", "path": crlFile, "index": "0",
		"issuer": pki.Intermediate.Cert.Subject.CommonName, "team": "pki"}}}
	seen := s.expectAlerts(t, job, wants)
	recordAll(sc, wants, seen, fault, now.Add(-time.Hour))
}
