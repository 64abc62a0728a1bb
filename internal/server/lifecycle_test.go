package server_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/server"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// gatedSource publishes one chain named by its generation once its gate opens, then waits.
type gatedSource struct {
	gen  int64
	gate chan struct{}
}

func (g gatedSource) Run(ctx context.Context, publish func(*source.Snapshot)) {
	select {
	case <-g.gate:
		publish(g.Once(ctx))
	case <-ctx.Done():
		return
	}
	<-ctx.Done()
}

func (g gatedSource) Once(context.Context) *source.Snapshot {
	return &source.Snapshot{Chains: []certs.Chain{{Location: certs.Location{Source: "test", Path: filepath.Join("gen", string(rune('0'+g.gen)))}}}}
}

// lifecycle is a registry of test sources and what happened to them.
type lifecycle struct {
	mu    sync.Mutex
	gates map[int64]chan struct{}
	made  atomic.Int64 // gated sources made
}

func (l *lifecycle) gate(gen int64) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gates[gen] == nil {
		l.gates[gen] = make(chan struct{})
	}
	return l.gates[gen]
}

func (l *lifecycle) registry() source.Registry {
	return source.Registry{
		{ // restarted when drift.grace_period changes; each generation publishes when let
			Name: "gated",
			Part: func(cfg *config.Config) (any, bool) { return cfg.Drift.GracePeriod, true },
			New: func(*config.Config, source.Env) source.Source {
				gen := l.made.Add(1)
				return gatedSource{gen: gen, gate: l.gate(gen)}
			},
		},
		{ // configured only with targets: never publishes
			Name: "silent",
			Part: func(cfg *config.Config) (any, bool) { return nil, len(cfg.Targets) > 0 },
			New:  func(*config.Config, source.Env) source.Source { return gatedSource{gate: make(chan struct{})} },
		},
		{ // works on the others: starts once they have published or stopped
			Name: "derived", Derived: true,
			Part: func(*config.Config) (any, bool) { return nil, true },
			New: func(*config.Config, source.Env) source.Source {
				open := make(chan struct{})
				close(open)
				return gatedSource{gen: 9, gate: open}
			},
		},
	}
}

// TestSourceLifecycle: the reload rules of docs/architecture.md. A source whose part of the
// config did not change keeps running; a restarted one's snapshot stays until its successor
// publishes (no gap in the series); a derived source starts once the others have published,
// and does not wait for one that a reload stopped before it ever published.
func TestSourceLifecycle(t *testing.T) {
	l := &lifecycle{gates: map[int64]chan struct{}{}}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yml")
	write := func(cfg string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("drift: {grace_period: 1h}\ntargets: [{target: 127.0.0.1:1}]\n")
	e, err := server.New(server.ConfigSource{File: cfgPath}, l.registry(), slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	paths := func() map[string]bool {
		out := map[string]bool{}
		for _, s := range e.Store().View().Snapshots {
			for _, c := range s.Chains {
				out[c.Path] = true
			}
		}
		return out
	}

	close(l.gate(1))
	testwait.For(t, "generation 1", func() bool { return paths()["gen/1"] })
	if len(e.Store().Pending()) == 0 || paths()["gen/9"] {
		t.Fatal("ready, or the derived source started, while the silent source has not published")
	}

	// The silent source goes away before it ever published: the derived one starts anyway.
	write("drift: {grace_period: 1h}\n")
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the derived source", func() bool { return paths()["gen/9"] && len(e.Store().Pending()) == 0 })
	if n := l.made.Load(); n != 1 {
		t.Fatalf("%d gated sources made; its part did not change, so it must keep running", n)
	}

	// Its part changes: generation 2 replaces 1, whose chain stays until 2 publishes.
	write("drift: {grace_period: 2h}\n")
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if p := paths(); !p["gen/1"] || p["gen/2"] || l.made.Load() != 2 {
		t.Fatalf("after the restart, before the new source published: %v (%d made)", p, l.made.Load())
	}
	close(l.gate(2))
	testwait.For(t, "generation 2", func() bool { p := paths(); return p["gen/2"] && !p["gen/1"] })
}
