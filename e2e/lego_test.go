//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// legoHost is one lego installation run as cron would: real Debian lego against Pebble, its
// stderr and stdout appended to one log file.
type legoHost struct {
	pb        *pebble
	path, log string
	// server replaces Pebble's directory URL when set (a CA that cannot be reached).
	server string
}

// run invokes lego once with args after the global flags, appending its output to the log.
func (h *legoHost) run(t testing.TB, httpPort int, args ...string) error {
	t.Helper()
	bin := needTool(t, "lego")
	log, err := os.OpenFile(h.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	server := h.pb.dirURL
	if h.server != "" {
		server = h.server
	}
	base := []string{"--path", h.path, "--server", server, "--email", "admin@e2e.test", "--accept-tos",
		"--http", "--http.port", fmt.Sprintf("127.0.0.1:%d", httpPort)}
	cmd := exec.Command(bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "LEGO_CA_CERTIFICATES="+h.pb.caBundle)
	cmd.Stdout, cmd.Stderr = log, log
	return cmd.Run()
}

// cts changes pebble-challtestsrv's DNS answers.
func (p *pebble) cts(t testing.TB, path, body string) {
	t.Helper()
	resp, err := http.Post(p.challMgmt+"/"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("challtestsrv %s: %s", path, resp.Status)
	}
}

// waitLines waits until /metrics holds every line of want (exact lines, values included).
func waitLines(t testing.TB, e *exporterProc, want ...string) {
	t.Helper()
	var body string
	err := poll(30*time.Second, func() (bool, error) {
		body = e.metrics(t)
		for _, w := range want {
			if !strings.Contains("\n"+body, "\n"+w+"\n") {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		var got []string
		for _, l := range strings.Split(body, "\n") {
			if strings.Contains(l, `client="lego"`) || strings.Contains(l, `source="lego`) || strings.Contains(l, `client="caddy"`) || strings.Contains(l, `source="caddy`) {
				got = append(got, l)
			}
		}
		t.Fatalf("/metrics lacks %q; its lego and caddy lines:\n%s", want, strings.Join(got, "\n"))
	}
}

// TestScenario14LegoPebble: real lego 4.9.1 runs against Pebble, as cron runs it, watched by
// the exporter's lego source: an issue, a renewal, then renewals that fail for real: the
// challenge port closed (connection), the name resolving to an address where nothing listens
// (connection), the name's DNS server failing (dns). Each state is asserted as the exact series
// lines, and the failure pages CertificateRenewalFailed in real Prometheus/Alertmanager.
func TestScenario14LegoPebble(t *testing.T) {
	t.Parallel()
	const sc = "s14-lego-pebble"
	s := getStack(t)
	dir := testDir(t, sc)
	pb := startPebble(t, dir)
	h := &legoHost{pb: pb, path: filepath.Join(dir, "lego"), log: filepath.Join(dir, "log", "lego.log")}
	if err := os.MkdirAll(filepath.Dir(h.log), 0o755); err != nil {
		t.Fatal(err)
	}
	const name = "s14.e2e.test"
	d := []string{"-d", name, "-d", "www." + name}
	// Every run gives its authorizations back, failed or not: Pebble reuses a still-valid
	// authorization one time in a hundred per name even with PEBBLE_AUTHZREUSE=0 (it reuses
	// unless rand.Intn(100) > the percentage), so a failure step could otherwise skip the
	// challenge it is about and succeed.
	deactivate := []string{"--always-deactivate-authorizations", "true"}
	if err := h.run(t, pb.httpPort, slices.Concat(d, []string{"run"}, deactivate)...); err != nil {
		t.Fatalf("lego run: %v\n%s", err, readLog(t, h.log))
	}
	e := startExporter(t, dir, fmt.Sprintf("lego:\n  path: %q\n  log_file: %q\n", h.path, h.log), exporterOpts{})
	label := runLabel(sc)
	s.register(t, label, e)
	crt := filepath.Join(h.path, "certificates", name+".crt")
	failure := func(reason string, v int) string {
		return fmt.Sprintf(`cert_renewal_failure{client="lego",domain=%q,lineage=%q,reason=%q} %d`, name, name, reason, v)
	}
	run := func(ok bool) string {
		return fmt.Sprintf(`cert_renewal_client_last_run_success{client="lego",log=%q} %d`, h.log, map[bool]int{false: 0, true: 1}[ok])
	}
	waitLines(t, e, failure("none", 0), run(true),
		fmt.Sprintf(`cert_expiry_exporter_source_up{name=%q,source="lego_store"} 1`, h.path),
		fmt.Sprintf(`cert_expiry_exporter_source_up{name=%q,source="lego_log"} 1`, h.log))
	// The leaf and Pebble's intermediate.
	if n := len(regexp.MustCompile(`(?m)^cert_not_after_timestamp_seconds\{[^}]*lineage="`+regexp.QuoteMeta(name)+`",path="`+regexp.QuoteMeta(crt)+`",[^}]*source="lego"`).FindAllString(e.metrics(t), -1)); n != 2 {
		t.Errorf("%d certificates of %s on /metrics, want 2", n, crt)
	}
	serial := func() string {
		m := regexp.MustCompile(`cert_not_after_timestamp_seconds\{domain="` + regexp.QuoteMeta(name) + `",index="0",[^}]*serial="([0-9a-f]+)"`).FindStringSubmatch(e.metrics(t))
		if m == nil {
			t.Fatalf("no leaf series for %s", name)
		}
		return m[1]
	}
	first := serial()

	// A renewal: a new certificate, still no failure.
	renew := slices.Concat(d, []string{"renew", "--days", "9999", "--no-random-sleep"}, deactivate)
	if err := h.run(t, pb.httpPort, renew...); err != nil {
		t.Fatalf("lego renew: %v\n%s", err, readLog(t, h.log))
	}
	waitLines(t, e, failure("none", 0), fmt.Sprintf(`cert_renewal_attempts_total{client="lego",lineage=%q} 2`, name))
	if err := poll(30*time.Second, func() (bool, error) { return serial() != first, nil }); err != nil {
		t.Fatalf("the renewed certificate is not exported: serial still %s", first)
	}

	// The challenge port closed: lego listens where Pebble does not connect.
	fault := time.Now()
	if err := h.run(t, freePort(t), renew...); err == nil {
		t.Fatalf("lego renew on a closed port succeeded\n%s", readLog(t, h.log))
	}
	waitLines(t, e, failure("connection", 1), run(false),
		fmt.Sprintf(`cert_renewal_consecutive_failures{client="lego",lineage=%q} 1`, name))
	connWant := want{"CertificateRenewalFailed", map[string]string{"client": "lego", "lineage": name, "reason": "connection", "severity": "warning"}}
	seen := s.expectAlerts(t, label, []want{connWant}, want{"CertificateStaging", map[string]string{"source": "lego"}})
	record(sc, connWant, fault, seen[connWant.String()], time.Time{})

	// The name resolves to an address where nothing listens.
	pb.cts(t, "add-a", fmt.Sprintf(`{"host":"%s.","addresses":["127.0.0.2"]}`, name))
	if err := h.run(t, pb.httpPort, renew...); err == nil {
		t.Fatalf("lego renew with a wrong A record succeeded\n%s", readLog(t, h.log))
	}
	pb.cts(t, "clear-a", fmt.Sprintf(`{"host":"%s."}`, name))
	waitLines(t, e, failure("connection", 1), fmt.Sprintf(`cert_renewal_consecutive_failures{client="lego",lineage=%q} 2`, name))

	// The name's DNS server fails.
	pb.cts(t, "set-servfail", fmt.Sprintf(`{"host":"www.%s."}`, name))
	if err := h.run(t, pb.httpPort, renew...); err == nil {
		t.Fatalf("lego renew with SERVFAIL succeeded\n%s", readLog(t, h.log))
	}
	pb.cts(t, "clear-servfail", fmt.Sprintf(`{"host":"www.%s."}`, name))
	waitLines(t, e, failure("dns", 1), fmt.Sprintf(`cert_renewal_consecutive_failures{client="lego",lineage=%q} 3`, name))

	// The CA's directory on a closed port: lego fails before it names the certificate, which
	// gets the run's reason; no attempt is counted.
	h.server = fmt.Sprintf("https://127.0.0.1:%d/dir", freePort(t))
	if err := h.run(t, pb.httpPort, renew...); err == nil {
		t.Fatalf("lego renew with the CA unreachable succeeded\n%s", readLog(t, h.log))
	}
	h.server = ""
	waitLines(t, e, failure("network", 1), run(false), fmt.Sprintf(`cert_renewal_consecutive_failures{client="lego",lineage=%q} 3`, name))

	// Fixed: the next renewal works and the failure is gone.
	if err := h.run(t, pb.httpPort, renew...); err != nil {
		t.Fatalf("lego renew: %v\n%s", err, readLog(t, h.log))
	}
	waitLines(t, e, failure("none", 0), run(true), fmt.Sprintf(`cert_renewal_consecutive_failures{client="lego",lineage=%q} 0`, name))
}

func readLog(t testing.TB, p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// Scenario 16: lego's cron job stopped: its captured log's newest run (real lego 4.9.1
// wording, a not-due check) is 30 h old. RenewalClientNotRunning pages for lego, naming its log.
func TestScenario16LegoNotRunning(t *testing.T) {
	t.Parallel()
	const sc = "s16-lego-not-running"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, _ := scenarioPKI(t, dir, sc, now)
	crt := leaf(pki, "a.example.test", now, -20*day, 90*day)
	path := filepath.Join(dir, "lego")
	writeFile(t, filepath.Join(path, "certificates", "a.example.test.crt"), testcerts.Bundle(crt, pki.Intermediate))
	captured, err := os.ReadFile("../logparse/testdata/lego-4.9.1/renew-not-due.log")
	if err != nil {
		t.Fatal(err)
	}
	// The capture's timestamps moved to 30 h ago, in local time as lego writes them.
	stamp := regexp.MustCompile(`(?m)^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d`)
	old := now.Add(-30 * time.Hour).Local().Format("2006/01/02 15:04:05")
	log := filepath.Join(dir, "lego.log")
	writeFile(t, log, stamp.ReplaceAll(captured, []byte(old)))
	e := startExporter(t, dir, fmt.Sprintf("lego:\n  path: %q\n  log_file: %q\n", path, log), exporterOpts{})
	fault := time.Now()
	s.register(t, sc, e)
	wants := []want{{"RenewalClientNotRunning", map[string]string{"client": "lego", "log": log, "severity": "warning"}}}
	seen := s.expectAlerts(t, sc, wants)
	recordAll(sc, wants, seen, fault, crt.Cert.NotAfter)
}
