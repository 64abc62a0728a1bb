//go:build e2e

package e2e

import (
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
)

const day = 24 * time.Hour

// Every scenario runs its own exporter, registered with the shared Prometheus under a
// `scenario` label; certificates get their dates relative to now because Prometheus evaluates
// the rules against the real clock.

// scenarioPKI makes a test CA and writes its root as ca.pem in dir.
func scenarioPKI(t testing.TB, dir, name string, now time.Time) (*testcerts.PKI, string) {
	t.Helper()
	pki := testcerts.NewPKI("E2E "+name, now)
	ca := filepath.Join(dir, "ca.pem")
	writeFile(t, ca, pki.Root.PEM())
	return pki, ca
}

// leaf issues a certificate for domain valid from now+from for lifetime.
func leaf(pki *testcerts.PKI, domain string, now time.Time, from, lifetime time.Duration) *testcerts.Cert {
	nb := now.Add(from)
	return pki.Leaf(testcerts.Options{CN: domain, DNSNames: []string{domain}, Now: now, NotBefore: nb, NotAfter: nb.Add(lifetime)})
}

// Scenario 1: lineage files present, but certbot has not run for longer than its timer allows.
func TestScenario01RenewalClientNotRunning(t *testing.T) {
	t.Parallel()
	const sc = "s01-certbot-not-running"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	le := filepath.Join(dir, "letsencrypt")
	crt := leaf(pki, "s01.e2e.test", now, -20*day, 90*day)
	newLineage(t, le, "s01", "https://acme-v02.api.letsencrypt.org/directory", crt, pki.Intermediate)
	logFile := filepath.Join(dir, "letsencrypt.log")
	lastRun := now.Add(-30 * time.Hour) // certbot.timer runs twice a day
	writeFile(t, logFile, []byte(certbotRunNotDue(now.Add(-42*time.Hour), le, "s01", crt.Cert.NotAfter)+certbotRunNotDue(lastRun, le, "s01", crt.Cert.NotAfter)))

	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
certbot:
  config_dir: %q
  log_file: %q
`, le+"/live/*/fullchain.pem", ca, le, logFile), exporterOpts{})
	fault := time.Now()
	s.register(t, sc, e)
	wants := []want{{"RenewalClientNotRunning", map[string]string{"severity": "warning"}}}
	seen := s.expectAlerts(t, sc, wants)
	// The fault began when the timer's allowance (25h) ran out, 5h before the exporter started;
	// the figure is from the exporter's start.
	recordAll(sc, wants, seen, fault, crt.Cert.NotAfter)
}

// Scenario 2 (certbot + Pebble): a real issuance and renewal, a renewal whose HTTP-01
// challenge cannot connect, and a renewal whose deploy hook exits 1.
func TestScenario02RenewalFailsPebble(t *testing.T) {
	t.Parallel()
	const sc = "s02-renewal-pebble"
	s := getStack(t)
	dir := testDir(t, sc)
	pb := startPebble(t, dir)
	d := newCertbotDirs(t, dir)
	for _, l := range []string{"ok", "conn", "hook"} {
		pb.issue(t, d, l, "s02-"+l+".e2e.test")
	}
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
certbot:
  config_dir: %q
  log_file: %q
`, d.config+"/live/*/fullchain.pem", pb.rootFile, d.config, d.logFile()), exporterOpts{})
	s.register(t, sc, e)
	s.waitSeries(t, fmt.Sprintf(`cert_expiry_seconds{scenario=%q,index="0"}`, sc), 3)

	renewStart := time.Now()
	if out, err := pb.certbot(t, d, "renew", "--cert-name", "ok", "--force-renewal", "--no-random-sleep-on-renew",
		"--http-01-address", "127.0.0.1", "--http-01-port", fmt.Sprint(pb.httpPort)); err != nil {
		t.Fatalf("renewing ok: %v\n%s", err, out)
	}
	// certbot's standalone server listens where Pebble does not connect: "connection refused".
	pb.freshAccount(t, d)
	connFault := time.Now()
	out, err := pb.certbot(t, d, "renew", "--cert-name", "conn", "--force-renewal", "--no-random-sleep-on-renew",
		"--http-01-address", "127.0.0.1", "--http-01-port", fmt.Sprint(freePort(t)))
	if err == nil || !strings.Contains(out, "Type:   connection") {
		t.Fatalf("renewing conn should fail to connect: %v\n%s", err, out)
	}
	hookFault := time.Now()
	out, err = pb.certbot(t, d, "renew", "--cert-name", "hook", "--force-renewal", "--no-random-sleep-on-renew",
		"--http-01-address", "127.0.0.1", "--http-01-port", fmt.Sprint(pb.httpPort), "--deploy-hook", "/bin/false")
	if !strings.Contains(out, "reported error code 1") {
		t.Fatalf("renewing hook should report the failed deploy hook: %v\n%s", err, out)
	}

	connWant := want{"CertificateRenewalFailed", map[string]string{"lineage": "conn", "reason": "connection", "severity": "warning"}}
	hookWant := want{"CertbotHookFailed", map[string]string{"lineage": "hook", "hook": "deploy", "severity": "warning"}}
	// One fault, one page: CertificateRenewalFailed stays quiet for the failed hook, whether the
	// exporter reports the renewal as a success or as a failure with reason "hook".
	seen := s.expectAlerts(t, sc, []want{connWant, hookWant},
		// Pebble is a test CA: its certificates are rightly flagged as staging.
		want{"CertificateStaging", map[string]string{"source": "file"}})
	notAfter := s.expiryOf(t, sc, "conn")
	record(sc, connWant, connFault, seen[connWant.String()], notAfter)
	record(sc, hookWant, hookFault, seen[hookWant.String()], s.expiryOf(t, sc, "hook"))

	// The successful renewal is known as such: a new certificate, no failure.
	s.waitSeries(t, fmt.Sprintf(`cert_renewal_last_success_timestamp_seconds{scenario=%q,client="certbot",lineage="ok"} > %d`, sc, renewStart.Unix()-1), 1)
	s.waitSeries(t, fmt.Sprintf(`cert_renewal_failure{scenario=%q,lineage="ok",reason="none"} == 0`, sc), 1)
	s.waitSeries(t, fmt.Sprintf(`cert_not_before_timestamp_seconds{scenario=%q,lineage="ok",index="0"} >= %d`, sc, renewStart.Unix()-60), 1)
}

// expiryOf is the NotAfter of lineage's leaf as Prometheus sees it.
func (s *stack) expiryOf(t testing.TB, scenario, lineage string) time.Time {
	t.Helper()
	r := s.waitSeries(t, fmt.Sprintf(`max(cert_not_after_timestamp_seconds{scenario=%q,lineage=%q,index="0"})`, scenario, lineage), 1)
	return time.Unix(int64(r[0].float()), 0)
}

// Scenario 2 (log text): failures Pebble cannot produce, DNS problems and rate limits.
func TestScenario02RenewalFailsLogText(t *testing.T) {
	t.Parallel()
	const sc = "s02-renewal-log"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	le := filepath.Join(dir, "letsencrypt")
	certs := map[string]*testcerts.Cert{}
	for _, l := range []string{"dnsfail", "ratelimited"} {
		certs[l] = leaf(pki, "s02-"+l+".e2e.test", now, -55*day, 90*day)
		newLineage(t, le, l, "https://acme-v02.api.letsencrypt.org/directory", certs[l], pki.Intermediate)
	}
	logFile := filepath.Join(dir, "letsencrypt.log")
	writeFile(t, logFile, []byte(certbotRunNotDue(now.Add(-12*time.Hour), le, "dnsfail", certs["dnsfail"].Cert.NotAfter)))
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
certbot:
  config_dir: %q
  log_file: %q
`, le+"/live/*/fullchain.pem", ca, le, logFile), exporterOpts{})
	s.register(t, sc, e)
	s.waitSeries(t, fmt.Sprintf(`cert_renewal_client_last_run_timestamp_seconds{scenario=%q,client="certbot"}`, sc), 1)

	fault := time.Now()
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(certbotRunDNSFailure(fault.Add(-2*time.Second), le, "dnsfail", "s02-dnsfail.e2e.test") +
		certbotRunRateLimited(fault.Add(-time.Second), le, "ratelimited", "s02-ratelimited.e2e.test"))
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		t.Fatal(err)
	}
	wants := []want{
		{"CertificateRenewalFailed", map[string]string{"lineage": "dnsfail", "domain": "s02-dnsfail.e2e.test", "reason": "dns", "severity": "warning"}},
		{"CertificateRenewalFailed", map[string]string{"lineage": "ratelimited", "domain": "s02-ratelimited.e2e.test", "reason": "rate_limited", "severity": "warning"}},
	}
	seen := s.expectAlerts(t, sc, wants)
	record(sc, wants[0], fault, seen[wants[0].String()], certs["dnsfail"].Cert.NotAfter)
	record(sc, wants[1], fault, seen[wants[1].String()], certs["ratelimited"].Cert.NotAfter)
}

// Scenario 3: renewed on disk, but nginx was not reloaded and still serves the old certificate.
func TestScenario03NotDeployed(t *testing.T) {
	t.Parallel()
	const sc = "s03-not-deployed"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	le := filepath.Join(dir, "letsencrypt")
	const domain = "s03.e2e.test"
	old := leaf(pki, domain, now, -55*day, 90*day)
	l := newLineage(t, le, "s03", "https://acme-v02.api.letsencrypt.org/directory", old, pki.Intermediate)
	port := freePort(t)
	ngx := startNginx(t, testDir(t, sc+"-nginx"), nginxSite{listen: loopbackAddr("127.0.0.1", port), cert: l.fullchain(), key: l.privkey()})
	target := loopbackAddr("127.0.0.1", port)
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
certbot:
  config_dir: %q
  log_file: %q
modules:
  tls:
    tls_config: {ca_file: %q}
targets:
  - target: %q
    server_name: %s
    interval: 1s
drift:
  grace_period: 1s
`, le+"/live/*/fullchain.pem", ca, le, filepath.Join(dir, "letsencrypt.log"), ca, target, domain), exporterOpts{})
	writeFile(t, filepath.Join(dir, "letsencrypt.log"), []byte(certbotRunNotDue(now.Add(-time.Hour), le, "s03", old.Cert.NotAfter)))
	s.register(t, sc, e)
	s.waitSeries(t, fmt.Sprintf(`cert_served_outdated{scenario=%q} == 0`, sc), 1)

	fault := time.Now()
	l.renew(t, leaf(pki, domain, now, -time.Hour, 90*day), pki.Intermediate) // no reload
	w := want{"CertificateNotDeployed", map[string]string{"target": target, "ip": "127.0.0.1", "lineage": "s03", "domain": domain, "severity": "warning"}}
	seen := s.expectAlerts(t, sc, []want{w})
	record(sc, w, fault, seen[w.String()], old.Cert.NotAfter)

	// Reloading nginx deploys the new certificate and clears the alert.
	if err := ngx.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitSeries(t, fmt.Sprintf(`cert_served_outdated{scenario=%q} == 0`, sc), 1)
	// It resolves once keep_firing_for (capped for the suite) has passed.
	waitFor(t, maxKeepFiringFor+30*time.Second, "CertificateNotDeployed to resolve", func() (bool, error) {
		as, err := s.promAlerts(sc)
		for _, a := range as {
			if a.Labels["alertname"] == "CertificateNotDeployed" {
				return false, fmt.Errorf("still %s", a.State)
			}
		}
		return err == nil, err
	})
}

// Scenario 4: a third of the lifetime left and nobody renewed, without any logged failure:
// certbot runs and finds nothing due (a renew_before_expiry set too short).
func TestScenario04RenewalOverdue(t *testing.T) {
	t.Parallel()
	const sc = "s04-renewal-overdue"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	le := filepath.Join(dir, "letsencrypt")
	crt := leaf(pki, "s04.e2e.test", now, -65*day, 90*day) // 25 days left, renewal point 5 days ago
	healthy := leaf(pki, "s04-healthy.e2e.test", now, -10*day, 90*day)
	newLineage(t, le, "s04-healthy", "https://acme-v02.api.letsencrypt.org/directory", healthy, pki.Intermediate)
	logFile := filepath.Join(dir, "letsencrypt.log")
	writeFile(t, logFile, []byte(certbotRunNotDue(now.Add(-2*time.Hour), le, "s04-healthy", healthy.Cert.NotAfter)))
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
certbot:
  config_dir: %q
  log_file: %q
`, le+"/live/*/fullchain.pem", ca, le, logFile), exporterOpts{})
	s.register(t, sc, e)
	fault := time.Now()
	newLineage(t, le, "s04", "https://acme-v02.api.letsencrypt.org/directory", crt, pki.Intermediate)
	w := want{"CertificateRenewalOverdue", map[string]string{"domain": "s04.e2e.test", "lineage": "s04", "source": "file", "severity": "warning"}}
	seen := s.expectAlerts(t, sc, []want{w})
	record(sc, w, fault, seen[w.String()], crt.Cert.NotAfter)
}

// Scenario 5: a certificate listed in its CA's CRL, served over HTTP by the test.
func TestScenario05Revoked(t *testing.T) {
	t.Parallel()
	const sc = "s05-revoked"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	var crl []byte
	crlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(crl)
	}))
	t.Cleanup(crlSrv.Close)
	mk := func(domain string) *testcerts.Cert {
		return pki.Leaf(testcerts.Options{CN: domain, DNSNames: []string{domain}, Now: now, NotBefore: now.Add(-10 * day), CRLURLs: []string{crlSrv.URL + "/intermediate.crl"}})
	}
	revoked, good := mk("s05-revoked.e2e.test"), mk("s05-good.e2e.test")
	crl = testcerts.CRL(pki.Intermediate, now.Add(-time.Hour), now.Add(7*day), big.NewInt(12345), revoked.Cert.SerialNumber)
	revokedAddr := testserver.TLS(t, revoked.TLS(pki.Intermediate)).Addr
	goodAddr := testserver.TLS(t, good.TLS(pki.Intermediate)).Addr
	e := startExporter(t, dir, fmt.Sprintf(`
modules:
  tls:
    tls_config: {ca_file: %q}
targets:
  - {target: %q, server_name: s05-revoked.e2e.test, interval: 1s}
  - {target: %q, server_name: s05-good.e2e.test, interval: 1s}
`, ca, revokedAddr, goodAddr), exporterOpts{})
	fault := time.Now()
	s.register(t, sc, e)
	w := want{"CertificateRevoked", map[string]string{"target": revokedAddr, "method": "crl", "domain": "s05-revoked.e2e.test", "severity": "critical"}}
	seen := s.expectAlerts(t, sc, []want{w})
	record(sc, w, fault, seen[w.String()], revoked.Cert.NotAfter)
	s.waitSeries(t, fmt.Sprintf(`cert_revoked{scenario=%q,target=%q,method="crl"} == 0`, sc, goodAddr), 1)
}

// Scenario 6: a name with two addresses, one of which serves an old certificate.
func TestScenario06OneAddressStale(t *testing.T) {
	t.Parallel()
	const sc = "s06-one-address-stale"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	const domain = "s06.e2e.test"
	fresh := leaf(pki, domain, now, -10*day, 90*day)
	stale := leaf(pki, domain, now, -84*day, 90*day) // 6 days left, never replaced on this member
	writeFile(t, filepath.Join(dir, "fresh.pem"), testcerts.Bundle(fresh, pki.Intermediate))
	writeFile(t, filepath.Join(dir, "fresh.key"), fresh.KeyPEM())
	writeFile(t, filepath.Join(dir, "stale.pem"), testcerts.Bundle(stale, pki.Intermediate))
	writeFile(t, filepath.Join(dir, "stale.key"), stale.KeyPEM())
	port := freePort(t)
	startNginx(t, testDir(t, sc+"-nginx"),
		nginxSite{listen: loopbackAddr("127.0.0.1", port), cert: filepath.Join(dir, "fresh.pem"), key: filepath.Join(dir, "fresh.key")},
		nginxSite{listen: loopbackAddr("127.0.0.2", port), cert: filepath.Join(dir, "stale.pem"), key: filepath.Join(dir, "stale.key")},
	)
	// The name resolves to both addresses through the exporter's own /etc/hosts (a private mount
	// namespace); without that privilege, both addresses are listed as targets.
	var o exporterOpts
	target := fmt.Sprintf("%s:%d", domain, port)
	targets := fmt.Sprintf("  - {target: %q, interval: 1s}\n", target)
	staleTarget := target
	if canUnshareMount() {
		o.hosts = fmt.Sprintf("127.0.0.1 localhost\n127.0.0.1 %[1]s\n127.0.0.2 %[1]s\n", domain)
	} else {
		t.Log("cannot give the exporter its own /etc/hosts: probing both addresses as separate targets")
		staleTarget = loopbackAddr("127.0.0.2", port)
		targets = fmt.Sprintf("  - {target: %q, server_name: %s, interval: 1s}\n  - {target: %q, server_name: %s, interval: 1s}\n",
			loopbackAddr("127.0.0.1", port), domain, staleTarget, domain)
	}
	e := startExporter(t, dir, fmt.Sprintf(`
modules:
  tls:
    tls_config: {ca_file: %q}
targets:
%s`, ca, targets), o)
	fault := time.Now()
	s.register(t, sc, e)
	w := want{"CertificateExpiringSoon", map[string]string{"target": staleTarget, "ip": "127.0.0.2", "source": "probe", "serial": stale.Cert.SerialNumber.Text(16), "severity": "warning"}}
	seen := s.expectAlerts(t, sc, []want{w},
		want{"CertificateRenewalOverdue", map[string]string{"ip": "127.0.0.2"}})
	record(sc, w, fault, seen[w.String()], stale.Cert.NotAfter)
	// Both members were probed under the one name.
	s.waitSeries(t, fmt.Sprintf(`cert_probe_success{scenario=%q} == 1`, sc), 2)
}

// Scenario 7: the intermediate expires before the leaf.
func TestScenario07IntermediateFirst(t *testing.T) {
	t.Parallel()
	const sc = "s07-intermediate-first"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	shortInter := testcerts.New(testcerts.Options{CN: "E2E s07 Short Intermediate CA", IsCA: true, Issuer: pki.Root, Now: now, NotBefore: now.Add(-300 * day), NotAfter: now.Add(5 * day)})
	l := testcerts.New(testcerts.Options{CN: "s07.e2e.test", DNSNames: []string{"s07.e2e.test"}, Issuer: shortInter, Now: now, NotBefore: now.Add(-30 * day), NotAfter: now.Add(60 * day)})
	healthy := leaf(pki, "s07-healthy.e2e.test", now, -30*day, 90*day)
	certDir := filepath.Join(dir, "certs")
	writeFile(t, filepath.Join(certDir, "healthy.pem"), testcerts.Bundle(healthy, pki.Intermediate))
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
`, certDir+"/*.pem", ca), exporterOpts{})
	s.register(t, sc, e)
	fault := time.Now()
	path := filepath.Join(certDir, "s07.pem")
	writeFile(t, path, testcerts.Bundle(l, shortInter))
	w := want{"CertificateChainExpiringSoon", map[string]string{"path": path, "source": "file", "severity": "warning"}}
	seen := s.expectAlerts(t, sc, []want{w})
	record(sc, w, fault, seen[w.String()], shortInter.Cert.NotAfter)
}

// stagingChain is a leaf from a CA named like Let's Encrypt's staging hierarchy.
func stagingChain(now time.Time, domain string) (leafCert, inter *testcerts.Cert) {
	root := testcerts.New(testcerts.Options{CN: "(STAGING) Pretend Pear X1", Org: "(STAGING) Internet Security Research Group", IsCA: true, Now: now, NotBefore: now.Add(-day), NotAfter: now.Add(3650 * day)})
	inter = testcerts.New(testcerts.Options{CN: "(STAGING) Ersatz Edamame E1", Org: "(STAGING) Let's Encrypt", IsCA: true, Issuer: root, Now: now, NotBefore: now.Add(-day), NotAfter: now.Add(1000 * day)})
	leafCert = testcerts.New(testcerts.Options{CN: domain, DNSNames: []string{domain}, Issuer: inter, Now: now, NotBefore: now.Add(-2 * day)})
	return leafCert, inter
}

// Scenario 8: a staging certificate served where a trusted one is expected.
func TestScenario08Staging(t *testing.T) {
	t.Parallel()
	const sc = "s08-staging"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	stg, stgInter := stagingChain(now, "s08.e2e.test")
	good := leaf(pki, "s08-good.e2e.test", now, -2*day, 90*day)
	stagingAddr := testserver.TLS(t, stg.TLS(stgInter)).Addr
	goodAddr := testserver.TLS(t, good.TLS(pki.Intermediate)).Addr
	e := startExporter(t, dir, fmt.Sprintf(`
modules:
  tls:
    tls_config: {ca_file: %q}
targets:
  - {target: %q, server_name: s08.e2e.test, interval: 1s}
  - {target: %q, server_name: s08-good.e2e.test, interval: 1s}
`, ca, stagingAddr, goodAddr), exporterOpts{})
	fault := time.Now()
	s.register(t, sc, e)
	wants := []want{
		{"CertificateStaging", map[string]string{"target": stagingAddr, "issuer": "(STAGING) Ersatz Edamame E1", "severity": "warning"}},
		{"CertificateVerifyFailed", map[string]string{"target": stagingAddr, "reason": "unknown_authority", "severity": "critical"}},
	}
	seen := s.expectAlerts(t, sc, wants)
	recordAll(sc, wants, seen, fault, stg.Cert.NotAfter)
}

// Scenario 9: tiered expiry, 6 days (warning), 2 days (critical), expired.
func TestScenario09TieredExpiry(t *testing.T) {
	t.Parallel()
	const sc = "s09-tiered-expiry"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	certDir := filepath.Join(dir, "certs")
	writeFile(t, filepath.Join(certDir, "healthy.pem"), testcerts.Bundle(leaf(pki, "s09-healthy.e2e.test", now, -10*day, 90*day), pki.Intermediate))
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
`, certDir+"/*.pem", ca), exporterOpts{})
	s.register(t, sc, e)
	tiers := []struct {
		name  string
		left  time.Duration
		alert string
		sev   string
	}{
		{"warn", 6 * day, "CertificateExpiringSoon", "warning"},
		{"crit", 2 * day, "CertificateExpiryCritical", "critical"},
		{"expired", -day, "CertificateExpired", "critical"},
	}
	fault := time.Now()
	var wants []want
	notAfter := map[string]time.Time{}
	for _, tr := range tiers {
		domain := "s09-" + tr.name + ".e2e.test"
		c := leaf(pki, domain, now, tr.left-90*day, 90*day)
		writeFile(t, filepath.Join(certDir, tr.name+".pem"), testcerts.Bundle(c, pki.Intermediate))
		w := want{tr.alert, map[string]string{"domain": domain, "source": "file", "severity": tr.sev}}
		wants = append(wants, w)
		notAfter[w.String()] = c.Cert.NotAfter
	}
	seen := s.expectAlerts(t, sc, wants,
		// Both near-expiry certificates are past their renewal point. For the 2-day one, the
		// overdue and expiring-soon warnings fire too, and the shipped inhibit rule mutes them
		// behind CertificateExpiryCritical: they are not allowed here.
		want{"CertificateRenewalOverdue", map[string]string{"domain": "s09-warn.e2e.test"}},
	)
	for _, w := range wants {
		record(sc, w, fault, seen[w.String()], notAfter[w.String()])
	}
}

// Scenario 10: short-lived 160-hour certificates renewed on schedule raise nothing, although
// each always has less than 7 days left.
func TestScenario10ShortLivedOnSchedule(t *testing.T) {
	t.Parallel()
	const sc = "s10-short-lived"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	le := filepath.Join(dir, "letsencrypt")
	const life = 160 * time.Hour
	young := leaf(pki, "s10-young.e2e.test", now, -2*time.Hour, life)
	// Issued 100h ago: its renewal point (2/3 of 160h = 106.7h) is 6.7h away.
	due := leaf(pki, "s10-due.e2e.test", now, -100*time.Hour, life)
	newLineage(t, le, "s10-young", "https://acme-v02.api.letsencrypt.org/directory", young, pki.Intermediate)
	l := newLineage(t, le, "s10-due", "https://acme-v02.api.letsencrypt.org/directory", due, pki.Intermediate)
	logFile := filepath.Join(dir, "letsencrypt.log")
	writeFile(t, logFile, []byte(certbotRunNotDue(now.Add(-3*time.Hour), le, "s10-due", due.Cert.NotAfter)))
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
certbot:
  config_dir: %q
  log_file: %q
`, le+"/live/*/fullchain.pem", ca, le, logFile), exporterOpts{})
	s.register(t, sc, e)
	s.waitSeries(t, fmt.Sprintf(`cert_expiry_seconds{scenario=%q,index="0"} < 604800`, sc), 2)
	// The scheduled renewal replaces the older certificate.
	renewed := leaf(pki, "s10-due.e2e.test", now, -time.Minute, life)
	l.renew(t, renewed, pki.Intermediate)
	s.waitSeries(t, fmt.Sprintf(`cert_expiry_seconds{scenario=%q,index="0",serial=%q}`, sc, renewed.Cert.SerialNumber.Text(16)), 1)
	s.noOtherAlerts(t, sc, nil)
	if as, err := s.amAlerts(sc, false); err != nil || len(as) != 0 {
		t.Errorf("Alertmanager has alerts for %s: %v %v", sc, as, err)
	}
}

// Scenario 11: hostname mismatch and untrusted chain on probed endpoints (real nginx); the
// alert fires and the expiry metrics stay.
func TestScenario11VerifyFailed(t *testing.T) {
	t.Parallel()
	const sc = "s11-verify-failed"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	other := leaf(pki, "other.e2e.test", now, -day, 90*day)
	selfSigned := testcerts.New(testcerts.Options{CN: "s11-untrusted.e2e.test", DNSNames: []string{"s11-untrusted.e2e.test"}, Now: now})
	writeFile(t, filepath.Join(dir, "other.pem"), testcerts.Bundle(other, pki.Intermediate))
	writeFile(t, filepath.Join(dir, "other.key"), other.KeyPEM())
	writeFile(t, filepath.Join(dir, "self.pem"), selfSigned.PEM())
	writeFile(t, filepath.Join(dir, "self.key"), selfSigned.KeyPEM())
	mismatch, untrusted := loopbackAddr("127.0.0.1", freePort(t)), loopbackAddr("127.0.0.1", freePort(t))
	startNginx(t, testDir(t, sc+"-nginx"),
		nginxSite{listen: mismatch, cert: filepath.Join(dir, "other.pem"), key: filepath.Join(dir, "other.key")},
		nginxSite{listen: untrusted, cert: filepath.Join(dir, "self.pem"), key: filepath.Join(dir, "self.key")},
	)
	e := startExporter(t, dir, fmt.Sprintf(`
modules:
  tls:
    tls_config: {ca_file: %q}
targets:
  - {target: %q, server_name: s11.e2e.test, interval: 1s}
  - {target: %q, server_name: s11-untrusted.e2e.test, interval: 1s}
`, ca, mismatch, untrusted), exporterOpts{})
	fault := time.Now()
	s.register(t, sc, e)
	wants := []want{
		{"CertificateVerifyFailed", map[string]string{"target": mismatch, "reason": "hostname_mismatch", "severity": "critical"}},
		{"CertificateVerifyFailed", map[string]string{"target": untrusted, "reason": "unknown_authority", "severity": "critical"}},
	}
	seen := s.expectAlerts(t, sc, wants)
	record(sc, wants[0], fault, seen[wants[0].String()], other.Cert.NotAfter)
	record(sc, wants[1], fault, seen[wants[1].String()], selfSigned.Cert.NotAfter)
	for _, tg := range []string{mismatch, untrusted} {
		s.waitSeries(t, fmt.Sprintf(`cert_expiry_seconds{scenario=%q,source="probe",target=%q,index="0"} > 0`, sc, tg), 1)
	}
}

// Scenario 12: the exporter goes blind (log deleted, certificate directory unreadable, probe
// target down) and that pages instead of silencing the certificate alerts.
func TestScenario12ExporterBlind(t *testing.T) {
	t.Parallel()
	const sc = "s12-exporter-blind"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	le := filepath.Join(dir, "letsencrypt")
	crt := leaf(pki, "s12.e2e.test", now, -10*day, 90*day)
	newLineage(t, le, "s12", "https://acme-v02.api.letsencrypt.org/directory", crt, pki.Intermediate)
	logFile := filepath.Join(dir, "logs", "letsencrypt.log")
	writeFile(t, logFile, []byte(certbotRunNotDue(now.Add(-time.Hour), le, "s12", crt.Cert.NotAfter)))
	certDir := filepath.Join(dir, "certs")
	writeFile(t, filepath.Join(certDir, "s12.pem"), testcerts.Bundle(crt, pki.Intermediate))
	srv := testserver.TLS(t, crt.TLS(pki.Intermediate))
	target := srv.Addr
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
certbot:
  config_dir: %q
  log_file: %q
modules:
  tls:
    tls_config: {ca_file: %q}
targets:
  - {target: %q, server_name: s12.e2e.test, interval: 1s}
`, certDir+"/*.pem", ca, le, logFile, ca, target), exporterOpts{asNobody: true})
	t.Cleanup(func() { os.Chmod(certDir, 0o755) })
	s.register(t, sc, e)
	s.waitSeries(t, fmt.Sprintf(`cert_expiry_seconds{scenario=%q,index="0"}`, sc), 2)
	s.waitSeries(t, fmt.Sprintf(`cert_renewal_client_last_run_timestamp_seconds{scenario=%q,client="certbot"}`, sc), 1)

	fault := time.Now()
	if err := os.Remove(logFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(certDir, 0); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	wants := []want{
		{"CertExpiryExporterSourceDown", map[string]string{"source": "certbot_log", "severity": "warning"}},
		{"CertExpiryExporterFileError", map[string]string{"reason": "permission", "severity": "warning"}},
		{"CertificateProbeFailed", map[string]string{"target": target, "reason": "connect", "severity": "warning"}},
	}
	seen := s.expectAlerts(t, sc, wants,
		// With `for:` cut to 3s, one error makes increase(...[15m]) > 0 last long enough; the
		// shipped 1h needs errors in every 15-minute window.
		want{"CertExpiryExporterErrors", nil},
	)
	recordAll(sc, wants, seen, fault, time.Time{})
}

// Scenario 13: the exporter stops, then starts again. Its firing alerts must not resolve:
// CertExpiryExporterDown is the only new page, and after the restart each held alert is the same
// alert as before (same start in Alertmanager, same active-since time in Prometheus: its `for:`
// did not start over).
func TestScenario13ExporterRestart(t *testing.T) {
	t.Parallel()
	const sc = "s13-exporter-restart"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	certDir := filepath.Join(dir, "certs")
	writeFile(t, filepath.Join(certDir, "expired.pem"), testcerts.Bundle(leaf(pki, "s13-expired.e2e.test", now, -91*day, 90*day), pki.Intermediate))
	// The leaf without its intermediate: an incomplete chain, an alert with a `for:`.
	writeFile(t, filepath.Join(certDir, "leaf-only.pem"), testcerts.Bundle(leaf(pki, "s13-leaf.e2e.test", now, -day, 90*day)))
	writeFile(t, filepath.Join(certDir, "healthy.pem"), testcerts.Bundle(leaf(pki, "s13-healthy.e2e.test", now, -day, 90*day), pki.Intermediate))
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
`, certDir+"/*.pem", ca), exporterOpts{})
	s.register(t, sc, e)
	held := []want{
		{"CertificateExpired", map[string]string{"domain": "s13-expired.e2e.test", "severity": "critical"}},
		{"CertificateVerifyFailed", map[string]string{"reason": "incomplete_chain", "source": "file", "severity": "critical"}},
	}
	s.expectAlerts(t, sc, held)
	before := s.heldAlerts(t, sc, held)

	fault := time.Now()
	e.stop()
	down := want{"CertExpiryExporterDown", map[string]string{"severity": "critical"}}
	var paged time.Time
	waitFor(t, 60*time.Second, "CertExpiryExporterDown in Alertmanager", func() (bool, error) {
		as, err := s.amAlerts(sc, false)
		if err != nil {
			return false, err
		}
		// Without keep_firing_for each of them was resolved within seconds of the stop.
		for _, w := range held {
			if amActive(as, w) == nil {
				t.Fatalf("%s left Alertmanager while the exporter was down", w)
			}
		}
		if amActive(as, down) != nil {
			paged = time.Now()
			return true, nil
		}
		return false, nil
	})
	record(sc, down, fault, paged, time.Time{})

	e.restart(t)
	s.waitSeries(t, fmt.Sprintf(`up{scenario=%q} == 1`, sc), 1)
	s.waitSeries(t, fmt.Sprintf(`cert_chain_verified{scenario=%q,reason="incomplete_chain"}`, sc), 1)
	// CertExpiryExporterDown resolves; nothing else fires.
	s.noOtherAlerts(t, sc, held)
	after := s.heldAlerts(t, sc, held)
	for _, w := range held {
		if b, a := before[w.String()], after[w.String()]; !b.activeAt.Equal(a.activeAt) || !b.startsAt.Equal(a.startsAt) {
			t.Errorf("%s is not the same alert after the restart: before %+v, after %+v", w, b, a)
		}
	}
}

// since is when an alert began, as Prometheus and as Alertmanager know it.
type since struct{ activeAt, startsAt time.Time }

// heldAlerts returns when each of wants began; each must be firing in Prometheus and active in
// Alertmanager.
func (s *stack) heldAlerts(t testing.TB, scenario string, wants []want) map[string]since {
	t.Helper()
	ps, err := s.promAlerts(scenario)
	if err != nil {
		t.Fatal(err)
	}
	as, err := s.amAlerts(scenario, false)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]since{}
	for _, w := range wants {
		a := amActive(as, w)
		if a == nil {
			t.Fatalf("%s is not active in Alertmanager", w)
		}
		for _, p := range ps {
			if p.State == "firing" && w.matches(p.Labels) {
				out[w.String()] = since{activeAt: p.ActiveAt, startsAt: a.StartsAt}
			}
		}
		if _, ok := out[w.String()]; !ok {
			t.Fatalf("%s is not firing in Prometheus", w)
		}
	}
	return out
}

// amActive is the active Alertmanager alert matching w, or nil.
func amActive(as []amAlert, w want) *amAlert {
	for i, a := range as {
		if a.Status.State == "active" && w.matches(a.Labels) {
			return &as[i]
		}
	}
	return nil
}

// SIGHUP with a broken config while Prometheus scrapes: the old config keeps running, no series
// has a gap, and the reload gauge says 0.
func TestReloadBrokenConfig(t *testing.T) {
	t.Parallel()
	const sc = "reload-broken-config"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	certDir := filepath.Join(dir, "certs")
	for i := range 3 {
		writeFile(t, filepath.Join(certDir, fmt.Sprintf("c%d.pem", i)), testcerts.Bundle(leaf(pki, fmt.Sprintf("reload-%d.e2e.test", i), now, -day, 90*day), pki.Intermediate))
	}
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
`, certDir+"/*.pem", ca), exporterOpts{})
	s.register(t, sc, e)
	s.waitSeries(t, fmt.Sprintf(`cert_expiry_seconds{scenario=%q,index="0"}`, sc), 3)
	start := time.Now()
	s.waitEvaluations(t, 3) // a few scrapes before the reload

	fault := time.Now()
	writeFile(t, e.cfgPath, []byte("files:\n  - pathz: [oops]\n"))
	if err := e.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	w := want{"CertExpiryExporterConfigReloadFailed", map[string]string{"severity": "warning"}}
	seen := s.expectAlerts(t, sc, []want{w})
	record(sc, w, fault, seen[w.String()], time.Time{})
	s.waitSeries(t, fmt.Sprintf(`cert_expiry_exporter_config_last_reload_successful{scenario=%q} == 0`, sc), 1)
	s.waitEvaluations(t, 3)

	// Every scrape across the reload carried every certificate series.
	window := fmt.Sprintf("%ds", int(time.Since(start).Seconds()))
	at := time.Now()
	ups := queryAt(t, s, fmt.Sprintf(`count_over_time(up{scenario=%q}[%s])`, sc, window), at)
	certs := queryAt(t, s, fmt.Sprintf(`count_over_time(cert_expiry_seconds{scenario=%q,index="0"}[%s])`, sc, window), at)
	if len(ups) != 1 || len(certs) != 3 {
		t.Fatalf("got %d up and %d certificate series, want 1 and 3", len(ups), len(certs))
	}
	for _, c := range certs {
		if c.float() != ups[0].float() {
			t.Errorf("series %v has %v samples over %s but there were %v scrapes: a gap", c.Metric, c.float(), window, ups[0].float())
		}
	}
	if strings.Contains(e.metrics(t), "cert_expiry_exporter_config_last_reload_successful 1") {
		t.Error("reload gauge still 1 after a broken config")
	}
}

// queryAt runs an instant query evaluated at at.
func queryAt(t testing.TB, s *stack, q string, at time.Time) []sample {
	t.Helper()
	r, err := s.queryAt(q, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The probe's STARTTLS dialogs against real nginx: HTTPS, SMTP, IMAP and POP3 (nginx's mail
// proxy), all healthy, so nothing alerts.
func TestProbeProtocolsNginx(t *testing.T) {
	t.Parallel()
	const sc = "probe-protocols-nginx"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	const domain = "mail.e2e.test"
	c := leaf(pki, domain, now, -day, 90*day)
	writeFile(t, filepath.Join(dir, "mail.pem"), testcerts.Bundle(c, pki.Intermediate))
	writeFile(t, filepath.Join(dir, "mail.key"), c.KeyPEM())
	sites := map[string]string{}
	var ns []nginxSite
	for _, proto := range []string{"https", "smtp", "imap", "pop3"} {
		addr := loopbackAddr("127.0.0.1", freePort(t))
		sites[proto] = addr
		p := proto
		if p == "https" {
			p = ""
		}
		ns = append(ns, nginxSite{listen: addr, protocol: p, cert: filepath.Join(dir, "mail.pem"), key: filepath.Join(dir, "mail.key")})
	}
	startNginx(t, testDir(t, sc+"-nginx"), ns...)
	e := startExporter(t, dir, fmt.Sprintf(`
modules:
  tls:   {tls_config: {ca_file: %[1]q}}
  smtp:  {tls_config: {ca_file: %[1]q}, starttls: smtp}
  imap:  {tls_config: {ca_file: %[1]q}, starttls: imap}
  pop3:  {tls_config: {ca_file: %[1]q}, starttls: pop3}
targets:
  - {target: %[2]q, module: tls, server_name: %[6]s, interval: 1s}
  - {target: %[3]q, module: smtp, server_name: %[6]s, interval: 1s}
  - {target: %[4]q, module: imap, server_name: %[6]s, interval: 1s}
  - {target: %[5]q, module: pop3, server_name: %[6]s, interval: 1s}
`, ca, sites["https"], sites["smtp"], sites["imap"], sites["pop3"], domain), exporterOpts{})
	s.register(t, sc, e)
	s.waitSeries(t, fmt.Sprintf(`cert_probe_success{scenario=%q} == 1`, sc), 4)
	s.waitSeries(t, fmt.Sprintf(`cert_chain_verified{scenario=%q,reason="ok"} == 1`, sc), 4)
	s.waitSeries(t, fmt.Sprintf(`cert_expiry_seconds{scenario=%q,index="0",serial=%q}`, sc, c.Cert.SerialNumber.Text(16)), 4)
	s.noOtherAlerts(t, sc, nil)
}
