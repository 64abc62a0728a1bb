package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/registry"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// Memory stability under long-running use. These are measurements with generous guards, not
// timed assertions: a leak of one goroutine per reload or probe, or a heap that keeps what
// each cycle allocated, fails them; the figures are logged (go test -v) for
// docs/performance.md. MEMORY_FULL=1 runs the measurement (1000 reloads, 10,000 probes); the
// default runs a tenth of the reloads and 2 % of the probes.

// memSample is the process's memory after a full GC.
type memSample struct {
	heap       uint64 // live heap bytes
	rssKiB     int64  // resident set size
	goroutines int
}

func sampleMem(t *testing.T) memSample {
	t.Helper()
	runtime.GC()
	runtime.GC() // the second cycle frees what the first one's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine()}
	status, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				fmt.Sscanf(v, "%d", &s.rssKiB)
			}
		}
	}
	return s
}

func (s memSample) String() string {
	return fmt.Sprintf("heap %.1f MiB, RSS %.1f MiB, %d goroutines", float64(s.heap)/(1<<20), float64(s.rssKiB)/1024, s.goroutines)
}

// checkFlat fails when the goroutines do not come back to the baseline (give or take a few
// transient ones, such as a background probe in flight) or the heap grew beyond a generous
// bound; it logs both samples.
func checkFlat(t *testing.T, what string, before memSample) {
	t.Helper()
	after := sampleMem(t)
	for deadline := time.Now().Add(testwait.Deadline); after.goroutines > before.goroutines+4 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // transient goroutines (a probe in flight) ending
		after = sampleMem(t)
	}
	t.Logf("%s: before %v; after %v", what, before, after)
	if after.goroutines > before.goroutines+4 {
		buf := make([]byte, 1<<20)
		t.Errorf("%s: goroutines %d → %d\n%s", what, before.goroutines, after.goroutines, buf[:runtime.Stack(buf, true)])
	}
	if limit := 2*before.heap + 16<<20; after.heap > limit {
		t.Errorf("%s: heap grew from %d to %d bytes (limit %d)", what, before.heap, after.heap, limit)
	}
}

// scaled is full with MEMORY_FULL set, else normal (a fifth of it with -short): the default
// keeps the package's tests fast under -race.
func scaled(full, normal int) int {
	switch {
	case os.Getenv("MEMORY_FULL") != "":
		return full
	case testing.Short():
		return normal / 5
	}
	return normal
}

// waitSeries waits until reg has at least n series of family name with label source=source.
func waitSeries(t *testing.T, reg prometheus.Gatherer, name, source string, n int) {
	t.Helper()
	testwait.Until(t, func() error {
		mfs, err := reg.Gather()
		if err != nil {
			return err
		}
		got := 0
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "source" && l.GetValue() == source {
						got++
					}
				}
			}
		}
		if got < n {
			return fmt.Errorf("%d of %d %s{source=%q} series", got, n, name, source)
		}
		return nil
	})
}

// waitLeaves waits until every file of a world is on /metrics (leaf and intermediate each).
func waitLeaves(t *testing.T, reg prometheus.Gatherer, files int) {
	t.Helper()
	waitSeries(t, reg, "cert_not_after_timestamp_seconds", "file", 2*files)
}

// TestReloadsMemory: 1000 reloads, each restarting the files and targets sources.
func TestReloadsMemory(t *testing.T) {
	const files = 20
	w := newWorld(t, files)
	e := start(t, w.cfgPath, nil)
	reg := e.Registry()
	waitLeaves(t, reg, files)
	before := sampleMem(t)
	n := scaled(1000, 100)
	start := time.Now()
	for i := range n {
		w.writeConfig(t, (i+1)%2)
		if err := e.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d reloads in %v", n, time.Since(start).Round(time.Millisecond))
	waitLeaves(t, reg, files)
	checkFlat(t, fmt.Sprintf("%d reloads", n), before)
}

// TestProbesMemory: 10,000 /probe requests from 4 clients.
func TestProbesMemory(t *testing.T) {
	w := newWorld(t, 0)
	e := start(t, w.cfgPath, nil)
	h := e.Handler(HTTPOptions{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var failed atomic.Int64
	probes := func(n int) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range n / 4 {
					resp, err := client.Get(srv.URL + "/probe?module=tls&target=" + w.target)
					if err != nil {
						failed.Add(1)
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if !strings.Contains(string(body), "\nprobe_success 1\n") {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}
	probes(100) // caches (ca_file, CRLs) and pools are warm
	before := sampleMem(t)
	n := scaled(10000, 200)
	start := time.Now()
	probes(n)
	t.Logf("%d probes in %v", n, time.Since(start).Round(time.Millisecond))
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d probes failed", f)
	}
	tr.CloseIdleConnections()
	checkFlat(t, fmt.Sprintf("%d probes", n), before)
}

// TestTailingMemory: 24 simulated hours of certbot runs (12 an hour, every third failing with a
// traceback), the log rotated every hour as logrotate does (rename, new file, 10 kept).
func TestTailingMemory(t *testing.T) {
	dir := t.TempDir()
	logDir, confDir := filepath.Join(dir, "logs"), filepath.Join(dir, "conf")
	for _, d := range []string{logDir, filepath.Join(confDir, "renewal")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lineages := []string{"a.example.test", "b.example.test", "c.example.test"}
	for _, l := range lineages {
		writeFile(t, filepath.Join(confDir, "renewal", l+".conf"), "[renewalparams]\nauthenticator = standalone\nserver = https://acme-v02.api.letsencrypt.org/directory\n")
	}
	logFile := filepath.Join(logDir, "letsencrypt.log")
	writeFile(t, logFile, "")
	cfgPath := filepath.Join(dir, "config.yml")
	writeFile(t, cfgPath, fmt.Sprintf("certbot:\n  config_dir: %q\n  log_file: %q\n  log_timezone: UTC\n", confDir, logFile))

	clock := clockwork.NewFakeClockAt(fixedNow)
	e, err := New(ConfigSource{File: cfgPath}, registry.Sources, slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	reg := e.Registry()

	runs, written := 0, 0
	appendRun := func(at time.Time, fail bool) {
		stamp := at.Format("2006-01-02 15:04:05,000")
		l := lineages[runs%len(lineages)]
		text := fmt.Sprintf("%s:DEBUG:certbot._internal.main:certbot version: 2.11.0\n"+
			"%s:DEBUG:certbot._internal.display.obj:Notifying user: Processing /etc/letsencrypt/renewal/%s.conf\n", stamp, stamp, l)
		if fail {
			text += fmt.Sprintf("%s:ERROR:certbot._internal.renewal:Failed to renew certificate %s with error: urn:ietf:params:acme:error:rateLimited :: too many certificates\n", stamp, l) +
				"Traceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/certbot/_internal/renewal.py\", line 540, in handle_renewal_request\n" +
				stamp + ":ERROR:certbot._internal.log:1 renew failure(s), 0 parse failure(s)\n"
		} else {
			text += fmt.Sprintf("%s:DEBUG:certbot._internal.storage:Writing new config /etc/letsencrypt/renewal/%s.conf.new.\n", stamp, l)
		}
		f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
		runs++
		written += len(text)
	}
	rotate := func() {
		for i := 9; i >= 1; i-- {
			if err := os.Rename(fmt.Sprintf("%s.%d", logFile, i), fmt.Sprintf("%s.%d", logFile, i+1)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		if err := os.Rename(logFile, logFile+".1"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, logFile, "")
	}
	// waitCounter waits until the exporter's counter family name sums to want.
	waitCounter := func(name string, want int) {
		testwait.Until(t, func() error {
			mfs, err := reg.Gather()
			if err != nil {
				return err
			}
			for _, mf := range mfs {
				if mf.GetName() == name {
					seen := 0.0
					for _, m := range mf.GetMetric() {
						seen += m.GetCounter().GetValue()
					}
					if int(seen) != want {
						return fmt.Errorf("%s: %v, want %d", name, seen, want)
					}
					return nil
				}
			}
			return fmt.Errorf("no %s yet", name)
		})
	}
	// The clock is fake: an hour may only pass once the source has read what the hour wrote,
	// else the poll that finds the log quiet (ending the hour's last run) comes before the
	// last lines and no later tick is due.
	hour := func() {
		t0 := clock.Now()
		for i := range 12 {
			appendRun(t0.Add(time.Duration(i)*5*time.Minute), runs%3 == 2)
		}
		waitCounter("cert_expiry_exporter_certbot_log_bytes_total", written)
		clock.Advance(time.Hour) // the hour's last run is over
		waitCounter("certbot_runs_total", runs)
		rotate()
	}

	hour()
	before := sampleMem(t)
	hours := 24 // cheap enough to run in full: a day of runs is read in well under a second
	for range hours - 1 {
		hour()
	}
	checkFlat(t, fmt.Sprintf("%d hours of tailing (%d runs)", hours, runs), before)
}
