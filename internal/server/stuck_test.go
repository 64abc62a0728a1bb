package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/server"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// stuckSource never returns from its first pass and ignores its context: what a read the
// kernel never answers does (a hard-mounted NFS path that went away). That cannot be made here
// without root, so this source stands for it; the FIFO and /dev/zero cases are real files in
// the certbot and fsread tests.
type stuckSource struct{ release chan struct{} }

func (s stuckSource) Run(context.Context, func(*source.Snapshot)) { <-s.release }
func (s stuckSource) Once(context.Context) *source.Snapshot       { <-s.release; return nil }

// TestStuckSource: a source that never returns holds up neither readiness (which names it),
// nor a reload that restarts it, nor shutdown: each waits StopGrace on the exporter's clock,
// then goes on without it.
func TestStuckSource(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	sources := source.Registry{{
		Name: "stuck",
		Part: func(cfg *config.Config) (any, bool) { return cfg.Targets, len(cfg.Targets) > 0 },
		New:  func(*config.Config, source.Env) source.Source { return stuckSource{release} },
	}}
	cfgPath := filepath.Join(t.TempDir(), "config.yml")
	write := func(target string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte("targets: [{target: '"+target+"'}]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("127.0.0.1:1")
	clock := clockwork.NewFakeClockAt(time.Now())
	e, err := server.New(server.ConfigSource{File: cfgPath}, sources, slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	h := e.Handler(server.HTTPOptions{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections) // first: a request still hanging fails, not the test binary
	do := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// passGrace waits until the exporter waits on its clock for the stuck source, then lets the
	// grace pass.
	passGrace := func(what string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(context.Background(), testwait.Deadline)
		defer wcancel()
		if err := clock.BlockUntilContext(wctx, 1); err != nil {
			t.Fatalf("%s: the exporter never waited on its clock for the stuck source: %v", what, err)
		}
		clock.Advance(server.StopGrace)
	}

	if code, body := do("GET", "/-/ready"); code != http.StatusServiceUnavailable || body != "Not ready: waiting for the first pass of stuck\n" {
		t.Errorf("/-/ready: %d %q", code, body)
	}

	// A reload that restarts the stuck source: it is left behind, the new one started.
	write("127.0.0.2:1")
	type reply struct {
		code int
		body string
	}
	replies := make(chan reply, 1)
	go func() { c, b := do("POST", "/-/reload"); replies <- reply{c, b} }()
	passGrace("reload")
	select {
	case r := <-replies:
		if r.code != http.StatusOK {
			t.Errorf("POST /-/reload: %d %s", r.code, r.body)
		}
	case <-time.After(testwait.Deadline):
		t.Fatal("POST /-/reload still waiting after the stop grace passed")
	}
	if got := e.Config().Targets[0].Target; got != "127.0.0.2:1" {
		t.Errorf("config in force names %s after the reload", got)
	}
	if code, body := do("GET", "/-/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "stuck") {
		t.Errorf("/-/ready after the reload: %d %q", code, body)
	}

	cancel()
	passGrace("shutdown")
	select {
	case <-done:
	case <-time.After(testwait.Deadline):
		t.Fatal("Run still waiting for the stuck source after the stop grace passed")
	}
}
