package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/check"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/registry"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/server"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// rowKey names a row by where its certificate was seen.
func rowKey(x inventory.Row) string {
	return fmt.Sprintf("%s|%s|%s|%s|%d", x.Source, x.Path, x.Target, x.IP, x.Index)
}

// TestCheckMatchesInventory: on the demo world, with its ARI server answering and the drift
// join active (the clock is two minutes on, past the one-minute grace), `check --output=json
// --all` and /certificates.json judge every certificate alike: severity, renewal point and
// problems. Both run the same registry of sources, so they cannot disagree.
func TestCheckMatchesInventory(t *testing.T) {
	now := time.Now()
	w, err := New(now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	clock := clockwork.NewFakeClockAt(now.Add(2 * time.Minute))
	logger := slog.New(slog.DiscardHandler)

	e, err := server.New(server.ConfigSource{File: w.Config}, registry.Sources, logger, clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { e.Run(ctx); close(ran) }()
	t.Cleanup(func() { cancel(); <-ran })
	h := e.Handler(server.HTTPOptions{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	// The exporter's first passes are in when it is ready (every source has published) and
	// the early ARI window and the drift show.
	var page inventory.Report
	testwait.Until(t, func() error {
		if ready := get(t, srv.URL+"/-/ready"); ready != "Ready\n" {
			return fmt.Errorf("not ready: %q", ready)
		}
		page = inventory.Report{}
		if err := json.Unmarshal([]byte(get(t, srv.URL+"/certificates.json")), &page); err != nil {
			return err
		}
		var ariSeen, driftSeen bool
		caddyProbed := map[string]bool{}
		for _, x := range page.Certificates {
			ariSeen = ariSeen || x.Domain == "renew-now.demo.test" && x.RenewalDue.Before(now)
			driftSeen = driftSeen || x.Domain == "www.demo.test" && strings.Contains(strings.Join(x.ProblemTexts(), ";"), "serves an older certificate")
			if x.Source == "probe" && strings.HasPrefix(x.Target, "caddy-") {
				caddyProbed[x.Target] = true
			}
		}
		// caddy.probe's targets are known once the Caddy source published: their first probes
		// come after readiness.
		if !ariSeen || !driftSeen || len(caddyProbed) != len(caddyCerts) {
			return fmt.Errorf("first passes not in yet (ARI window %t, drift %t, Caddy names probed %d)", ariSeen, driftSeen, len(caddyProbed))
		}
		return nil
	})

	cfg, err := config.Load(w.Config)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	check.Run(context.Background(), cfg, registry.Sources, check.Options{
		Thresholds: inventory.DefaultThresholds, JSON: true, All: true, Clock: clock, Logger: logger,
	}, &out)
	var cli check.Result
	if err := json.Unmarshal(out.Bytes(), &cli); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}

	rows := map[string]inventory.Row{}
	for _, x := range page.Certificates {
		rows[rowKey(x)] = x
	}
	if len(rows) != len(page.Certificates) {
		t.Fatalf("/certificates.json lists %d certificates in %d places", len(page.Certificates), len(rows))
	}
	inCheck := map[string]bool{}
	for _, c := range cli.Certificates {
		inCheck[rowKey(c)] = true
	}
	for k := range rows {
		if !inCheck[k] {
			t.Errorf("%s: only in /certificates.json", k)
		}
	}
	for _, c := range cli.Certificates {
		p, ok := rows[rowKey(c)]
		switch {
		case !ok:
			t.Errorf("%s: only in check", rowKey(c))
		case c.Severity != p.Severity || !c.RenewalDue.Equal(p.RenewalDue) || strings.Join(c.ProblemTexts(), ";") != strings.Join(p.ProblemTexts(), ";"):
			t.Errorf("%s (%s):\n check    %s due %s %q\n inventory %s due %s %q", rowKey(c), c.Domain,
				c.Severity, c.RenewalDue, c.Problems, p.Severity, p.RenewalDue, p.Problems)
		}
	}
}
