package probe

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// start runs s (made with publishTo's callback) until the test ends.
func start(t *testing.T, s *testScheduler) {
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() { s.Run(ctx); close(finished) }()
	t.Cleanup(func() { cancel(); <-finished })
}

// publishTo returns a publish callback feeding the returned channel, and waitFor that returns
// the first snapshot satisfying done.
func publishTo(t *testing.T) (func(*targetsSnapshot), func(done func(*targetsSnapshot) bool) *targetsSnapshot) {
	snaps := make(chan *targetsSnapshot, 100)
	publish := func(s *targetsSnapshot) {
		select {
		case snaps <- s:
		default:
		}
	}
	waitFor := func(done func(*targetsSnapshot) bool) *targetsSnapshot {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case s := <-snaps:
				if done(s) {
					return s
				}
			case <-deadline:
				t.Fatal("no such snapshot")
			}
		}
	}
	return publish, waitFor
}

// tlsTarget serves leaf on loopback; while down is set it closes connections at once.
func tlsTarget(t *testing.T, pki *testcerts.PKI, down *atomic.Bool) string {
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf.TLS(pki.Intermediate)}}
	return listen(t, func(c net.Conn) {
		if down == nil || !down.Load() {
			testserver.HandleTLS(cfg)(c)
		}
	})
}

// TestStaleChain: after a failed probe the chain of the address's last success stays exported,
// marked by its last-success time, for 3 intervals after the failures began. The intervals
// pass on the injected clock: each step is the interval plus its largest jitter.
func TestStaleChain(t *testing.T) {
	var down atomic.Bool
	addr := tlsTarget(t, testcerts.NewPKI("Stale", t0), &down)
	fc := clockwork.NewFakeClockAt(t0)
	const step = time.Second * 11 / 10
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * step) }
	c := parse(t, "targets: [{target: \""+addr+"\", server_name: localhost, interval: 1s}]\n")
	publish, waitFor := publishTo(t)
	start(t, newTestScheduler(c, slog.New(slog.DiscardHandler), fc, publish))
	probedAt := func(n int, success bool) func(*targetsSnapshot) bool {
		return func(s *targetsSnapshot) bool {
			return len(s.Probes) == 1 && s.Probes[0].At.Equal(at(n)) && s.Probes[0].Result.Success() == success
		}
	}
	next := func(n int, success bool) *targetsSnapshot {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), testwait.Deadline)
		defer cancel()
		if err := fc.BlockUntilContext(ctx, 1); err != nil { // the target's timer, re-armed
			t.Fatal(err)
		}
		fc.Advance(step)
		return waitFor(probedAt(n, success))
	}

	good := waitFor(probedAt(0, true))
	chain := good.Probes[0].Result.Addrs[0].Chain
	if sv := good.Probes[0].Served; len(sv) != 1 || sv[0].IP != "127.0.0.1" || !sv[0].At.Equal(t0) || sv[0].Stale || !sv[0].FailingSince.IsZero() {
		t.Fatalf("served %+v", sv)
	}

	down.Store(true)
	for n := 1; n <= 3; n++ { // failing since step 1: kept while within 3 intervals of it
		s := next(n, false)
		sv := s.Probes[0].Served
		if len(sv) != 1 || !sv[0].Stale || !sv[0].At.Equal(t0) || !sv[0].FailingSince.Equal(at(1)) {
			t.Fatalf("at step %d: served %+v", n, sv)
		}
		if ch := s.chains(); len(ch) != 1 || ch[0].IP != "127.0.0.1" || ch[0].Certs[0].Serial != chain.Certs[0].Serial || !ch[0].Seen.Equal(t0) || s.Status[0].Up {
			t.Errorf("at step %d: chains %+v, up %t", n, ch, s.Status[0].Up)
		}
		if f := s.Probes[0].Result.Failures(); len(f) != 1 || f[0] != failHandshake {
			t.Errorf("at step %d: failures %v", n, f)
		}
	}

	s := next(4, false) // 3.3 s after the first failure: more than 3 intervals
	if sv := s.Probes[0].Served; len(sv) != 1 || sv[0].Stale || !sv[0].At.Equal(t0) || len(s.chains()) != 0 {
		t.Errorf("after 3 intervals: served %+v, chains %d", sv, len(s.chains()))
	}

	down.Store(false)
	s = next(5, true)
	if sv := s.Probes[0].Served; len(sv) != 1 || sv[0].Stale || !sv[0].At.Equal(at(5)) || !sv[0].FailingSince.IsZero() || len(s.chains()) != 1 || !s.chains()[0].Seen.Equal(at(5)) {
		t.Errorf("recovered: served %+v, chains %d", sv, len(s.chains()))
	}
}

// TestCarry covers the cases of carrying a last-success chain over one probe.
func TestCarry(t *testing.T) {
	chain := func(ip string) certs.Chain {
		return certs.Chain{Location: certs.Location{Source: certs.SourceProbe, Target: "t:443", IP: ip}, Certs: []certs.Cert{{Serial: "0" + ip}}}
	}
	keep := 3 * time.Minute
	failing := t0.Add(-time.Minute)
	prev := []served{{IP: "192.0.2.1", At: t0.Add(-2 * time.Minute), Chain: chain("192.0.2.1")}, {IP: "192.0.2.2", At: t0.Add(-5 * time.Minute), Chain: chain("192.0.2.2"), FailingSince: failing}}
	ok := func(ip string) Addr { return Addr{IP: ip, Success: true, Chain: chain(ip)} }
	fail := func(ip, reason string) Addr {
		return Addr{IP: ip, Failure: reason, Chain: certs.Chain{Location: certs.Location{Source: certs.SourceProbe, Target: "t:443", IP: ip}}}
	}
	withChain := fail("192.0.2.1", failHandshake) // the handshake failed after the certificates
	withChain.Chain = chain("192.0.2.1")
	for _, tc := range []struct {
		name string
		r    Result
		want []served
	}{
		{"success replaces", Result{Addrs: []Addr{ok("192.0.2.1"), ok("192.0.2.3")}}, []served{
			{IP: "192.0.2.1", At: t0, Chain: chain("192.0.2.1")}, {IP: "192.0.2.3", At: t0, Chain: chain("192.0.2.3")}}},
		{"failures keep", Result{Addrs: []Addr{fail("192.0.2.1", failConnect), fail("192.0.2.2", failTimeout)}}, []served{
			{IP: "192.0.2.1", At: t0.Add(-2 * time.Minute), Chain: chain("192.0.2.1"), FailingSince: t0, Stale: true},
			{IP: "192.0.2.2", At: t0.Add(-5 * time.Minute), Chain: chain("192.0.2.2"), FailingSince: failing, Stale: true}}},
		{"served a chain this time", Result{Addrs: []Addr{withChain}}, []served{
			{IP: "192.0.2.1", At: t0.Add(-2 * time.Minute), Chain: chain("192.0.2.1"), FailingSince: t0}}},
		{"refused", Result{Addrs: []Addr{fail("192.0.2.1", failRefused)}}, []served{
			{IP: "192.0.2.1", At: t0.Add(-2 * time.Minute), Chain: chain("192.0.2.1"), FailingSince: t0}}},
		{"name refused", Result{Failure: failRefused}, []served{
			{IP: "192.0.2.1", At: t0.Add(-2 * time.Minute), Chain: chain("192.0.2.1"), FailingSince: t0},
			{IP: "192.0.2.2", At: t0.Add(-5 * time.Minute), Chain: chain("192.0.2.2"), FailingSince: failing}}},
		{"dns", Result{Failure: failDNS}, []served{
			{IP: "192.0.2.1", At: t0.Add(-2 * time.Minute), Chain: chain("192.0.2.1"), FailingSince: t0, Stale: true},
			{IP: "192.0.2.2", At: t0.Add(-5 * time.Minute), Chain: chain("192.0.2.2"), FailingSince: failing, Stale: true}}},
		{"address gone", Result{Addrs: []Addr{fail("192.0.2.9", failConnect)}}, nil},
	} {
		got := carry(prev, &tc.r, t0, keep)
		if !equalServed(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
	// Past the window the chain is dropped; the time of the last success stays while the
	// address is probed, and goes with it when nothing resolves.
	later := failing.Add(keep + time.Second)
	got := carry(prev, &Result{Addrs: []Addr{fail("192.0.2.2", failConnect)}}, later, keep)
	if want := []served{{IP: "192.0.2.2", At: t0.Add(-5 * time.Minute), FailingSince: failing}}; !equalServed(got, want) {
		t.Errorf("expired: %+v", got)
	}
	got = carry(prev, &Result{Failure: failDNS}, later, keep)
	if want := []served{{IP: "192.0.2.1", At: t0.Add(-2 * time.Minute), Chain: chain("192.0.2.1"), FailingSince: later, Stale: true}}; !equalServed(got, want) {
		t.Errorf("expired, dns: %+v", got)
	}
}

func equalServed(a, b []served) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.IP != y.IP || !x.At.Equal(y.At) || !x.FailingSince.Equal(y.FailingSince) || x.Stale != y.Stale ||
			x.Chain.Location != y.Chain.Location || len(x.Chain.Certs) != len(y.Chain.Certs) || len(x.Chain.Certs) > 0 && x.Chain.Certs[0].Serial != y.Chain.Certs[0].Serial {
			return false
		}
	}
	return true
}

// TestSeed: a scheduler replacing another on reload publishes, from its first snapshot on, the
// previous probes of the targets that did not change, so their series have no gap.
func TestSeed(t *testing.T) {
	pki := testcerts.NewPKI("Seed", t0)
	// Each host:port is listed once in a config (config.Target.validate).
	addrA, addrB, addrC := tlsTarget(t, pki, nil), tlsTarget(t, pki, nil), tlsTarget(t, pki, nil)
	before := parse(t, `
modules:
  b: {timeout: 5s}
targets:
  - {target: "`+addrA+`", server_name: a.test, interval: 1h}
  - {target: "`+addrB+`", server_name: b.test, module: b, interval: 1h}
`)
	prev, _ := run(t, before, func(s *targetsSnapshot) bool { return len(s.Probes) == 2 })

	after := parse(t, `
modules:
  b: {timeout: 6s}
targets:
  - {target: "`+addrC+`", server_name: c.test, interval: 1h}
  - {target: "`+addrA+`", server_name: a.test, interval: 1h, labels: {team: web}}
  - {target: "`+addrB+`", server_name: b.test, module: b, interval: 1h}
`)
	publish, waitFor := publishTo(t)
	s := newTestScheduler(after, slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(t0.Add(time.Minute)), publish)
	s.seed(prev)
	// a.test is not probed again during the test: what is published for it is the seed.
	s.run = func(ctx context.Context, target string, m config.Module, o Options) Result {
		if o.ServerName == "a.test" {
			<-ctx.Done()
		}
		return Run(ctx, target, m, o)
	}
	start(t, s)
	first := waitFor(func(*targetsSnapshot) bool { return true })
	// One of c.test and b.test was probed (b.test's module changed: not seeded), and a.test is
	// there with its previous probe and health.
	var names []string
	seeded := -1
	for i, p := range first.Probes {
		names = append(names, p.ServerName)
		if p == prev.Probes[1] {
			t.Error("b.test's module changed: its previous probe must not be seeded")
		}
		if p.Target == addrA && p.At.Equal(prev.Probes[0].At) {
			seeded = i
		}
	}
	if len(first.Probes) != 2 || seeded < 0 || first.Status[seeded].Name != addrA || !first.Status[seeded].LastSuccess.Equal(t0) || len(first.chains()) != 2 {
		t.Fatalf("first snapshot after the reload: targets %v, a.test seeded at %d, chains %d", names, seeded, len(first.chains()))
	}
	// Owner labels are no probe setting: the seeded probe takes the new ones.
	for _, c := range first.chains() {
		if want := map[string]string{addrA: "web"}[c.Target]; c.Labels.Get("team") != want {
			t.Errorf("%s after the reload: team %q, want %q", c.Target, c.Labels.Get("team"), want)
		}
	}
}

// TestProblemCounters: bounds hit by a probe that still succeeds are counted as error reasons.
func TestProblemCounters(t *testing.T) {
	pki := testcerts.NewPKI("Problems", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})
	long := leaf.TLS()
	for range maxChainCerts {
		long.Certificate = append(long.Certificate, pki.Intermediate.DER)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{long}}
	addr := listen(t, testserver.HandleTLS(cfg))
	snap, _ := run(t, parse(t, "targets: [{target: \""+addr+"\", server_name: localhost}]\n"), func(s *targetsSnapshot) bool { return len(s.Probes) == 1 })
	st := snap.Status[0]
	if !st.Up || st.Errors[problemChainTooLong] != 1 || st.Errors[problemCRLFetch] != 0 || len(st.Errors) != len(FailureReasons)+len(ProblemReasons) {
		t.Errorf("status %+v", st)
	}
}
