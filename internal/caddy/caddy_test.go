package caddy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

// TestProbeRealCaddy: a real Caddy (Debian's, as e2e/install.sh installs it) serves the
// certificates of its storage by SNI on one listener. Another instance sharing the storage
// renews one name (its new certificate written to the storage): this Caddy keeps serving the
// one it loaded, and with probe: that name is cert_served_outdated 1 while the other is 0,
// until its config is loaded again. A wildcard name is served for
// cert-expiry-exporter.<domain>, the name its probe asks for.
func TestProbeRealCaddy(t *testing.T) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("caddy not installed (e2e/install.sh installs it)")
		}
		t.Skip("caddy not installed")
	}
	dir := t.TempDir()
	storage := filepath.Join(dir, "caddy")
	pki := testcerts.NewPKI("Caddy Test", now)
	// The issuer directory of the ACME CA below: never contacted, the certificates are not due.
	const issuer = "127.0.0.1-9-dir"
	// store writes a name's certificate, key and metadata as certmagic does.
	store := func(serial int64, issued time.Time, name string) *testcerts.Cert {
		leaf := pki.Leaf(testcerts.Options{DNSNames: []string{name}, Serial: big.NewInt(serial), Now: now, NotBefore: issued, NotAfter: issued.Add(90 * 24 * time.Hour)})
		storeLeaf(t, storage, issuer, leaf, pki, fmt.Sprintf(`{"sans":[%q],"issuer_data":{"url":"https://127.0.0.1:9/cert/%x"}}`, name, serial))
		key := logparse.CaddyStorageKey(name)
		writeFile(t, filepath.Join(storage, "certificates", issuer, key, key+".key"), leaf.KeyPEM())
		return leaf
	}
	store(0xa, now.Add(-24*time.Hour), "current.example.test")
	store(0xb1, now.Add(-48*time.Hour), "renewed.example.test")
	store(0xc, now.Add(-24*time.Hour), "*.example.test")

	addr, admin := freeAddr(t), freeAddr(t)
	names := []string{"current.example.test", "renewed.example.test", "*.example.test"}
	caddyCfg, _ := json.Marshal(map[string]any{
		"admin":   map[string]any{"listen": admin},
		"storage": map[string]any{"module": "file_system", "root": storage},
		"apps": map[string]any{
			"tls": map[string]any{
				"certificates": map[string]any{"automate": names},
				"automation": map[string]any{"policies": []any{map[string]any{"subjects": names,
					"issuers": []any{map[string]any{"module": "acme", "ca": "https://127.0.0.1:9/dir"}}}}},
			},
			// One listener for every name, as Caddy's :443; no HTTP->HTTPS redirect listener.
			"http": map[string]any{"servers": map[string]any{"srv0": map[string]any{
				"listen": []string{addr}, "tls_connection_policies": []any{map[string]any{}},
				"automatic_https": map[string]any{"disable": true},
				"routes":          []any{map[string]any{"handle": []any{map[string]any{"handler": "static_response", "body": "ok"}}}},
			}}},
		},
	})
	cfgFile := filepath.Join(dir, "caddy.json")
	writeFile(t, cfgFile, caddyCfg)
	cmd := exec.Command(bin, "run", "--config", cfgFile)
	// Caddy keeps its autosaved config under XDG_CONFIG_HOME: the scratch dir, not $HOME.
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "share"))
	out, err := os.Create(filepath.Join(dir, "caddy.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	// Caddy loads the stored certificates in the background.
	testwait.Until(t, func() error {
		for _, n := range []string{"current.example.test", "renewed.example.test", "cert-expiry-exporter.example.test"} {
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: n, RootCAs: pki.Pool()})
			if err != nil {
				log, _ := os.ReadFile(out.Name())
				return fmt.Errorf("%s: %v; caddy's output:\n%s", n, err, log)
			}
			c.Close()
		}
		return nil
	})

	// The other instance's renewal.
	store(0xb2, now.Add(-24*time.Hour), "renewed.example.test")
	// The renewal's write time is the kernel's (its ctime): the probes are made two hours
	// after it, past drift.grace_period.
	_, port, _ := net.SplitHostPort(addr)
	cfg := probeConfig(t, dir, storage, addr, pki)
	// check probes until the exposition is want (Caddy loads a config in the background).
	check := func(want string) {
		t.Helper()
		testwait.Until(t, func() error {
			s := Factory.New(cfg, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(time.Now().Add(2 * time.Hour))})
			snap := s.Once(context.Background())
			if got := strings.ReplaceAll(render(t, snap, dir, "cert_served_outdated", "cert_probe_success"), port, "PORT"); got != want || len(snap.Problems) > 0 {
				return fmt.Errorf("got\n%s\nwant\n%s\nproblems %+v", got, want, snap.Problems)
			}
			return nil
		})
	}
	crt := func(key string) string { return "DIR/caddy/certificates/" + issuer + "/" + key + "/" + key + ".crt" }
	want := `# HELP cert_probe_success 1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).
# TYPE cert_probe_success gauge
cert_probe_success{ip="127.0.0.1",module="caddy",target="cert-expiry-exporter.example.test:PORT"} 1
cert_probe_success{ip="127.0.0.1",module="caddy",target="current.example.test:PORT"} 1
cert_probe_success{ip="127.0.0.1",module="caddy",target="renewed.example.test:PORT"} 1
# HELP cert_served_outdated 1 when the endpoint serves an older certificate than the file or Secret it is to serve holds (the Secret its Ingress or Gateway names, else any with the same names), for longer than drift.grace_period; 0 while it matches.
# TYPE cert_served_outdated gauge
cert_served_outdated{domain="*.example.test",ip="127.0.0.1",key="",lineage="wildcard_.example.test",namespace="",path="` + crt("wildcard_.example.test") + `",secret="",target="cert-expiry-exporter.example.test:PORT"} 0
cert_served_outdated{domain="current.example.test",ip="127.0.0.1",key="",lineage="current.example.test",namespace="",path="` + crt("current.example.test") + `",secret="",target="current.example.test:PORT"} 0
cert_served_outdated{domain="renewed.example.test",ip="127.0.0.1",key="",lineage="renewed.example.test",namespace="",path="` + crt("renewed.example.test") + `",secret="",target="renewed.example.test:PORT"} `
	check(want + "1\n")

	// The runbook's fix: the config loaded again, forced as `systemctl reload caddy` does
	// (caddy reload --force), serves the stored certificate.
	req, err := http.NewRequest(http.MethodPost, "http://"+admin+"/load", bytes.NewReader(caddyCfg))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cache-Control", "must-revalidate") // --force
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("caddy's /load: %s", resp.Status)
	}
	check(want + "0\n")
}

// freeAddr is a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
