package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// world is a small installation for whole-exporter tests: certificate files, a loopback TLS
// server to probe, and a config naming both.
type world struct {
	dir, certDir, cfgPath string
	pki                   *testcerts.PKI
	leaves                []*testcerts.Cert // pool the churn picks file contents from
	target                string            // the TLS server, host:port
}

func newWorld(t testing.TB, files int) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{dir: dir, certDir: filepath.Join(dir, "certs"), cfgPath: filepath.Join(dir, "config.yml"), pki: testcerts.NewPKI("Stress", fixedNow)}
	if err := os.Mkdir(w.certDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		w.leaves = append(w.leaves, w.pki.Leaf(testcerts.Options{CN: fmt.Sprintf("host%d.stress.test", i), DNSNames: []string{"localhost"}, Now: fixedNow}))
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), w.pki.Root.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		w.writeCert(t, i, w.leaves[i%len(w.leaves)])
	}
	w.target = testserver.TLS(t, w.leaves[0].TLS(w.pki.Intermediate)).Addr
	w.writeConfig(t, 0)
	return w
}

// certPath is the path of file i.
func (w *world) certPath(i int) string { return filepath.Join(w.certDir, fmt.Sprintf("c%03d.pem", i)) }

// writeCert replaces file i atomically (as certbot and deploy tools do), so a reader never
// sees a half-written file.
func (w *world) writeCert(t testing.TB, i int, leaf *testcerts.Cert) {
	tmp := filepath.Join(w.dir, fmt.Sprintf("c%03d.tmp", i))
	if err := os.WriteFile(tmp, testcerts.Bundle(leaf, w.pki.Intermediate), 0o644); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, w.certPath(i)); err != nil {
		t.Error(err)
	}
}

// writeConfig writes one of two configs that differ in every source's settings, so that
// switching between them restarts the files and targets sources.
func (w *world) writeConfig(t testing.TB, variant int) {
	cfg := fmt.Sprintf(`files:
  - paths: [%q]
    ca_file: %q
    rescan_interval: %dm
modules:
  tls:
    timeout: 2m
    tls_config: {server_name: localhost, ca_file: %q}
targets:
  - target: %q
    interval: %ds
`, filepath.Join(w.certDir, "*.pem"), filepath.Join(w.dir, "ca.pem"), 5+variant, filepath.Join(w.dir, "ca.pem"), w.target, 1+variant)
	tmp := w.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o600); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, w.cfgPath); err != nil {
		t.Error(err)
	}
}

// stressDuration is how long TestStress hammers the exporter: a few seconds by default,
// STRESS_DURATION (e.g. 1m) for a measurement.
func stressDuration(t *testing.T) time.Duration {
	s := os.Getenv("STRESS_DURATION")
	if s == "" {
		return 3 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("STRESS_DURATION: %v", err)
	}
	return d
}

// failures records what went wrong in the hammering goroutines: the count and the first few.
type failures struct {
	n     atomic.Int64
	mu    sync.Mutex
	first []string
}

func (f *failures) add(format string, args ...any) {
	if f.n.Add(1) > 5 {
		return
	}
	f.mu.Lock()
	f.first = append(f.first, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// TestStress: 50 clients scrape /metrics and /probe while certificate files churn and the
// config is reloaded (alternately through Reload and POST /-/reload), every reload restarting
// the files and targets sources. No request may fail, every exposition must parse, and the
// end state must be exactly the files on disk with no error counted; run with -race.
func TestStress(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, so it runs last
	const files, clients = 20, 50
	w := newWorld(t, files)
	e := start(t, w.cfgPath, clockwork.NewRealClock()) // file changes and probe intervals in real time
	h := e.Handler(HTTPOptions{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	t.Cleanup(tr.CloseIdleConnections)
	// Generous bounds: 50 clients under -race on a loaded 2-core machine can take many seconds
	// per request, and a timeout is not what this test looks for (a failed or wrong answer is).
	client := &http.Client{Transport: tr, Timeout: 3 * time.Minute}
	fetch := func(method, path string) (int, []byte, error) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}

	var fails failures
	var scrapes, probes, reloads, changes atomic.Int64
	ctx, stop := context.WithTimeout(context.Background(), stressDuration(t))
	defer stop()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if (c+i)%2 == 0 {
					code, body, err := fetch("GET", "/metrics")
					if err != nil || code != 200 {
						fails.add("/metrics: %d %v", code, err)
						continue
					}
					if _, err := parseExposition(body); err != nil {
						fails.add("/metrics does not parse: %v", err)
					} else if !bytes.Contains(body, []byte("\ncert_expiry_exporter_config_last_reload_successful 1\n")) {
						fails.add("/metrics: last reload not successful")
					}
					scrapes.Add(1)
				} else {
					code, body, err := fetch("GET", "/probe?module=tls&target="+w.target)
					if err != nil || code != 200 || !bytes.Contains(body, []byte("\nprobe_success 1\n")) {
						fails.add("/probe: %d %v\n%s", code, err, body)
					}
					probes.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			w.writeConfig(t, i%2)
			if i%2 == 0 {
				if err := e.Reload(context.Background()); err != nil {
					fails.add("Reload: %v", err)
				}
			} else if code, body, err := fetch("POST", "/-/reload"); err != nil || code != 200 {
				fails.add("POST /-/reload: %d %v %s", code, err, body)
			}
			reloads.Add(1)
		}
	})
	wg.Go(func() {
		pace := time.NewTicker(2 * time.Millisecond) // file churn at up to 500 changes/s
		defer pace.Stop()
		for ctx.Err() == nil {
			i := rand.IntN(files)
			if rand.IntN(4) == 0 {
				if err := os.Remove(w.certPath(i)); err != nil && !os.IsNotExist(err) {
					fails.add("remove: %v", err)
				}
			} else {
				w.writeCert(t, i, w.leaves[rand.IntN(len(w.leaves))])
			}
			changes.Add(1)
			<-pace.C
		}
	})
	wg.Wait()
	t.Logf("%d scrapes, %d probes, %d reloads, %d file changes by %d clients in %v",
		scrapes.Load(), probes.Load(), reloads.Load(), changes.Load(), clients, stressDuration(t))
	if n := fails.n.Load(); n > 0 {
		t.Fatalf("%d failures; first:\n%s", n, strings.Join(fails.first, "\n"))
	}

	// Settle on a known state: every file back, file i holding leaf i%8.
	want := map[string]string{}
	for i := range files {
		leaf := w.leaves[i%len(w.leaves)]
		w.writeCert(t, i, leaf)
		want[w.certPath(i)] = leaf.Cert.SerialNumber.Text(16)
	}
	var got map[string]string
	var mfs map[string]*dto.MetricFamily
	testwait.Until(t, func() error {
		_, body, err := fetch("GET", "/metrics")
		if err != nil {
			return err
		}
		if mfs, err = parseExposition(body); err != nil {
			return err
		}
		if got = leafSerials(mfs); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("files on /metrics never settled:\n got %v\nwant %v", got, want)
		}
		return nil
	})
	if fe := mfs["cert_expiry_exporter_file_error"]; fe != nil && len(fe.Metric) > 0 {
		t.Errorf("file errors after churn: %v", fe.Metric)
	}
	for _, m := range mfs["cert_expiry_exporter_errors_total"].GetMetric() {
		if v := m.GetCounter().GetValue(); v != 0 {
			t.Errorf("errors counted during the stress: %v = %v", m.GetLabel(), v)
		}
	}
}

// parseExposition parses the text format, which is what /metrics answers a client that asks
// for nothing in particular.
func parseExposition(body []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(body))
}

// leafSerials maps each file path on /metrics to the serial of its leaf.
func leafSerials(mfs map[string]*dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for _, m := range mfs["cert_not_after_timestamp_seconds"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		if l["source"] == "file" && l["index"] == "0" {
			out[l["path"]] = l["serial"]
		}
	}
	return out
}
