package ari

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// fakeCA is a real HTTP server on loopback serving a directory and renewalInfo, with the
// answer per certificate ID set by the test, counting requests.
type fakeCA struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests map[string]int
	dir      func(w http.ResponseWriter)
	stall    bool // answer nothing until the client gives up
	answer   func(w http.ResponseWriter, id string)
}

func newFakeCA(t *testing.T) *fakeCA {
	ca := &fakeCA{t: t, requests: map[string]int{}}
	ca.dir = func(w http.ResponseWriter) {
		fmt.Fprintf(w, `{"newNonce":"x","renewalInfo":%q}`, ca.srv.URL+"/ri/")
	}
	ca.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ca.mu.Lock()
		ca.requests[r.URL.Path]++
		dir, answer, stall := ca.dir, ca.answer, ca.stall
		ca.mu.Unlock()
		if stall {
			<-r.Context().Done()
			return
		}
		switch {
		case r.URL.Path == "/dir":
			dir(w)
		case strings.HasPrefix(r.URL.Path, "/ri/"):
			answer(w, strings.TrimPrefix(r.URL.Path, "/ri/"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ca.srv.Close)
	return ca
}

func (ca *fakeCA) set(f func(w http.ResponseWriter, id string)) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.answer = f
}

func (ca *fakeCA) count(path string) int {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.requests[path]
}

func window(retryAfter, start, end string) func(w http.ResponseWriter, id string) {
	return func(w http.ResponseWriter, id string) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		fmt.Fprintf(w, `{"suggestedWindow":{"start":%q,"end":%q},"explanationURL":"https://ca.example/why"}`, start, end)
	}
}

var harnessT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type harness struct {
	src   *Source
	clock *clockwork.FakeClock
	now   time.Time
	last  *snapshot
	sub   subject
}

func newHarness(t *testing.T, ca *fakeCA, timeout time.Duration) *harness {
	h := &harness{now: harnessT0, clock: clockwork.NewFakeClockAt(harnessT0)}
	pki := testcerts.NewPKI("ARI", h.now)
	leaf := certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"www.example.org"}, Now: h.now}).Cert)
	id, err := CertID(leaf)
	if err != nil {
		t.Fatal(err)
	}
	h.sub = subject{Cert: leaf, Lineage: "www.example.org", Directory: ca.srv.URL + "/dir", ID: id}
	h.src = newSource(func() []subject { return []subject{h.sub} },
		options{HTTPClient: ca.srv.Client(), Timeout: timeout},
		slog.New(slog.NewTextHandler(io.Discard, nil)), h.clock)
	return h
}

// pass makes a pass at t0 + at (the clock only moves forward).
func (h *harness) pass(t *testing.T, at time.Duration) {
	t.Helper()
	next := harnessT0.Add(at)
	if next.Before(h.now) {
		t.Fatalf("pass at %s goes back from %s", next, h.now)
	}
	h.clock.Advance(next.Sub(h.now))
	h.now = next
	h.last = h.src.pass(context.Background())
}

func (h *harness) status(t *testing.T) source.Status {
	t.Helper()
	if len(h.last.status) != 1 {
		t.Fatalf("status: %+v", h.last.status)
	}
	return h.last.status[0]
}

// TestSourceRetryAfter: one request per certificate per Retry-After, clamped.
func TestSourceRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		retryAfter string
		wait       time.Duration
	}{
		{"3600", time.Hour},
		{"", defaultRetryAfter},
		{"1", time.Minute},          // clamped up
		{"8640000", 24 * time.Hour}, // clamped down
		{"Sat, 01 Mar 2025 14:00:00 GMT", 2 * time.Hour},
	} {
		t.Run(tc.retryAfter, func(t *testing.T) {
			ca := newFakeCA(t)
			ca.set(window(tc.retryAfter, "2025-05-01T00:00:00Z", "2025-05-03T00:00:00Z"))
			h := newHarness(t, ca, time.Second)
			riPath := "/ri/" + h.sub.ID
			h.pass(t, 0)
			h.pass(t, tc.wait-time.Second)
			if n := ca.count(riPath); n != 1 {
				t.Fatalf("renewalInfo requests before Retry-After = %d, want 1", n)
			}
			h.pass(t, tc.wait)
			if n := ca.count(riPath); n != 2 {
				t.Fatalf("renewalInfo requests after Retry-After = %d, want 2", n)
			}
			if n, want := ca.count("/dir"), 1+int(tc.wait/directoryTTL); n != want {
				t.Fatalf("directory requests = %d, want %d (cached for a day)", n, want)
			}
			want := source.Window{Cert: h.sub.Cert.Key(), Lineage: "www.example.org", Domain: "www.example.org", Serial: h.sub.Cert.Serial, Directory: ca.srv.URL + "/dir",
				Start: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 5, 3, 0, 0, 0, 0, time.UTC), ExplanationURL: "https://ca.example/why", FetchedAt: h.now}
			got, ok := h.last.lookup(h.sub.Cert)
			if !ok || got != want || len(h.last.windows) != 1 {
				t.Fatalf("Lookup = %+v %v, want %+v", got, ok, want)
			}
			if st := h.status(t); !st.Up || !st.LastSuccess.Equal(h.now) {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// TestSourceFailures: failures are a source state with a reason, never a crash; the last good
// window stays; retries back off, or follow the server's Retry-After.
func TestSourceFailures(t *testing.T) {
	good := window("3600", "2025-05-01T00:00:00Z", "2025-05-03T00:00:00Z")
	for _, tc := range []struct {
		name     string
		answer   func(w http.ResponseWriter, id string)
		reason   string
		nextWait time.Duration // when the next request goes out after the failure
	}{
		{"http 500", func(w http.ResponseWriter, _ string) { w.WriteHeader(500) }, reasonHTTPStatus, time.Minute},
		{"http 429 retry-after", func(w http.ResponseWriter, _ string) {
			w.Header().Set("Retry-After", "7200")
			w.WriteHeader(429)
		}, reasonHTTPStatus, 2 * time.Hour},
		{"malformed", func(w http.ResponseWriter, _ string) { io.WriteString(w, `{"suggestedWindow":{}}`) }, reasonParse, time.Minute},
		{"too large", func(w http.ResponseWriter, _ string) {
			io.WriteString(w, `{"suggestedWindow":{"start":"2025-05-01T00:00:00Z","end":"2025-05-03T00:00:00Z"},"x":"`+strings.Repeat("a", maxBody)+`"}`)
		}, reasonTooLarge, time.Minute},
		{"timeout", nil, reasonTimeout, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newFakeCA(t)
			ca.set(good)
			// Only the stalled answer may time out: a long timeout for the others holds on a
			// loaded machine.
			timeout := time.Minute
			if tc.answer == nil {
				timeout = 200 * time.Millisecond
			}
			h := newHarness(t, ca, timeout)
			riPath := "/ri/" + h.sub.ID
			h.pass(t, 0)
			first, _ := h.last.lookup(h.sub.Cert)
			ca.set(tc.answer)
			ca.mu.Lock()
			ca.stall = tc.answer == nil
			ca.mu.Unlock()
			h.pass(t, time.Hour)
			st := h.status(t)
			if st.Up || st.Errors[tc.reason] != 1 || len(st.Errors) != len(Reasons) {
				t.Fatalf("status after failure: %+v", st)
			}
			if got, ok := h.last.lookup(h.sub.Cert); !ok || got != first {
				t.Fatalf("window after failure = %+v, want the last good %+v", got, first)
			}
			ca.set(good)
			ca.mu.Lock()
			ca.stall = false
			ca.mu.Unlock()
			h.pass(t, time.Hour+tc.nextWait-time.Second)
			if n := ca.count(riPath); n != 2 {
				t.Fatalf("requests during backoff = %d, want 2", n)
			}
			h.pass(t, time.Hour+tc.nextWait)
			if n := ca.count(riPath); n != 3 {
				t.Fatalf("requests after backoff = %d, want 3", n)
			}
			if st := h.status(t); !st.Up || st.Errors[tc.reason] != 1 {
				t.Fatalf("status after recovery: %+v", st)
			}
		})
	}
}

// TestSourceDirectoryFailures: an unreachable CA or one without ARI is a state, not a crash.
func TestSourceDirectoryFailures(t *testing.T) {
	t.Run("no renewalInfo", func(t *testing.T) {
		ca := newFakeCA(t)
		ca.dir = func(w http.ResponseWriter) { io.WriteString(w, `{"newNonce":"x"}`) }
		h := newHarness(t, ca, time.Second)
		h.pass(t, 0)
		if st := h.status(t); st.Up || st.Errors[reasonNoRenewalInfo] != 1 || st.Error != errNoRenewalInfo.Error() || len(h.last.windows) != 0 {
			t.Fatalf("snapshot: %+v", h.last)
		}
		h.pass(t, 30*time.Second)
		if n := ca.count("/dir"); n != 1 {
			t.Fatalf("directory requests within the backoff = %d, want 1", n)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ca := newFakeCA(t)
		h := newHarness(t, ca, time.Second)
		ca.srv.Close()
		refused := "GET " + ca.srv.URL + "/dir: dial tcp " + strings.TrimPrefix(ca.srv.URL, "http://") + ": connect: connection refused"
		h.pass(t, 0)
		if st := h.status(t); st.Up || st.Errors[reasonConnection] != 1 || st.Error != refused || !st.LastSuccess.IsZero() {
			t.Fatalf("status: %+v", st)
		}
	})
}

// TestSourcePrune: certificates no longer asked about are forgotten, so memory follows the
// inventory.
func TestSourcePrune(t *testing.T) {
	ca := newFakeCA(t)
	ca.set(window("3600", "2025-05-01T00:00:00Z", "2025-05-03T00:00:00Z"))
	h := newHarness(t, ca, time.Second)
	h.pass(t, 0)
	cache := h.src.cache
	if len(cache.certs) != 1 || len(cache.dirs) != 1 || len(h.last.windows) != 1 {
		t.Fatalf("after a pass: %d certs, %d dirs, snapshot %+v", len(cache.certs), len(cache.dirs), h.last)
	}
	h.src.subjects = func() []subject { return nil }
	h.pass(t, time.Minute)
	if len(cache.certs) != 0 || len(cache.dirs) != 0 || len(h.last.windows) != 0 || len(h.last.status) != 0 {
		t.Fatalf("cache not pruned: %d certs, %d dirs, snapshot %+v", len(cache.certs), len(cache.dirs), h.last)
	}
}

// TestSourceRun: Run publishes at once (readiness never waits on a CA), then the windows, and
// returns when its context ends.
func TestSourceRun(t *testing.T) {
	ca := newFakeCA(t)
	ca.set(window("3600", "2025-05-01T00:00:00Z", "2025-05-03T00:00:00Z"))
	h := newHarness(t, ca, time.Second)
	snaps := make(chan *source.Snapshot, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.src.Run(ctx, func(s *source.Snapshot) { snaps <- s }); close(done) }()
	if first := <-snaps; len(first.Windows) != 0 || len(first.Status) != 0 {
		t.Fatalf("first snapshot: %+v", first)
	}
	if second := <-snaps; len(second.Windows) != 1 {
		t.Fatalf("second snapshot: %+v", second)
	}
	// The next pass comes one interval later on the injected clock, and asks again once the
	// CA's Retry-After (an hour) has passed.
	ctx2, cancel2 := context.WithTimeout(ctx, testwait.Deadline)
	defer cancel2()
	if err := h.clock.BlockUntilContext(ctx2, 1); err != nil {
		t.Fatal(err)
	}
	riPath := "/ri/" + h.sub.ID
	h.clock.Advance(minRetryAfter)
	if third := <-snaps; len(third.Windows) != 1 || ca.count(riPath) != 1 {
		t.Fatalf("third snapshot: %+v, %d requests (Retry-After not over)", third, ca.count(riPath))
	}
	h.clock.Advance(time.Hour)
	<-snaps
	if n := ca.count(riPath); n != 2 {
		t.Fatalf("%d renewalInfo requests after Retry-After, want 2", n)
	}
	cancel()
	<-done
}

// TestSourceCarriedOverReload: the source that replaces another after a reload starts from
// its cache: no empty snapshot first (the windows would vanish from /metrics), and no request
// the CA's Retry-After forbids.
func TestSourceCarriedOverReload(t *testing.T) {
	ca := newFakeCA(t)
	ca.set(window("3600", "2025-05-01T00:00:00Z", "2025-05-03T00:00:00Z"))
	h := newHarness(t, ca, time.Second)
	h.pass(t, 0)
	riPath := "/ri/" + h.sub.ID
	if n := ca.count(riPath); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	next := newSource(func() []subject { return []subject{h.sub} }, options{HTTPClient: ca.srv.Client(), Timeout: time.Second},
		slog.New(slog.DiscardHandler), h.clock)
	next.carry(h.last)
	snaps := make(chan *source.Snapshot, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { next.Run(ctx, func(s *source.Snapshot) { snaps <- s }); close(done) }()
	if first := <-snaps; len(first.Windows) != 1 {
		t.Errorf("first snapshot after the reload: %+v, want the window", first)
	}
	cancel()
	<-done
	if n := ca.count(riPath); n != 1 {
		t.Errorf("%d requests after the reload, want still 1 (Retry-After 3600 s)", n)
	}
}
