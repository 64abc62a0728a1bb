//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// caddyHost is one Caddy instance as its systemd unit runs it, with only the TLS app (no
// listener but its HTTP-01 solver) and its default logger writing JSON to a file of its own.
type caddyHost struct {
	pb                *pebble
	dir, storage, log string
	names             []string
	proc              *proc
	runs              int
}

// start runs Caddy managing h.names, solving HTTP-01 on port; ratio is the renewal window
// (0: Caddy's default, a third of the lifetime left; 1: renew at every maintenance tick, 3 s).
func (h *caddyHost) start(t testing.TB, port int, ratio float64) {
	t.Helper()
	bin := needTool(t, "caddy")
	h.stop()
	h.runs++
	cfg, _ := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": h.storage},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{
			"writer": map[string]any{"output": "file", "filename": h.log}, "encoder": map[string]any{"format": "json"}, "level": "INFO"}}},
		"apps": map[string]any{"tls": map[string]any{
			"certificates": map[string]any{"automate": h.names},
			"automation": map[string]any{"renew_interval": "3s", "policies": []any{map[string]any{
				"subjects": h.names, "renewal_window_ratio": ratio,
				"issuers": []any{map[string]any{"module": "acme", "ca": h.pb.dirURL, "email": "admin@e2e.test",
					"trusted_roots_pem_files": []string{h.pb.caBundle},
					"challenges": map[string]any{"bind_host": "127.0.0.1", "http": map[string]any{"alternate_port": port},
						"tls-alpn": map[string]any{"disabled": true}}}}}}}}},
	})
	cfgFile := filepath.Join(h.dir, fmt.Sprintf("caddy-%d.json", h.runs))
	writeFile(t, cfgFile, cfg)
	cmd := exec.Command(bin, "run", "--config", cfgFile)
	// Caddy keeps its autosaved config under XDG_CONFIG_HOME: the scratch dir, not /root.
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(h.dir, "config"), "XDG_DATA_HOME="+filepath.Join(h.dir, "share"))
	h.proc = startTestProc(t, "caddy", cmd, filepath.Join(h.dir, fmt.Sprintf("caddy-%d.out", h.runs)))
}

func (h *caddyHost) stop() {
	if h.proc != nil {
		h.proc.stop()
		h.proc = nil
	}
}

// TestScenario15CaddyPebble: real Caddy (Debian's 2.6.2) obtains certificates from Pebble and
// renews them, watched by the exporter's caddy source through its storage and its JSON log
// file; then renewals fail for real (the challenge port closed: connection; the name's DNS
// server failing: dns) and are retried; each state is asserted as exact series lines, and the
// failure pages CertificateRenewalFailed in real Prometheus/Alertmanager, once per name.
func TestScenario15CaddyPebble(t *testing.T) {
	t.Parallel()
	const sc = "s15-caddy-pebble"
	s := getStack(t)
	dir := testDir(t, sc)
	pb := startPebbleRetryAfter(t, dir, 0)
	const name = "s15.e2e.test"
	h := &caddyHost{pb: pb, dir: dir, storage: filepath.Join(dir, "caddy"), log: filepath.Join(dir, "log", "caddy.log"), names: []string{name}}
	if err := os.MkdirAll(filepath.Dir(h.log), 0o755); err != nil {
		t.Fatal(err)
	}
	defer h.stop()
	h.start(t, pb.httpPort, 0)
	e := startExporter(t, dir, fmt.Sprintf("caddy:\n  storage_dir: %q\n  log_file: %q\n", h.storage, h.log), exporterOpts{})
	s.register(t, sc, e)
	issuerDir := strings.NewReplacer(":", "-", "/", "-").Replace(strings.TrimPrefix(pb.dirURL, "https://"))
	crt := filepath.Join(h.storage, "certificates", issuerDir, name, name+".crt")
	failure := func(reason string, v int) string {
		return fmt.Sprintf(`cert_renewal_failure{client="caddy",domain=%q,lineage=%q,reason=%q} %d`, name, name, reason, v)
	}
	failures := func(n int) string {
		return fmt.Sprintf(`cert_renewal_consecutive_failures{client="caddy",lineage=%q} %d`, name, n)
	}
	waitLines(t, e, failure("none", 0), failures(0),
		fmt.Sprintf(`cert_chain_length{ip="",lineage=%q,path=%q,source="caddy",target=""} 2`, name, crt),
		fmt.Sprintf(`cert_expiry_exporter_source_up{name=%q,source="caddy_store"} 1`, h.storage),
		fmt.Sprintf(`cert_expiry_exporter_source_up{name=%q,source="caddy_log"} 1`, h.log),
		fmt.Sprintf(`cert_renewal_attempts_total{client="caddy",lineage=%q} 1`, name))

	// The challenge port closed: Caddy's solver listens where Pebble does not connect. Caddy
	// renews at once (ratio 1) and retries.
	fault := time.Now()
	h.start(t, freePort(t), 1)
	waitLines(t, e, failure("connection", 1), failures(1))
	connWant := want{"CertificateRenewalFailed", map[string]string{"client": "caddy", "lineage": name, "reason": "connection", "severity": "warning"}}
	seen := s.expectAlerts(t, sc, []want{connWant}, want{"CertificateStaging", map[string]string{"source": "caddy"}})
	record(sc, connWant, fault, seen[connWant.String()], time.Time{})

	// Fixed: the next renewal works and the failure is gone.
	h.start(t, pb.httpPort, 1)
	waitLines(t, e, failure("none", 0), failures(0))

	// The name's DNS server fails.
	pb.cts(t, "set-servfail", fmt.Sprintf(`{"host":"%s."}`, name))
	waitLines(t, e, failure("dns", 1))
	pb.cts(t, "clear-servfail", fmt.Sprintf(`{"host":"%s."}`, name))
	h.stop()
}
