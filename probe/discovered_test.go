package probe

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// TestDiscovered: targets set while the scheduler runs are probed at the addresses they name
// (the host is the server name, checked by the allow list), a target set again unchanged is
// not probed again, and a removed target's series go at once.
func TestDiscovered(t *testing.T) {
	pki := testcerts.NewPKI("Discovered", t0)
	_, port, _ := net.SplitHostPort(tlsTarget(t, pki, nil)) // serves localhost on 127.0.0.1
	cfg := parse(t, "probe: {allowed_targets: [localhost, '*.test', 127.0.0.0/8]}\n")
	d := NewDiscovered(cfg, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(t0)}, nil)
	var mu sync.Mutex
	probed := map[string]int{}
	d.s.run = func(ctx context.Context, target string, m config.Module, o Options) Result {
		mu.Lock()
		probed[target]++
		mu.Unlock()
		return Run(ctx, target, m, o)
	}
	target := func(host string, addrs ...string) Target {
		return Target{Target: config.Target{Target: net.JoinHostPort(host, port), Module: config.DefaultModule, Interval: model.Duration(time.Hour)}, Addresses: addrs}
	}
	var latest testwait.Latest[*source.Snapshot]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx, latest.Set); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// served lists the chains as target ip domain, and the statuses as target up.
	served := func(snap *source.Snapshot) []string {
		var out []string
		for _, c := range snap.Chains {
			out = append(out, c.Target+" "+c.IP+" "+c.Certs[0].Domain)
		}
		for _, st := range snap.Status {
			out = append(out, st.Name+" "+map[bool]string{true: "up", false: "down"}[st.Up])
		}
		return out
	}
	await := func(want ...string) {
		t.Helper()
		latest.Await(t, "the snapshot", func(snap *source.Snapshot) bool { return slices.Equal(served(snap), want) })
	}
	localhost, other := target("localhost", "127.0.0.1"), target("other.test", "127.0.0.2")
	blocked := target("blocked.example", "127.0.0.1")
	d.Set([]Target{localhost, other, blocked})
	await("localhost:"+port+" 127.0.0.1 localhost", // other.test dials 127.0.0.2, where nothing listens
		"localhost:"+port+" up", "other.test:"+port+" down", "blocked.example:"+port+" down")

	// Set again without blocked.example and with localhost's owner labels changed: blocked's
	// status goes, localhost keeps its probe (relabelled), other.test is not probed again.
	localhost.Labels = config.Labels{"team": "web"}
	d.Set([]Target{localhost, other})
	snap := latest.Await(t, "blocked.example removed", func(snap *source.Snapshot) bool { return len(snap.Status) == 2 })
	if got := served(snap); !slices.Equal(got, []string{"localhost:" + port + " 127.0.0.1 localhost", "localhost:" + port + " up", "other.test:" + port + " down"}) {
		t.Errorf("after the second set: %q", got)
	}
	if l := snap.Chains[0].Labels; !slices.Equal(l, certs.NewLabels(config.Labels{"team": "web"})) {
		t.Errorf("localhost's labels %v, want team=web", l)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]int{"localhost:" + port: 1, "other.test:" + port: 1, "blocked.example:" + port: 1}; !maps.Equal(probed, want) {
		t.Errorf("probes %v, want %v", probed, want)
	}
}
