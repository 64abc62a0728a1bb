package probe

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
)

// testScheduler is a scheduler that publishes its own snapshots, which the tests inspect.
type testScheduler struct {
	*scheduler
	publish func(*targetsSnapshot)
}

func newTestScheduler(cfg *config.Config, logger *slog.Logger, clock clockwork.Clock, publish func(*targetsSnapshot)) *testScheduler {
	return &testScheduler{newScheduler(cfg, logger, clock), publish}
}

func (s *testScheduler) Run(ctx context.Context) { s.probeAll(ctx, true, s.publish) }

// listen serves handle on a loopback port until the test ends.
func listen(t *testing.T, handle func(net.Conn)) string {
	return testserver.Serve(t, "127.0.0.1:0", handle).Addr
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// run starts the scheduler and returns the first snapshot satisfying done, and the most
// probes that ran at once.
func run(t *testing.T, cfg *config.Config, done func(*targetsSnapshot) bool) (*targetsSnapshot, int32) {
	ctx, cancel := context.WithCancel(context.Background())
	snaps := make(chan *targetsSnapshot, 100)
	s := newTestScheduler(cfg, slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(t0), func(s *targetsSnapshot) {
		select {
		case snaps <- s:
		default:
		}
	})
	var inFlight, peak atomic.Int32
	s.run = func(ctx context.Context, target string, m config.Module, o Options) Result {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		return Run(ctx, target, m, o)
	}
	finished := make(chan struct{})
	go func() { s.Run(ctx); close(finished) }()
	defer func() { cancel(); <-finished }()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case snap := <-snaps:
			if done(snap) {
				return snap, peak.Load()
			}
		case <-deadline:
			t.Fatal("no complete snapshot")
		}
	}
}

func TestScheduler(t *testing.T) {
	pki := testcerts.NewPKI("Targets", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf.TLS(pki.Intermediate)}}
	good := listen(t, testserver.HandleTLS(cfg))
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := closed.Addr().String()
	closed.Close()

	c := parse(t, `
targets:
  - target: `+good+`
    server_name: localhost
  - target: `+dead+`
    interval: 1s
  - target: blocked.test:443
probe:
  allowed_targets: ["127.0.0.0/8", "localhost"]
`)
	// The clock does not move: one probe each (TestStaleChain has the intervals).
	snap, _ := run(t, c, func(s *targetsSnapshot) bool { return len(s.Probes) == 3 })
	if n := snap.Status[1].Errors[failConnect]; n != 1 {
		t.Errorf("%d connect errors counted, want 1", n)
	}
	want := []struct {
		target   string
		success  bool
		failures []string
		up       bool
		err      string // why the status is down
	}{
		{good, true, nil, true, ""},
		{dead, false, []string{failConnect}, false, "127.0.0.1: dial tcp " + dead + ": connect: connection refused"},
		{"blocked.test:443", false, []string{failRefused}, false, `target host "blocked.test" is not in probe.allowed_targets`},
	}
	for i, w := range want {
		p, st := snap.Probes[i], snap.Status[i]
		if p.Target != w.target || p.Module != "tls" || p.Result.Success() != w.success || !equal(p.Result.Failures(), w.failures) {
			t.Errorf("probe %d: %s %s success %t failures %v", i, p.Target, p.Module, p.Result.Success(), p.Result.Failures())
		}
		if st.Source != targetsHealth || st.Name != w.target || st.Up != w.up || st.Error != w.err || len(st.Errors) != len(FailureReasons)+len(ProblemReasons) {
			t.Errorf("status %d: %+v", i, st)
		}
	}
	if !snap.Status[0].LastSuccess.Equal(t0) || !snap.Status[1].LastSuccess.IsZero() {
		t.Errorf("last success %v %v", snap.Status[0].LastSuccess, snap.Status[1].LastSuccess)
	}
	if ch := snap.chains(); len(ch) != 1 || ch[0].Target != good || ch[0].IP != "127.0.0.1" || ch[0].Verify.Reason != "unknown_authority" {
		t.Errorf("chains %+v", ch)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	silent := func(c net.Conn) { _, _ = io.Copy(io.Discard, c) } // never answers
	a, b, d := listen(t, silent), listen(t, silent), listen(t, silent)
	c := parse(t, `
modules:
  slow: {timeout: 200ms}
probe: {concurrency: 1}
targets:
  - {target: "`+a+`", module: slow, server_name: a.test}
  - {target: "`+b+`", module: slow, server_name: b.test}
  - {target: "`+d+`", module: slow, server_name: c.test}
`)
	snap, peak := run(t, c, func(s *targetsSnapshot) bool { return len(s.Probes) == 3 })
	for _, p := range snap.Probes {
		if f := p.Result.Failures(); !equal(f, []string{failTimeout}) {
			t.Errorf("failures %v", f)
		}
	}
	if peak != 1 {
		t.Errorf("%d probes at once, want 1", peak)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
