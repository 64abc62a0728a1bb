package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// TestDriftNginx: a real nginx serves a certbot-style lineage. Renewed on disk without a
// reload, the endpoint is outdated once a probe made after the grace still sees the old
// certificate; after a reload it is cleared.
func TestDriftNginx(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(nginx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx not installed")
		}
		t.Skip("nginx not installed")
	}
	t0 := time.Now().Truncate(time.Second)
	now := t0
	dir := t.TempDir()
	pki := testcerts.NewPKI("Nginx", t0)
	lineage := filepath.Join(dir, "letsencrypt", "live", "site")
	if err := os.MkdirAll(lineage, 0o755); err != nil {
		t.Fatal(err)
	}
	fullchain, key := filepath.Join(lineage, "fullchain.pem"), filepath.Join(lineage, "privkey.pem")
	deploy := func(notBefore time.Time) *testcerts.Cert {
		leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"site.test"}, NotBefore: notBefore, NotAfter: notBefore.Add(90 * 24 * time.Hour)})
		for p, data := range map[string][]byte{fullchain: testcerts.Bundle(leaf, pki.Intermediate), key: leaf.KeyPEM()} {
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return leaf
	}
	first := deploy(t0.Add(-30 * 24 * time.Hour))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
worker_processes 1;
events { worker_connections 16; }
http {
  access_log off;
  client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy; fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s ssl;
    server_name site.test;
    ssl_certificate %[3]s;
    ssl_certificate_key %[4]s;
    return 200 "ok";
  }
}
`, dir, addr, fullchain, key), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", conf, "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		_ = cmd.Wait()
	})

	cfg, err := config.Parse(fmt.Appendf(nil, "files:\n  - paths: [%q]\n", filepath.Join(dir, "letsencrypt/live/*/fullchain.pem")))
	if err != nil {
		t.Fatal(err)
	}
	src := files.New(cfg.Files, filepath.Join(dir, "letsencrypt"), slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(t0))
	module := cfg.Modules[config.DefaultModule]
	module.TLSConfig.ServerName = "site.test"
	// probeUntil probes until the endpoint serves serial (nginx loads certificates on start
	// and on reload, asynchronously), bounded by a deadline.
	probeUntil := func(serial string) *source.Snapshot {
		t.Helper()
		var snap *source.Snapshot
		testwait.Until(t, func() error {
			r := probe.Run(context.Background(), addr, module, probe.Options{})
			if chains := r.Chains(); len(chains) == 1 && chains[0].Certs[0].Serial == serial {
				chains[0].Seen = now
				snap = &source.Snapshot{Chains: chains}
				return nil
			}
			return fmt.Errorf("nginx does not serve serial %s: %+v", serial, r)
		})
		return snap
	}
	store := inventory.New("files", "targets")
	store.SetGrace(time.Hour)
	pubFiles, pubTargets := store.Restart("files", true), store.Restart("targets", true)
	scan := func() time.Time {
		snap := src.Once(context.Background())
		pubFiles(snap)
		return snap.Chains[0].Changed
	}
	scan()
	pubTargets(probeUntil(first.Cert.SerialNumber.Text(16)))
	state := func() (inventory.Drift, bool) {
		t.Helper()
		d := store.View().Drift
		if len(d) != 1 || d[0].Target != addr || d[0].Path != fullchain || d[0].Lineage != "site" || d[0].Domain != "site.test" {
			t.Fatalf("drift: %+v", d)
		}
		return d[0], d[0].Outdated
	}
	if d, out := state(); out || !d.Since.IsZero() {
		t.Fatalf("in sync: %+v", d)
	}

	// certbot renews; the deploy hook does not reload nginx. The file's change time (the
	// kernel's clock) dates the renewal; the probes are dated by the injected clock.
	renewed := deploy(t0.Add(-time.Hour))
	changed := scan()
	now = changed.Add(time.Hour)
	pubTargets(probeUntil(first.Cert.SerialNumber.Text(16)))
	if d, out := state(); out || !d.Since.Equal(changed) {
		t.Fatalf("renewed, within grace: %+v", d)
	}
	now = changed.Add(time.Hour + time.Second)
	pubTargets(probeUntil(first.Cert.SerialNumber.Text(16)))
	if d, out := state(); !out {
		t.Fatalf("renewed, no reload, grace passed: not outdated: %+v", d)
	}

	// The on-call runbook: reload the server.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	pubTargets(probeUntil(renewed.Cert.SerialNumber.Text(16)))
	if d, out := state(); out || !d.Since.IsZero() {
		t.Fatalf("after reload: %+v", d)
	}
}
