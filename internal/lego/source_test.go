package lego

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// captured is where the real lego logs and metadata captured against Pebble live
// (logparse/testdata/capture-lego.sh): Debian's 4.9.1, and 4.30.0 for TestStates.
const captured = "../../logparse/testdata/lego-4.9.1/"

// now is after the captures (2026-12-02 07:46-07:47 UTC) and lego's exit.
var now = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// store is a lego --path with certificates/ as lego leaves it: a.example.test's bundle,
// issuer, key and metadata (the captured one), certificates generated now.
type store struct {
	t    testing.TB
	from string // the captures' directory
	dir  string
	log  string
	leaf *testcerts.Cert
	pki  *testcerts.PKI
}

func newStore(t testing.TB) *store {
	dir := t.TempDir()
	s := &store{t: t, from: captured, dir: dir, log: filepath.Join(dir, "log", "lego.log"), pki: testcerts.NewPKI("Lego", now)}
	s.leaf = s.pki.Leaf(testcerts.Options{DNSNames: []string{"a.example.test", "www.a.example.test"}, Now: now,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90*24*time.Hour - time.Hour), Serial: big.NewInt(0xa1)})
	meta, err := os.ReadFile(captured + "a.example.test.json")
	if err != nil {
		t.Fatal(err)
	}
	s.write("certificates/a.example.test.crt", testcerts.Bundle(s.leaf, s.pki.Intermediate))
	s.write("certificates/a.example.test.issuer.crt", s.pki.Intermediate.PEM())
	s.write("certificates/a.example.test.key", s.leaf.KeyPEM())
	s.write("certificates/a.example.test.json", meta)
	s.write("log/lego.log", nil)
	return s
}

func (s *store) write(rel string, data []byte) {
	p := filepath.Join(s.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// logs appends captured lego outputs to the log, as a cron line appending stderr would.
func (s *store) logs(names ...string) {
	f, err := os.OpenFile(s.log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	for _, n := range names {
		data, err := os.ReadFile(s.from + n + ".log")
		if err != nil {
			s.t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *store) cfg() config.Lego {
	return config.Lego{Path: s.dir, LogFile: s.log, LogTimezone: "UTC",
		HistoryMaxAge: model.Duration(30 * 24 * time.Hour), RescanInterval: model.Duration(time.Minute)}
}

func (s *store) once(cfgs ...config.Lego) *source.Snapshot {
	if cfgs == nil {
		cfgs = []config.Lego{s.cfg()}
	}
	return newSource(cfgs, slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(now)).Once(context.Background())
}

// expose renders the snapshot as /metrics does: the shared families and the source's own.
func expose(t *testing.T, snap *source.Snapshot, want string, families ...string) {
	t.Helper()
	st := inventory.New(Factory.Name)
	st.Restart(Factory.Name, true)(snap)
	if err := testutil.CollectAndCompare(collector.New(st, func() time.Time { return now }), strings.NewReader(want), families...); err != nil {
		t.Error(err)
	}
}

// TestRealHistory: issued, renewed, then a renewal whose challenges the CA could not reach
// (the captured logs of real lego 4.9.1 runs against Pebble): the certificate is a lego series
// named by its metadata's domain, the failure stands with its reason, and the runs are the
// client's for RenewalClientNotRunning.
func TestRealHistory(t *testing.T) {
	s := newStore(t)
	s.logs("issue", "renew-success", "renew-connection")
	snap := s.once()
	crt := filepath.Join(s.dir, "certificates", "a.example.test.crt")
	expose(t, snap, fmt.Sprintf(`
# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
cert_not_after_timestamp_seconds{domain="a.example.test",index="0",issuer="Lego Intermediate CA",lineage="a.example.test",path=%[1]q,serial="a1",source="lego"} %[2]d
cert_not_after_timestamp_seconds{domain="Lego Intermediate CA",index="1",issuer="Lego Root CA",lineage="a.example.test",path=%[1]q,serial=%[3]q,source="lego"} %[4]d
# HELP cert_renewal_client_last_run_success 1 when the renewal client's newest run ended without a failure.
# TYPE cert_renewal_client_last_run_success gauge
cert_renewal_client_last_run_success{client="lego",log=%[5]q} 0
# HELP cert_renewal_client_last_run_timestamp_seconds Start of the newest run of the renewal client seen in its log; 0 when no run was seen in the log history.
# TYPE cert_renewal_client_last_run_timestamp_seconds gauge
cert_renewal_client_last_run_timestamp_seconds{client="lego",log=%[5]q} 1.796197608e+09
# HELP cert_renewal_failure 1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.
# TYPE cert_renewal_failure gauge
cert_renewal_failure{client="lego",domain="a.example.test",lineage="a.example.test",reason="connection"} 1
# HELP cert_renewal_consecutive_failures Failed attempts since the last success: the retries a success ends.
# TYPE cert_renewal_consecutive_failures gauge
cert_renewal_consecutive_failures{client="lego",lineage="a.example.test"} 1
# HELP cert_renewal_attempts_total Attempts to obtain or renew the certificate seen in the client's log (history replay included).
# TYPE cert_renewal_attempts_total counter
cert_renewal_attempts_total{client="lego",lineage="a.example.test"} 3
`, crt, s.leaf.Cert.NotAfter.Unix(), s.pki.Intermediate.Cert.SerialNumber.Text(16), s.pki.Intermediate.Cert.NotAfter.Unix(), s.log),
		"cert_not_after_timestamp_seconds", "cert_renewal_client_last_run_success",
		"cert_renewal_client_last_run_timestamp_seconds", "cert_renewal_failure", "cert_renewal_consecutive_failures", "cert_renewal_attempts_total")
	if len(snap.Renewals) != 1 || len(snap.Renewals[0].Problems) != 2 || snap.Renewals[0].Problems[0].Type != "connection" {
		t.Errorf("renewals %+v", snap.Renewals)
	}
	for _, st := range snap.Status {
		if !st.Up {
			t.Errorf("status %+v down", st)
		}
	}
}

// TestOwnerLabels: the installation's labels are on its certificates' cert_info (and no other
// series), as a files: entry's.
func TestOwnerLabels(t *testing.T) {
	s := newStore(t)
	cfg := s.cfg()
	cfg.Labels = config.Labels{"team": "db", "env": "prod"}
	crt := filepath.Join(s.dir, "certificates", "a.example.test.crt")
	expose(t, s.once(cfg), fmt.Sprintf(`
# HELP cert_info Descriptive certificate data; always 1.
# TYPE cert_info gauge
cert_info{domain="a.example.test",eku="server_auth,client_auth",env="prod",index="0",issuer="Lego Intermediate CA",key_type="ecdsa-p256",lineage="a.example.test",path=%[1]q,sans="a.example.test,www.a.example.test",serial="a1",signature_algorithm="ECDSA-SHA256",source="lego",team="db"} 1
cert_info{domain="Lego Intermediate CA",eku="any",env="prod",index="1",is_ca="true",issuer="Lego Root CA",key_type="ecdsa-p256",lineage="a.example.test",path=%[1]q,serial=%[2]q,signature_algorithm="ECDSA-SHA256",source="lego",subject="CN=Lego Intermediate CA,O=Lego",team="db"} 1
`, crt, s.pki.Intermediate.Cert.SerialNumber.Text(16)), "cert_info")
}

// TestStates: each captured outcome as the series say it, one history per case.
func TestStates(t *testing.T) {
	for _, tc := range []struct {
		logs       []string
		reason     string // "" = no cert_renewal_failure series
		runSuccess bool
	}{
		{[]string{"issue"}, "none", true},
		{[]string{"issue", "renew-not-due"}, "none", true},
		{[]string{"issue", "renew-dns-servfail"}, "dns", false},
		{[]string{"issue", "renew-dns-no-address"}, "dns", false},
		{[]string{"issue", "renew-dns-wrong-address"}, "connection", false},
		// Saved, then the renew hook failed: lego exits 1 and the new certificate is probably
		// not deployed.
		{[]string{"issue", "renew-hook-fails"}, "hook", false},
		// It stands through a not-due check, gives way to a later failure's reason, and ends
		// with a renewal whose hook works.
		{[]string{"issue", "renew-hook-fails", "renew-not-due"}, "hook", true},
		{[]string{"issue", "renew-hook-fails", "renew-connection"}, "connection", false},
		{[]string{"issue", "renew-hook-fails", "renew-success"}, "none", true},
		// A failure before lego names the certificate fails the run and, as certbot's, every
		// stored certificate with its reason, until the certificate's own next run.
		{[]string{"issue", "renew-no-account"}, "account", false},
		{[]string{"issue", "issue-ca-down"}, "network", false},
		{[]string{"issue", "issue-ca-down", "renew-success"}, "none", true},
		{[]string{"issue", "renew-no-account", "renew-not-due"}, "none", true},
		{[]string{"issue", "renew-no-account", "renew-connection"}, "connection", false},
		// The same for a stored certificate whose own runs are older than the history read.
		{[]string{"issue-ca-down"}, "network", false},
		// Another name's run says nothing about this certificate.
		{[]string{"issue", "issue-ca-down", "issue-rejected"}, "network", false},
		// A failed first issue of a name the store does not hold is no certificate to watch.
		{[]string{"issue", "issue-rejected"}, "none", false},
		{nil, "", false},
	} {
		for _, version := range []string{"4.9.1", "4.30.0"} {
			t.Run(version+"/"+strings.Join(tc.logs, "+"), func(t *testing.T) {
				s := newStore(t)
				s.from = "../../logparse/testdata/lego-" + version + "/"
				s.logs(tc.logs...)
				snap := s.once()
				var got []string
				for _, r := range snap.Renewals {
					if r.Reason != "" {
						got = append(got, r.Lineage+"="+r.Reason)
					}
				}
				want := []string(nil)
				if tc.reason != "" {
					want = []string{"a.example.test=" + tc.reason}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("renewals %v, want %v", got, want)
				}
				c := snap.Clients[0]
				if c.Seen != (tc.logs != nil) || c.LastRunSuccess != tc.runSuccess {
					t.Errorf("client %+v, want seen %v success %v", c, tc.logs != nil, tc.runSuccess)
				}
			})
		}
	}
}

// TestBadInput: what must not block or hide the rest. Truncated metadata: an error series,
// the certificate still watched under its own name. A FIFO as the metadata, as a certificate
// and as the log: refused at once. A symlink loop as certificates/: the store is down, the log
// still read. Garbage lines: counted nowhere as runs.
func TestBadInput(t *testing.T) {
	s := newStore(t)
	s.write("certificates/a.example.test.json", []byte(`{"domain": "a.exa`))
	if err := syscall.Mkfifo(filepath.Join(s.dir, "certificates", "fifo.example.crt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(s.dir, "certificates", "b.example.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.write("certificates/b.example.crt", testcerts.Bundle(s.pki.Leaf(testcerts.Options{DNSNames: []string{"b.example"}, Now: now})))
	s.logs("issue")
	s.write("log/lego.log", append(mustRead(t, s.log), []byte("\x00\xff garbage\n{\"not\": \"lego\"}\n2026/13/45 99:99:99 [INFO] no\n")...))

	done := make(chan *source.Snapshot)
	go func() { done <- s.once() }()
	var snap *source.Snapshot
	select {
	case snap = <-done:
	case <-time.After(30 * time.Second): // a blocked open never returns; this only reports it
		t.Fatal("Once blocked")
	}
	crtDir := filepath.Join(s.dir, "certificates")
	expose(t, snap, fmt.Sprintf(`
# HELP cert_expiry_exporter_file_error 1 per file (or glob, or directory) that currently cannot be read, with the reason.
# TYPE cert_expiry_exporter_file_error gauge
cert_expiry_exporter_file_error{path=%q,reason="parse"} 1
cert_expiry_exporter_file_error{path=%q,reason="io"} 1
cert_expiry_exporter_file_error{path=%q,reason="io"} 1
# HELP cert_renewal_failure 1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.
# TYPE cert_renewal_failure gauge
cert_renewal_failure{client="lego",domain="a.example.test",lineage="a.example.test",reason="none"} 0
`, filepath.Join(crtDir, "a.example.test.json"), filepath.Join(crtDir, "b.example.json"), filepath.Join(crtDir, "fifo.example.crt")),
		"cert_expiry_exporter_file_error", "cert_renewal_failure")
	var domains []string
	for _, c := range snap.Chains {
		domains = append(domains, c.Lineage+":"+c.Certs[0].Domain)
	}
	if fmt.Sprint(domains) != "[a.example.test:a.example.test b.example:b.example]" {
		t.Errorf("chains %v", domains)
	}

	// certificates/ a symlink loop, the log a FIFO: both down at once, nothing blocks.
	loop := newStore(t)
	if err := os.RemoveAll(filepath.Join(loop.dir, "certificates")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("certificates", filepath.Join(loop.dir, "certificates")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(loop.log); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(loop.log, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() { done <- loop.once() }()
	select {
	case snap = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Once blocked")
	}
	up := map[string]bool{}
	for _, st := range snap.Status {
		up[st.Source] = st.Up
		if st.Source == "lego_log" && st.Errors["io"] != 1 {
			t.Errorf("lego_log errors %v", st.Errors)
		}
	}
	if up["lego_log"] || len(snap.Chains) != 0 || len(snap.Problems) == 0 {
		t.Errorf("status %v, %d chains, problems %+v", up, len(snap.Chains), snap.Problems)
	}
	if c := snap.Clients[0]; c.Seen {
		t.Errorf("client %+v", c)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunFailsBeforeNaming: the renewal cron's lego run with the CA's directory unreachable
// (captured against a closed port after a real issue from Pebble) names no certificate; the
// stored certificate carries the run's reason, so CertificateRenewalFailed pages with the
// runbook's network section, and no attempt is counted.
func TestRunFailsBeforeNaming(t *testing.T) {
	s := newStore(t)
	s.logs("issue", "renew-ca-down")
	later := time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC) // after renew-ca-down's capture
	snap := newSource([]config.Lego{s.cfg()}, slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(later)).Once(context.Background())
	expose(t, snap, fmt.Sprintf(`
# HELP cert_renewal_client_last_run_success 1 when the renewal client's newest run ended without a failure.
# TYPE cert_renewal_client_last_run_success gauge
cert_renewal_client_last_run_success{client="lego",log=%[1]q} 0
# HELP cert_renewal_client_last_run_timestamp_seconds Start of the newest run of the renewal client seen in its log; 0 when no run was seen in the log history.
# TYPE cert_renewal_client_last_run_timestamp_seconds gauge
cert_renewal_client_last_run_timestamp_seconds{client="lego",log=%[1]q} 1.796313154e+09
# HELP cert_renewal_failure 1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.
# TYPE cert_renewal_failure gauge
cert_renewal_failure{client="lego",domain="a.example.test",lineage="a.example.test",reason="network"} 1
# HELP cert_renewal_consecutive_failures Failed attempts since the last success: the retries a success ends.
# TYPE cert_renewal_consecutive_failures gauge
cert_renewal_consecutive_failures{client="lego",lineage="a.example.test"} 0
# HELP cert_renewal_attempts_total Attempts to obtain or renew the certificate seen in the client's log (history replay included).
# TYPE cert_renewal_attempts_total counter
cert_renewal_attempts_total{client="lego",lineage="a.example.test"} 1
# HELP cert_renewal_last_success_timestamp_seconds Last attempt on the certificate that did not fail.
# TYPE cert_renewal_last_success_timestamp_seconds gauge
cert_renewal_last_success_timestamp_seconds{client="lego",lineage="a.example.test"} 1.796197595e+09
`, s.log), "cert_renewal_client_last_run_success", "cert_renewal_client_last_run_timestamp_seconds", "cert_renewal_failure",
		"cert_renewal_consecutive_failures", "cert_renewal_attempts_total", "cert_renewal_last_success_timestamp_seconds")
	if len(snap.Renewals) != 1 || !strings.HasPrefix(snap.Renewals[0].Message, "Could not create client: get directory at ") {
		t.Errorf("renewals %+v", snap.Renewals)
	}
}

// TestRunFailureStaysInItsInstallation: a run that fails before naming its certificate stands
// for the certificates of its own --path only, whichever of two installations it is in.
func TestRunFailureStaysInItsInstallation(t *testing.T) {
	for _, failing := range []int{0, 1} {
		t.Run(fmt.Sprint("installation ", failing), func(t *testing.T) {
			a, b := newStore(t), newStore(t)
			// b holds another name, so the two installations' lineages are told apart.
			for _, f := range []string{"crt", "issuer.crt", "key", "json"} {
				if err := os.Remove(filepath.Join(b.dir, "certificates", "a.example.test."+f)); err != nil {
					t.Fatal(err)
				}
			}
			b.write("certificates/b.example.test.crt", testcerts.Bundle(b.pki.Leaf(testcerts.Options{DNSNames: []string{"b.example.test"}, Now: now}), b.pki.Intermediate))
			a.logs("issue")
			[]*store{a, b}[failing].logs("issue-ca-down")
			var got []string
			for _, r := range a.once(a.cfg(), b.cfg()).Renewals {
				got = append(got, r.Lineage+"="+r.Reason)
			}
			want := [][]string{
				{"a.example.test=network", "b.example.test="},
				{"a.example.test=none", "b.example.test=network"},
			}[failing]
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("renewals %v, want %v", got, want)
			}
		})
	}
}
