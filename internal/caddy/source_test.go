package caddy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testexpo"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testuser"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

// now is the tests' fixed time: after the captured logs (2026-12-02 07:4x UTC).
var now = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// storeCert writes certificates/<issuer>/<name>/<name>.crt (leaf and intermediate, as Caddy
// stores them), the metadata meta, and a key that must never be read (it is no key at all).
func storeCert(t *testing.T, root, issuer, name string, serial int64, pki *testcerts.PKI, meta string) *testcerts.Cert {
	t.Helper()
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{name}, Serial: big.NewInt(serial), Now: now,
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(89 * 24 * time.Hour)})
	storeLeaf(t, root, issuer, leaf, pki, meta)
	return leaf
}

// storeLeaf writes leaf as Caddy stores the certificate of its first name (`*.example.test`
// under wildcard_.example.test), or of its IP address.
func storeLeaf(t *testing.T, root, issuer string, leaf *testcerts.Cert, pki *testcerts.PKI, meta string) {
	t.Helper()
	var name string
	if len(leaf.Cert.DNSNames) > 0 {
		name = logparse.CaddyStorageKey(leaf.Cert.DNSNames[0])
	} else {
		name = logparse.CaddyStorageKey(leaf.Cert.IPAddresses[0].String())
	}
	dir := filepath.Join(root, "certificates", issuer, name)
	writeFile(t, filepath.Join(dir, name+".crt"), testcerts.Bundle(leaf, pki.Intermediate))
	writeFile(t, filepath.Join(dir, name+".key"), []byte("not read"))
	if meta != "" {
		writeFile(t, filepath.Join(dir, name+".json"), []byte(meta))
	}
}

// captured is Caddy 2.6.2's log of the named scenarios (logparse/testdata, real runs against
// Pebble), in order, as one host's history.
func captured(t *testing.T, scenarios ...string) []byte {
	t.Helper()
	var out []byte
	for _, s := range scenarios {
		data, err := os.ReadFile("../../logparse/testdata/caddy-2.6.2/" + s + ".log")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data...)
	}
	return out
}

// render publishes snap as the exporter does and returns the exposition of the named
// families, with dir written as DIR.
func render(t *testing.T, snap *source.Snapshot, dir string, families ...string) string {
	t.Helper()
	text := testexpo.Families(t, "caddy", snap, now, families...)
	// The intermediates' serials are random: their series are the files source's business.
	var out []string
	for _, l := range strings.SplitAfter(strings.ReplaceAll(text, dir, "DIR"), "\n") {
		if !strings.Contains(l, `index="1"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func testSource(cfg config.Caddy) *Source {
	return Factory.New(&config.Config{Caddy: config.List[config.Caddy]{cfg}},
		source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(now)}).(*Source)
}

func parse(t *testing.T, doc string) config.Caddy {
	t.Helper()
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Caddy[0]
}

// TestStorageAndLog: the storage's certificates are series with source="caddy" and their
// name as lineage; the issuer directory (or the CA the metadata names) decides staging; the
// captured log (issued, then renewals failing with the challenge port closed) is each name's
// renewal state; garbage, an over-long line and a truncated metadata file are counted and
// reported, and the rest still works; the key file is never read; the instance's owner labels
// are on its certificates' cert_info.
func TestStorageAndLog(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "caddy")
	pki := testcerts.NewPKI("Caddy Test", now)
	storeCert(t, storage, "acme-v02.api.letsencrypt.org-directory", "a.example.test", 0xa, pki,
		`{"sans":["a.example.test"],"issuer_data":{"url":"https://acme-v02.api.letsencrypt.org/acme/cert/0a"}}`)
	storeCert(t, storage, "acme-v02.api.letsencrypt.org-directory", "www.a.example.test", 0xb, pki, `{"sans":["www.a.exa`)
	storeCert(t, storage, "127.0.0.1-14001-staging-dir", "s.example.test", 0xc, pki,
		`{"sans":["s.example.test"],"issuer_data":{"url":"https://127.0.0.1:14001/certZ/0c","ca":"https://127.0.0.1:14001/staging/dir"}}`)
	// Not a certificate of Caddy's layout: ignored.
	writeFile(t, filepath.Join(storage, "certificates", "x", "y", "z.crt"), testcerts.Bundle(pki.Intermediate))
	log := captured(t, "issue", "renew-connection")
	log = append(log, "not json at all\n{\"ts\":1,\"logger\":\"tls.obtain\",\"msg\":\n"...)
	log = append(log, bytes.Repeat([]byte("x"), 70<<10)...)
	log = append(log, '\n')
	logFile := filepath.Join(dir, "caddy.log")
	writeFile(t, logFile, log)

	s := testSource(parse(t, "caddy:\n  storage_dir: "+storage+"\n  log_file: "+logFile+"\n  labels: {team: web}\n"))
	snap := s.Once(context.Background())
	got := render(t, snap, dir, "cert_info", "cert_renewal_failure", "cert_renewal_consecutive_failures",
		"cert_expiry_exporter_source_up", "cert_expiry_exporter_errors_total", "cert_expiry_exporter_file_error")
	want := `# HELP cert_expiry_exporter_errors_total Errors by source and fixed reason.
# TYPE cert_expiry_exporter_errors_total counter
cert_expiry_exporter_errors_total{reason="dangling_symlink",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="empty",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="io",source="caddy_log"} 0
cert_expiry_exporter_errors_total{reason="io",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="limit_exceeded",source="caddy_log"} 0
cert_expiry_exporter_errors_total{reason="line_too_long",source="caddy_log"} 1
cert_expiry_exporter_errors_total{reason="no_match",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="not_found",source="caddy_log"} 0
cert_expiry_exporter_errors_total{reason="not_found",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="parse",source="caddy_log"} 2
cert_expiry_exporter_errors_total{reason="parse",source="caddy_store"} 1
cert_expiry_exporter_errors_total{reason="password",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="permission",source="caddy_log"} 0
cert_expiry_exporter_errors_total{reason="permission",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="too_large",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="watch",source="caddy_store"} 0
# HELP cert_expiry_exporter_file_error 1 per file (or glob, or directory) that currently cannot be read, with the reason.
# TYPE cert_expiry_exporter_file_error gauge
cert_expiry_exporter_file_error{path="DIR/caddy/certificates/acme-v02.api.letsencrypt.org-directory/www.a.example.test/www.a.example.test.json",reason="parse"} 1
# HELP cert_expiry_exporter_source_up 1 when the source's last pass worked.
# TYPE cert_expiry_exporter_source_up gauge
cert_expiry_exporter_source_up{name="DIR/caddy",source="caddy_store"} 1
cert_expiry_exporter_source_up{name="DIR/caddy.log",source="caddy_log"} 1
# HELP cert_info Descriptive certificate data; always 1.
# TYPE cert_info gauge
cert_info{domain="a.example.test",eku="server_auth,client_auth",index="0",issuer="Caddy Test Intermediate CA",key_type="ecdsa-p256",lineage="a.example.test",path="DIR/caddy/certificates/acme-v02.api.letsencrypt.org-directory/a.example.test/a.example.test.crt",sans="a.example.test",serial="a",signature_algorithm="ECDSA-SHA256",source="caddy",team="web"} 1
cert_info{domain="www.a.example.test",eku="server_auth,client_auth",index="0",issuer="Caddy Test Intermediate CA",key_type="ecdsa-p256",lineage="www.a.example.test",path="DIR/caddy/certificates/acme-v02.api.letsencrypt.org-directory/www.a.example.test/www.a.example.test.crt",sans="www.a.example.test",serial="b",signature_algorithm="ECDSA-SHA256",source="caddy",team="web"} 1
cert_info{domain="s.example.test",eku="server_auth,client_auth",index="0",issuer="Caddy Test Intermediate CA",key_type="ecdsa-p256",lineage="s.example.test",path="DIR/caddy/certificates/127.0.0.1-14001-staging-dir/s.example.test/s.example.test.crt",sans="s.example.test",serial="c",signature_algorithm="ECDSA-SHA256",source="caddy",staging="true",team="web"} 1
# HELP cert_renewal_consecutive_failures Failed attempts since the last success: the retries a success ends.
# TYPE cert_renewal_consecutive_failures gauge
cert_renewal_consecutive_failures{client="caddy",lineage="a.example.test"} 2
cert_renewal_consecutive_failures{client="caddy",lineage="www.a.example.test"} 2
# HELP cert_renewal_failure 1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.
# TYPE cert_renewal_failure gauge
cert_renewal_failure{client="caddy",domain="a.example.test",lineage="a.example.test",reason="connection"} 1
cert_renewal_failure{client="caddy",domain="www.a.example.test",lineage="www.a.example.test",reason="connection"} 1
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var problems []string
	for _, p := range snap.Problems {
		problems = append(problems, p.Source+" "+strings.TrimPrefix(p.Where, dir)+" "+p.Reason)
	}
	if want := []string{"caddy /caddy/certificates/acme-v02.api.letsencrypt.org-directory/www.a.example.test/www.a.example.test.json parse"}; !slices.Equal(problems, want) {
		t.Errorf("problems %q, want %q", problems, want)
	}
}

// TestBadInput: a storage dir that is a symlink loop, a log that is a FIFO, a metadata file
// that is a FIFO: each a clear error series and problem at once, nothing blocks, and the
// other instance keeps working.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	good := filepath.Join(dir, "good")
	fifo := filepath.Join(dir, "caddy.log")
	pki := testcerts.NewPKI("Caddy Test", now)
	storeCert(t, good, "acme-v02.api.letsencrypt.org-directory", "a.example.test", 0xa, pki, "")
	metaFIFO := filepath.Join(good, "certificates", "acme-v02.api.letsencrypt.org-directory", "a.example.test", "a.example.test.json")
	if err := errors.Join(os.Symlink(loop, loop), syscall.Mkfifo(fifo, 0o600), syscall.Mkfifo(metaFIFO, 0o600)); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte("caddy:\n  - storage_dir: " + loop + "\n    log_file: " + fifo + "\n  - storage_dir: " + good + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := Factory.New(cfg, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(now)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap := s.Once(ctx)
	if ctx.Err() != nil {
		t.Fatal("Once blocked")
	}
	got := render(t, snap, dir, "cert_expiry_exporter_source_up", "cert_expiry_exporter_file_error", "cert_not_after_timestamp_seconds")
	want := `# HELP cert_expiry_exporter_file_error 1 per file (or glob, or directory) that currently cannot be read, with the reason.
# TYPE cert_expiry_exporter_file_error gauge
cert_expiry_exporter_file_error{path="DIR/good/certificates/acme-v02.api.letsencrypt.org-directory/a.example.test/a.example.test.json",reason="io"} 1
cert_expiry_exporter_file_error{path="DIR/loop/certificates",reason="io"} 1
# HELP cert_expiry_exporter_source_up 1 when the source's last pass worked.
# TYPE cert_expiry_exporter_source_up gauge
cert_expiry_exporter_source_up{name="DIR/caddy.log",source="caddy_log"} 0
cert_expiry_exporter_source_up{name="DIR/good",source="caddy_store"} 1
cert_expiry_exporter_source_up{name="DIR/loop",source="caddy_store"} 0
# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
cert_not_after_timestamp_seconds{domain="a.example.test",index="0",issuer="Caddy Test Intermediate CA",lineage="a.example.test",path="DIR/good/certificates/acme-v02.api.letsencrypt.org-directory/a.example.test/a.example.test.crt",serial="a",source="caddy"} 1.803888e+09
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var problems []string
	for _, p := range snap.Problems {
		problems = append(problems, p.Source+" "+strings.TrimPrefix(p.Where, dir)+" "+p.Reason)
	}
	if want := []string{"caddy /loop/certificates io", "caddy /good/certificates/acme-v02.api.letsencrypt.org-directory/a.example.test/a.example.test.json io"}; !slices.Equal(problems, want) {
		t.Errorf("problems %q, want %q", problems, want)
	}
}

// TestRunFollowsRolledLog: Run publishes the replayed history, then follows the log across
// Caddy's own roll (the file renamed to caddy-<time>.log, a new one created): the failure
// written after the roll is seen, and a restart replays both files to the same state.
func TestRunFollowsRolledLog(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "caddy")
	storeCert(t, storage, "acme-v02.api.letsencrypt.org-directory", "a.example.test", 0xa, testcerts.NewPKI("Caddy Test", now), "")
	logFile := filepath.Join(dir, "caddy.log")
	writeFile(t, logFile, captured(t, "issue"))
	cfg := parse(t, "caddy:\n  storage_dir: "+storage+"\n  log_file: "+logFile+"\n")
	clock := clockwork.NewFakeClockAt(now)
	s := Factory.New(&config.Config{Caddy: config.List[config.Caddy]{cfg}}, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clock})
	var mu sync.Mutex
	var last *source.Snapshot
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, func(snap *source.Snapshot) { mu.Lock(); last = snap; mu.Unlock() })
	}()
	defer func() { cancel(); <-done }()
	reason := func(lineage string) string {
		mu.Lock()
		defer mu.Unlock()
		if last == nil {
			return "unpublished"
		}
		for _, r := range last.Renewals {
			if r.Lineage == lineage {
				return r.Reason
			}
		}
		return "absent"
	}
	testwait.For(t, "the replayed success", func() bool { return reason("a.example.test") == "none" })

	if err := os.Rename(logFile, filepath.Join(dir, "caddy-2026-12-02T07-43-00.000.log")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, logFile, captured(t, "renew-connection"))
	testwait.For(t, "the failure after the roll", func() bool {
		clock.Advance(logPoll)
		return reason("a.example.test") == "connection"
	})

	again := testSource(cfg).Once(context.Background())
	mu.Lock()
	lastSuccess := last.Renewals[0].LastSuccess
	mu.Unlock()
	if n := len(again.Renewals); n != 2 || again.Renewals[0].Reason != "connection" || !again.Renewals[0].LastSuccess.Equal(lastSuccess) || lastSuccess.IsZero() {
		t.Errorf("replayed after a restart: %+v", again.Renewals)
	}
}

// TestUnreadableStorage: a storage dir the exporter may not enter (Caddy keeps its own 0700)
// and, in another instance's storage, a certificate that is a symlink to itself: each a clear
// error series and problem naming the path at once, and the rest still exported.
func TestUnreadableStorage(t *testing.T) {
	if testuser.Nobody(t, "^TestUnreadableStorage$") {
		return
	}
	dir := t.TempDir()
	const issuer = "acme-v02.api.letsencrypt.org-directory"
	closed, good := filepath.Join(dir, "closed"), filepath.Join(dir, "good")
	pki := testcerts.NewPKI("Caddy Test", now)
	storeCert(t, closed, issuer, "b.example.test", 0xb, pki, "")
	storeCert(t, good, issuer, "a.example.test", 0xa, pki, "")
	loop := filepath.Join(good, "certificates", issuer, "loop.example.test", "loop.example.test.crt")
	if err := os.MkdirAll(filepath.Dir(loop), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.Symlink(loop, loop), os.Chmod(closed, 0)); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(closed, 0o755) // for t.TempDir's removal
	cfg, err := config.Parse([]byte("caddy:\n  - storage_dir: " + closed + "\n  - storage_dir: " + good + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := Factory.New(cfg, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(now)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap := s.Once(ctx)
	if ctx.Err() != nil {
		t.Fatal("Once blocked")
	}
	got := render(t, snap, dir, "cert_expiry_exporter_source_up", "cert_expiry_exporter_file_error", "cert_not_after_timestamp_seconds", "cert_expiry_exporter_errors_total")
	want := `# HELP cert_expiry_exporter_errors_total Errors by source and fixed reason.
# TYPE cert_expiry_exporter_errors_total counter
cert_expiry_exporter_errors_total{reason="dangling_symlink",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="empty",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="io",source="caddy_store"} 1
cert_expiry_exporter_errors_total{reason="no_match",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="not_found",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="parse",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="password",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="permission",source="caddy_store"} 1
cert_expiry_exporter_errors_total{reason="too_large",source="caddy_store"} 0
cert_expiry_exporter_errors_total{reason="watch",source="caddy_store"} 0
# HELP cert_expiry_exporter_file_error 1 per file (or glob, or directory) that currently cannot be read, with the reason.
# TYPE cert_expiry_exporter_file_error gauge
cert_expiry_exporter_file_error{path="DIR/closed/certificates",reason="permission"} 1
cert_expiry_exporter_file_error{path="DIR/good/certificates/acme-v02.api.letsencrypt.org-directory/loop.example.test/loop.example.test.crt",reason="io"} 1
# HELP cert_expiry_exporter_source_up 1 when the source's last pass worked.
# TYPE cert_expiry_exporter_source_up gauge
cert_expiry_exporter_source_up{name="DIR/closed",source="caddy_store"} 0
cert_expiry_exporter_source_up{name="DIR/good",source="caddy_store"} 1
# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
cert_not_after_timestamp_seconds{domain="a.example.test",index="0",issuer="Caddy Test Intermediate CA",lineage="a.example.test",path="DIR/good/certificates/acme-v02.api.letsencrypt.org-directory/a.example.test/a.example.test.crt",serial="a",source="caddy"} 1.803888e+09
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var problems []string
	for _, p := range snap.Problems {
		problems = append(problems, p.Source+" "+strings.TrimPrefix(p.Where, dir)+" "+p.Reason)
	}
	if want := []string{"caddy /closed/certificates permission", "caddy /good/certificates/" + issuer + "/loop.example.test/loop.example.test.crt io"}; !slices.Equal(problems, want) {
		t.Errorf("problems %q, want %q", problems, want)
	}
}

// TestStoredRenewalWindow: the renewal window Caddy (≥ 2.8) stored from the CA (ARI, in the
// metadata as Caddy 2.11.9 writes it against Pebble) is the certificate's window series and its
// renewal point, as one the ari source fetched would be; metadata without one publishes none.
func TestStoredRenewalWindow(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "caddy")
	pki := testcerts.NewPKI("Caddy ARI", now)
	start, end := now.Add(40*24*time.Hour), now.Add(42*24*time.Hour)
	leaf := storeCert(t, storage, "127.0.0.1-14000-dir", "a.example.test", 0xa1, pki, `{
	"sans": ["a.example.test"],
	"issuer_data": {
		"url": "https://127.0.0.1:14000/certZ/a1",
		"ca": "https://127.0.0.1:14000/dir",
		"renewal_info": {
			"suggestedWindow": {"start": "`+start.Format(time.RFC3339)+`", "end": "`+end.Format(time.RFC3339)+`"},
			"_uniqueIdentifier": "9l_4Q1KEdKasCKH8UQhEWYDctNE.oQ",
			"_retryAfter": "2026-12-02T13:41:37.127109466Z",
			"_selectedTime": "`+start.Add(time.Hour).Format(time.RFC3339)+`"
		}
	}
}`)
	// b: no window; c: a window that ends before it starts (refused, as the ari source does:
	// its end would page CertificateARIWindowPassed at once).
	storeCert(t, storage, "127.0.0.1-14000-dir", "b.example.test", 0xb1, pki,
		`{"sans":["b.example.test"],"issuer_data":{"url":"https://127.0.0.1:14000/certZ/b1","ca":"https://127.0.0.1:14000/dir"}}`)
	storeCert(t, storage, "127.0.0.1-14000-dir", "c.example.test", 0xc1, pki,
		`{"sans":["c.example.test"],"issuer_data":{"url":"https://127.0.0.1:14000/certZ/c1","renewal_info":{"suggestedWindow":{"start":"`+start.Format(time.RFC3339)+`"}}}}`)
	snap := testSource(parse(t, "caddy:\n  storage_dir: "+storage+"\n")).Once(context.Background())
	got := render(t, snap, dir, "cert_ari_window_start_timestamp_seconds", "cert_ari_window_end_timestamp_seconds", "cert_ari_info")
	want := fmt.Sprintf(`# HELP cert_ari_info The CA's explanation URL for the renewal window; always 1.
# TYPE cert_ari_info gauge
cert_ari_info{domain="a.example.test",explanation_url="",lineage="a.example.test",serial="a1"} 1
# HELP cert_ari_window_end_timestamp_seconds End of the renewal window the CA suggests; in the past when the CA wants the certificate replaced now.
# TYPE cert_ari_window_end_timestamp_seconds gauge
cert_ari_window_end_timestamp_seconds{domain="a.example.test",lineage="a.example.test",serial="a1"} %s
# HELP cert_ari_window_start_timestamp_seconds Start of the renewal window the CA suggests (ACME Renewal Information, RFC 9773).
# TYPE cert_ari_window_start_timestamp_seconds gauge
cert_ari_window_start_timestamp_seconds{domain="a.example.test",lineage="a.example.test",serial="a1"} %s
`, expoTime(end), expoTime(start))
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	store := inventory.New("caddy")
	store.Restart("caddy", true)(snap)
	for _, r := range inventory.Build(store.View(), now, inventory.DefaultThresholds).Certificates {
		if r.Index != 0 {
			continue
		}
		want := r.NotBefore.Add(r.NotAfter.Sub(r.NotBefore) * 2 / 3) // b and c: without a window
		if r.Domain == leaf.Cert.DNSNames[0] {
			want = start
		}
		if !r.RenewalDue.Equal(want) {
			t.Errorf("%s: renewal due %v, want %v", r.Domain, r.RenewalDue, want)
		}
	}
}

// expoTime is t as the text exposition writes a timestamp value.
func expoTime(t time.Time) string { return strconv.FormatFloat(float64(t.Unix()), 'g', -1, 64) }

// TestTwoInstances: two Caddy instances on one host, each its storage, log and owner labels:
// each one's certificates carry its labels, and a name both manage (a site moved from one to
// the other) has one renewal state, the first instance's, so its series stay unique.
func TestTwoInstances(t *testing.T) {
	dir := t.TempDir()
	pki := testcerts.NewPKI("Caddy Test", now)
	const issuer = "acme-v02.api.letsencrypt.org-directory"
	web, api := filepath.Join(dir, "web"), filepath.Join(dir, "api")
	storeCert(t, web, issuer, "a.example.test", 0xa, pki, "")
	storeCert(t, api, issuer, "a.example.test", 0xa2, pki, "")
	storeCert(t, api, issuer, "www.a.example.test", 0xb, pki, "")
	webLog, apiLog := filepath.Join(dir, "web.log"), filepath.Join(dir, "api.log")
	// web's log: a.example.test issued and renewed; api's: both names, their renewals failing.
	var aOnly []byte
	for _, l := range bytes.SplitAfter(captured(t, "issue", "renew"), []byte("\n")) {
		if bytes.Contains(l, []byte(`"a.example.test"`)) {
			aOnly = append(aOnly, l...)
		}
	}
	writeFile(t, webLog, aOnly)
	writeFile(t, apiLog, captured(t, "issue", "renew-connection"))
	cfg, err := config.Parse([]byte("caddy:\n  - storage_dir: " + web + "\n    log_file: " + webLog + "\n    labels: {team: web}\n" +
		"  - storage_dir: " + api + "\n    log_file: " + apiLog + "\n    labels: {team: api}\n"))
	if err != nil {
		t.Fatal(err)
	}
	snap := Factory.New(cfg, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(now)}).Once(context.Background())
	got := render(t, snap, dir, "cert_renewal_failure", "cert_info")
	want := `# HELP cert_info Descriptive certificate data; always 1.
# TYPE cert_info gauge
cert_info{domain="a.example.test",eku="server_auth,client_auth",index="0",issuer="Caddy Test Intermediate CA",key_type="ecdsa-p256",lineage="a.example.test",path="DIR/api/certificates/acme-v02.api.letsencrypt.org-directory/a.example.test/a.example.test.crt",sans="a.example.test",serial="a2",signature_algorithm="ECDSA-SHA256",source="caddy",team="api"} 1
cert_info{domain="a.example.test",eku="server_auth,client_auth",index="0",issuer="Caddy Test Intermediate CA",key_type="ecdsa-p256",lineage="a.example.test",path="DIR/web/certificates/acme-v02.api.letsencrypt.org-directory/a.example.test/a.example.test.crt",sans="a.example.test",serial="a",signature_algorithm="ECDSA-SHA256",source="caddy",team="web"} 1
cert_info{domain="www.a.example.test",eku="server_auth,client_auth",index="0",issuer="Caddy Test Intermediate CA",key_type="ecdsa-p256",lineage="www.a.example.test",path="DIR/api/certificates/acme-v02.api.letsencrypt.org-directory/www.a.example.test/www.a.example.test.crt",sans="www.a.example.test",serial="b",signature_algorithm="ECDSA-SHA256",source="caddy",team="api"} 1
# HELP cert_renewal_failure 1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.
# TYPE cert_renewal_failure gauge
cert_renewal_failure{client="caddy",domain="a.example.test",lineage="a.example.test",reason="none"} 0
cert_renewal_failure{client="caddy",domain="www.a.example.test",lineage="www.a.example.test",reason="connection"} 1
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
