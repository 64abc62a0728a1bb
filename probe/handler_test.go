package probe

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

var probeT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// probeSetup serves TLS on loopback and returns the /probe handler's server and the TLS address.
func probeSetup(t *testing.T, extra string) (probeURL, tlsAddr, silentAddr string) {
	pki := testcerts.NewPKI("Web", probeT0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: probeT0})
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf.TLS(pki.Intermediate)}}
	tlsAddr = loopback(t, testserver.HandleTLS(cfg))
	silentAddr = loopback(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pki.Root.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse([]byte(`
modules:
  tls: {tls_config: {ca_file: ` + ca + `, server_name: localhost}, check_revocation: false}
` + extra))
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(func() *config.Config { return c }, slog.New(slog.DiscardHandler), func() time.Time { return probeT0 })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, tlsAddr, silentAddr
}

func loopback(t *testing.T, handle func(net.Conn)) string {
	return testserver.Serve(t, "127.0.0.1:0", handle).Addr
}

func httpGet(t *testing.T, u string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHandlerMetrics(t *testing.T) {
	base, addr, _ := probeSetup(t, "")
	_, port, _ := net.SplitHostPort(addr)
	u := base + "/probe?target=" + url.QueryEscape(addr)
	want := `
# HELP probe_success 1 when every address of the target was probed successfully.
# TYPE probe_success gauge
probe_success 1
# HELP probe_duration_seconds How long the probe took.
# TYPE probe_duration_seconds gauge
probe_duration_seconds 0
# HELP cert_probe_success 1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).
# TYPE cert_probe_success gauge
cert_probe_success{ip="127.0.0.1",module="tls",target="127.0.0.1:` + port + `"} 1
# HELP cert_chain_verified 1 when the chain verifies, else 0, with the reason.
# TYPE cert_chain_verified gauge
cert_chain_verified{ip="127.0.0.1",reason="ok",source="probe",target="127.0.0.1:` + port + `"} 1
`
	if err := testutil.ScrapeAndCompare(u, strings.NewReader(want), "probe_success", "probe_duration_seconds", "cert_probe_success", "cert_chain_verified"); err != nil {
		t.Error(err)
	}
	code, body := httpGet(t, u)
	if n := strings.Count(body, "\ncert_not_after_timestamp_seconds{"); code != 200 || n != 2 {
		t.Errorf("%d, %d certificates (want leaf and intermediate):\n%s", code, n, body)
	}
	code, body = httpGet(t, u+"&debug=true")
	if code != 200 || !strings.Contains(body, "Logs for the probe:") || !strings.Contains(body, "connecting to "+addr) || !strings.Contains(body, "\nprobe_success 1\n") {
		t.Errorf("debug: %d\n%s", code, body)
	}
}

func TestHandlerTimeout(t *testing.T) {
	base, _, silent := probeSetup(t, "")
	code, body := httpGet(t, base+"/probe?target="+silent, "X-Prometheus-Scrape-Timeout-Seconds", "1")
	if code != 200 || !strings.Contains(body, "probe_success 0") || !strings.Contains(body, `probe_failure{reason="timeout"} 1`) {
		t.Errorf("%d\n%s", code, body)
	}
}

func TestHandlerBadRequests(t *testing.T) {
	base, addr, _ := probeSetup(t, "probe: {allowed_targets: [\"*.example.com\"]}\n")
	for _, tc := range []struct{ query, want string }{
		{"target=" + addr + "&module=nope", `unknown module "nope"`},
		{"module=tls", "target parameter is missing"},
		{"target=file:///etc/passwd", "is a URL"},
		{"target=/etc/passwd", "is not host:port"},
		{"target=" + addr, "refused: target host \"127.0.0.1\" is not in probe.allowed_targets"},
		{"target=localhost:99999", "bad port"},
		// Neither a label value nor echoed: a 100 KB target once made a 700 KB response.
		{"target=" + strings.Repeat("a", 100<<10), "target is 102400 bytes long, at most 300"},
	} {
		code, body := httpGet(t, base+"/probe?"+tc.query)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) || len(body) > 200 {
			t.Errorf("%s: %d %q, want 400 %q", tc.query, code, body, tc.want)
		}
	}
	code, body := httpGet(t, base+"/probe?target="+addr, "X-Prometheus-Scrape-Timeout-Seconds", "soon")
	if code != http.StatusBadRequest || !strings.Contains(body, "bad X-Prometheus-Scrape-Timeout-Seconds") {
		t.Errorf("bad header: %d %q", code, body)
	}
}

func TestProbeTimeout(t *testing.T) {
	for _, tc := range []struct {
		header string
		module time.Duration
		want   time.Duration
	}{
		{"", 10 * time.Second, 10 * time.Second},
		{"15", 10 * time.Second, 10 * time.Second},
		{"5", 10 * time.Second, 4500 * time.Millisecond},
		{"0.6", 10 * time.Second, 300 * time.Millisecond},
		{"30", 0, 10 * time.Second},
	} {
		r := httptest.NewRequest(http.MethodGet, "/probe", nil)
		if tc.header != "" {
			r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		if got, err := probeTimeout(r, tc.module); err != nil || got != tc.want {
			t.Errorf("%q %s: %s %v, want %s", tc.header, tc.module, got, err, tc.want)
		}
	}
}

// TestProbeHandlerOpenWarning: an empty probe.allowed_targets is warned about once per config
// loaded (at start, and after a reload), never per request.
func TestHandlerOpenWarning(t *testing.T) {
	var logs testwait.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	mustParse := func(yaml string) *config.Config {
		c, err := config.Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var cfg atomic.Pointer[config.Config]
	cfg.Store(mustParse(""))
	h := Handler(cfg.Load, logger, func() time.Time { return probeT0 })
	request := func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/probe", nil))
		if w.Code != http.StatusBadRequest {
			t.Fatalf("status %d", w.Code)
		}
	}
	warnings := func() int { return strings.Count(logs.String(), "level=WARN msg=\"probe.allowed_targets is empty") }
	if n := warnings(); n != 1 {
		t.Fatalf("%d warnings at start, want 1:\n%s", n, logs.String())
	}
	for range 3 {
		request()
	}
	if n := warnings(); n != 1 {
		t.Errorf("%d warnings after 3 requests, want 1", n)
	}
	cfg.Store(mustParse("")) // a reload
	request()
	request()
	if n := warnings(); n != 2 {
		t.Errorf("%d warnings after a reload, want 2", n)
	}
	cfg.Store(mustParse("probe: {allowed_targets: [\"*.example.com\"]}\n"))
	request()
	if n := warnings(); n != 2 {
		t.Errorf("%d warnings with an allow-list, want 2:\n%s", n, logs.String())
	}
}

// TestProbeHandlerConcurrencyLimit: requests beyond MaxConcurrentProbes are refused at once.
func TestHandlerConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	var accepted atomic.Int64
	hang := listenHang(t, release, &accepted)
	cfg, err := config.Parse([]byte("modules:\n  tls: {timeout: 30s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(func() *config.Config { return cfg }, slog.New(slog.DiscardHandler), time.Now)
	srv := httptest.NewServer(h)
	defer srv.Close()
	var done sync.WaitGroup
	defer done.Wait()
	defer close(release)
	for i := 0; i < maxConcurrentProbes; i++ {
		done.Go(func() {
			resp, err := http.Get(srv.URL + "/?target=" + hang)
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	// Every admitted probe holds one connection to the silent server.
	testwait.Until(t, func() error {
		if n := accepted.Load(); n < maxConcurrentProbes {
			return fmt.Errorf("only %d probes in flight", n)
		}
		return nil
	})
	resp, err := http.Get(srv.URL + "/?target=" + hang)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("request %d: status %d, want 503", maxConcurrentProbes+1, resp.StatusCode)
	}
}

// listenHang accepts TCP connections, counts them and never speaks until release is closed.
func listenHang(t *testing.T, release chan struct{}, accepted *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() { <-release; c.Close() }()
		}
	}()
	return ln.Addr().String()
}
