package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/testutil"
	toolkit "github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/registry"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs an exporter on cfgPath until the test ends; clock nil is a fake one stopped at
// fixedNow (sources do their first pass and then wait for time that does not come).
func start(t *testing.T, cfgPath string, clock clockwork.Clock) *Exporter {
	t.Helper()
	if clock == nil {
		clock = clockwork.NewFakeClockAt(fixedNow)
	}
	e, err := New(ConfigSource{File: cfgPath}, registry.Sources, slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func TestNewFailsOnBadConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	writeFile(t, p, "files:\n  - pathz: [a]\n")
	_, err := New(ConfigSource{File: p}, registry.Sources, slog.New(slog.DiscardHandler), clockwork.NewRealClock())
	if err == nil || !strings.Contains(err.Error(), "files[0].pathz: field not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestResolveConfig(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "cert_expiry_exporter.yml")
	if src := ResolveConfig(missing, false); src.File != "" || src.Builtin == nil {
		t.Fatalf("default name absent: want built-in, got %+v", src)
	}
	if src := ResolveConfig(missing, true); src.File != missing {
		t.Fatalf("explicit flag must be used even when absent: %+v", src)
	}
	writeFile(t, missing, "")
	if src := ResolveConfig(missing, false); src.File != missing {
		t.Fatalf("default name present: want the file, got %+v", src)
	}
}

func TestReload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	writeFile(t, p, "modules:\n  first: {}\n")
	e := start(t, p, nil)
	ctx := context.Background()

	writeFile(t, p, "modules:\n  second: {}\n")
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Config().Modules["second"]; !ok {
		t.Fatal("good reload: new config not live")
	}
	if got := testutil.ToFloat64(e.reloadOK); got != 1 {
		t.Fatalf("reload gauge after good reload = %v", got)
	}
	if got := testutil.ToFloat64(e.reloadTime); got != float64(fixedNow.Unix()) {
		t.Fatalf("reload timestamp = %v", got)
	}

	writeFile(t, p, "modules:\n  third:\n    starttls: nope\n")
	err := e.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), "modules.third.starttls") {
		t.Fatalf("bad reload error = %v", err)
	}
	if _, ok := e.Config().Modules["second"]; !ok {
		t.Fatal("bad reload replaced the config")
	}
	if got := testutil.ToFloat64(e.reloadOK); got != 0 {
		t.Fatalf("reload gauge after bad reload = %v", got)
	}

	// Concurrent reloads and reads are serialised by the reload goroutine (run with -race).
	writeFile(t, p, "modules:\n  fourth: {}\n")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			if err := e.Reload(ctx); err != nil {
				t.Error(err)
			}
			_ = e.Config().Modules
		})
	}
	wg.Wait()
	if _, ok := e.Config().Modules["fourth"]; !ok || testutil.ToFloat64(e.reloadOK) != 1 {
		t.Fatal("concurrent reloads did not end on the new config")
	}
}

// serveTLS serves the exporter through exporter-toolkit with a TLS + basic auth web config,
// as a user would deploy it, and returns the base URL and a client trusting the server.
func serveTLS(t *testing.T, e *Exporter) (string, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	pki := testcerts.NewPKI("Web", time.Now())
	leaf := pki.Leaf(testcerts.Options{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	writeFile(t, filepath.Join(dir, "tls.crt"), string(testcerts.Bundle(leaf, pki.Intermediate)))
	writeFile(t, filepath.Join(dir, "tls.key"), string(leaf.KeyPEM()))
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	writeFile(t, webCfg, "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prom: "+string(hash)+"\n")

	h := e.Handler(HTTPOptions{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	systemd := false
	flags := &toolkit.FlagConfig{WebListenAddresses: &[]string{l.Addr().String()}, WebSystemdSocket: &systemd, WebConfigFile: &webCfg}
	go func() { _ = toolkit.Serve(l, srv, flags, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { _ = srv.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(pki.Root.Cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return "https://" + l.Addr().String(), client
}

func get(t *testing.T, c *http.Client, method, url string, auth bool) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if auth {
		req.SetBasicAuth("prom", "s3cret")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPWithTLSAndBasicAuth(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	writeFile(t, p, "files:\n  - paths: [/nonexistent/*.pem]\n    password: hunter2\n")
	e := start(t, p, nil)
	base, c := serveTLS(t, e)

	if code, _ := get(t, c, "GET", base+"/metrics", false); code != http.StatusUnauthorized {
		t.Fatalf("no credentials: status %d, want 401", code)
	}
	code, body := get(t, c, "GET", base+"/", true)
	if code != 200 {
		t.Fatalf("landing page: %d", code)
	}
	for _, link := range []string{`href="/metrics"`, `href="/config"`, `href="/-/healthy"`, `href="/-/ready"`, `action="/probe"`} {
		if !strings.Contains(body, link) {
			t.Errorf("landing page lacks %s", link)
		}
	}
	code, body = get(t, c, "GET", base+"/metrics", true)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"cert_expiry_exporter_build_info{",
		"cert_expiry_exporter_config_last_reload_successful 1",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	code, body = get(t, c, "GET", base+"/config", true)
	if code != 200 || strings.Contains(body, "hunter2") || !strings.Contains(body, "/nonexistent/*.pem") {
		t.Fatalf("/config: %d\n%s", code, body)
	}
	if code, _ := get(t, c, "GET", base+"/-/reload", true); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /-/reload: %d", code)
	}
	writeFile(t, p, "bogus: 1\n")
	code, body = get(t, c, "POST", base+"/-/reload", true)
	if code != http.StatusInternalServerError || !strings.Contains(body, "bogus: field not found") {
		t.Fatalf("POST /-/reload with bad config: %d %s", code, body)
	}
	writeFile(t, p, "drift: {grace_period: 1h}\n")
	if code, body := get(t, c, "POST", base+"/-/reload", true); code != 200 {
		t.Fatalf("POST /-/reload: %d %s", code, body)
	}
	if code, _ := get(t, c, "GET", base+"/-/healthy", true); code != 200 {
		t.Fatalf("/-/healthy: %d", code)
	}
	testwait.Until(t, func() error {
		if code, _ := get(t, c, "GET", base+"/-/ready", true); code != 200 {
			return fmt.Errorf("/-/ready never became 200 (last %d)", code)
		}
		return nil
	})
}
