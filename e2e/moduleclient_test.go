//go:build e2e

package e2e

import (
	"crypto/x509"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// Scenario 18: the client certificate of a probe module (tls_config.cert_file, the mTLS
// client the exporter itself is) against real nginx requiring client certificates. The
// exporter probes nginx with it and exports it as source="client" with its module; its file is
// then replaced by a renewal without clientAuth (Let's Encrypt's classic profile), which
// nginx would refuse, and CertificateClientAuthMissing names the module.
func TestScenario18ProbeModuleClientCert(t *testing.T) {
	t.Parallel()
	const sc = "s18-module-client"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	server := leaf(pki, "s18.e2e.test", now, -day, 90*day)
	writeFile(t, filepath.Join(dir, "server.pem"), testcerts.Bundle(server, pki.Intermediate))
	writeFile(t, filepath.Join(dir, "server.key"), server.KeyPEM())
	const client = "s18-probe.e2e.test"
	old := pki.Leaf(testcerts.Options{CN: client, Now: now, NotBefore: now.Add(-10 * day), NotAfter: now.Add(80 * day),
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	renewed := pki.Leaf(testcerts.Options{CN: client, Now: now, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * day),
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	addr := loopbackAddr("127.0.0.1", freePort(t))
	startNginx(t, testDir(t, sc+"-nginx"), nginxSite{listen: addr, cert: filepath.Join(dir, "server.pem"), key: filepath.Join(dir, "server.key"), clientCA: ca})

	certFile, keyFile := filepath.Join(dir, "probe-client.pem"), filepath.Join(dir, "probe-client.key")
	writeFile(t, certFile, testcerts.Bundle(old, pki.Intermediate))
	writeFile(t, keyFile, old.KeyPEM())
	e := startExporter(t, dir, fmt.Sprintf(`
modules:
  mtls:
    tls_config:
      ca_file: %[1]q
      cert_file: %[2]q
      key_file: %[3]q
      server_name: s18.e2e.test
targets:
  - target: %[4]q
    module: mtls
    interval: 2s
`, ca, certFile, keyFile, addr), exporterOpts{})
	leafSeries := func(c *testcerts.Cert) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`(?m)^cert_not_after_timestamp_seconds\{domain="%s",index="0",issuer="[^"]+",module="mtls",path="%s",serial="%s",source="client"\} \S+$`,
			regexp.QuoteMeta(client), regexp.QuoteMeta(certFile), c.Cert.SerialNumber.Text(16)))
	}
	probeOK := regexp.MustCompile(`(?m)^cert_probe_success\{ip="127.0.0.1",module="mtls",target="` + regexp.QuoteMeta(addr) + `"\} 1$`)
	var text string
	waitFor(t, 30*time.Second, "the module's client certificate and a successful mTLS probe on /metrics", func() (bool, error) {
		text = e.metrics(t)
		return leafSeries(old).MatchString(text) && probeOK.MatchString(text), nil
	})
	if regexp.MustCompile(`(?m)^cert_policy_violation\{`).MatchString(text) {
		t.Fatalf("a policy violation before the renewal:\n%s", text)
	}

	job := filepath.Base(dir)
	s.register(t, job, e)
	fault := time.Now()
	writeAtomic(t, certFile, testcerts.Bundle(renewed, pki.Intermediate))
	writeAtomic(t, keyFile, renewed.KeyPEM())
	wants := []want{{"CertificateClientAuthMissing", map[string]string{"severity": "critical", "source": "client", "module": "mtls",
		"domain": client, "policy": "client_auth", "serial": renewed.Cert.SerialNumber.Text(16)}}}
	seen := s.expectAlerts(t, job, wants)
	recordAll(sc, wants, seen, fault, renewed.Cert.NotAfter)
	if text := e.metrics(t); !leafSeries(renewed).MatchString(text) {
		t.Errorf("the renewed client certificate is not exported:\n%s", text)
	}
}
