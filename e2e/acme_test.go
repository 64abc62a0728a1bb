//go:build e2e

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// pebble is a running Pebble ACME server with pebble-challtestsrv as its DNS server (every
// name resolves to 127.0.0.1), validating challenges for real (PEBBLE_VA_ALWAYS_VALID unset).
type pebble struct {
	dirURL   string
	httpPort int    // where Pebble connects for HTTP-01
	caBundle string // trusts Pebble's HTTPS listener, for certbot
	rootFile string // Pebble's issuing root, for the exporter's chain check
	// challMgmt is pebble-challtestsrv's management API: DNS answers per test.
	challMgmt string
}

func startPebble(t testing.TB, dir string) *pebble {
	t.Helper()
	return startPebbleRetryAfter(t, dir, 1)
}

// startPebbleRetryAfter starts Pebble sending Retry-After (seconds, or at random an HTTP date)
// on pending authorizations and orders; 0 sends none: Caddy 2.6.2 fails an order on the date
// form ("response had invalid Retry-After header").
func startPebbleRetryAfter(t testing.TB, dir string, retryAfter int) *pebble {
	t.Helper()
	pebbleBin := needTool(t, "pebble", goBinDirs()...)
	challBin := needTool(t, "pebble-challtestsrv", goBinDirs()...)

	// Pebble's own HTTPS certificate comes from a PKI made here, not from its source tree.
	now := time.Now()
	pki := testcerts.NewPKI("E2E Pebble Listener", now)
	leaf := pki.Leaf(testcerts.Options{CN: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Now: now})
	certFile, keyFile := filepath.Join(dir, "pebble-tls.pem"), filepath.Join(dir, "pebble-tls.key")
	writeFile(t, certFile, testcerts.Bundle(leaf, pki.Intermediate))
	writeFile(t, keyFile, leaf.KeyPEM())
	p := &pebble{caBundle: filepath.Join(dir, "pebble-tls-ca.pem"), httpPort: freePort(t)}
	writeFile(t, p.caBundle, pki.Root.PEM())

	dnsPort, challMgmt := freePort(t), freePort(t)
	chall := startTestProc(t, "pebble-challtestsrv", exec.Command(challBin,
		"-management", loopbackAddr("127.0.0.1", challMgmt),
		"-dnsserver", loopbackAddr("127.0.0.1", dnsPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
	), filepath.Join(dir, "challtestsrv.log"))
	waitTCP(t, chall, loopbackAddr("127.0.0.1", challMgmt), 20*time.Second)
	p.challMgmt = "http://" + loopbackAddr("127.0.0.1", challMgmt)

	acmePort, mgmtPort := freePort(t), freePort(t)
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  loopbackAddr("127.0.0.1", acmePort),
		"managementListenAddress":        loopbackAddr("127.0.0.1", mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       p.httpPort,
		"tlsPort":                        freePort(t),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": retryAfter, "order": retryAfter},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       map[string]any{"default": map[string]any{"description": "90 days", "validityPeriod": 90 * 24 * 3600}},
	}})
	cfgFile := filepath.Join(dir, "pebble.json")
	writeFile(t, cfgFile, cfg)
	cmd := exec.Command(pebbleBin, "-config", cfgFile, "-dnsserver", loopbackAddr("127.0.0.1", dnsPort), "-strict=false")
	// Validation stays real; only the random sleeps, nonce rejections and authorization reuse
	// (which would let a renewal skip its challenge; 0 still reuses one time in a hundred, so
	// lego runs also give their authorizations back) are turned off.
	// GOMAXPROCS=1: Pebble 2.10.1 read-locks an order twice in one request (WebFrontEndImpl.Order,
	// then orderForDisplay); the issuing goroutine's order.Lock() landing between the two
	// deadlocks that order, then the whole database, so the client's poll right after finalize
	// never gets an answer ("timeout awaiting response headers"), however long it waits. On two
	// threads a busy machine stretches that window to a time slice; on one, the issuing
	// goroutine, started first, runs to its end before the poll is read, unless the runtime
	// preempts it (10 ms) at that very point.
	cmd.Env = append(envWithout("PEBBLE_"), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0", "GOMAXPROCS=1")
	pb := startTestProc(t, "pebble", cmd, filepath.Join(dir, "pebble.log"))
	waitTCP(t, pb, loopbackAddr("127.0.0.1", acmePort), 30*time.Second)
	waitTCP(t, pb, loopbackAddr("127.0.0.1", mgmtPort), 30*time.Second)
	p.dirURL = fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool()}}}
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmtPort))
	if err != nil {
		t.Fatal(err)
	}
	root, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fetching Pebble's root: %v %s", err, resp.Status)
	}
	p.rootFile = filepath.Join(dir, "pebble-root.pem")
	writeFile(t, p.rootFile, root)
	return p
}

func envWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// certbotDirs are one certbot installation: --config-dir, --work-dir and --logs-dir.
type certbotDirs struct{ config, work, logs string }

func newCertbotDirs(t testing.TB, dir string) certbotDirs {
	t.Helper()
	d := certbotDirs{config: filepath.Join(dir, "letsencrypt"), work: filepath.Join(dir, "work"), logs: filepath.Join(dir, "logs")}
	for _, p := range []string{d.config, d.work, d.logs} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (d certbotDirs) logFile() string { return filepath.Join(d.logs, "letsencrypt.log") }

// certbot runs Debian's certbot against Pebble and returns its combined output and error.
func (p *pebble) certbot(t testing.TB, d certbotDirs, args ...string) (string, error) {
	t.Helper()
	bin := needTool(t, "certbot")
	base := []string{
		"--config-dir", d.config, "--work-dir", d.work, "--logs-dir", d.logs,
		"--non-interactive", "--agree-tos", "--register-unsafely-without-email",
		"--server", p.dirURL,
	}
	cmd := exec.Command(bin, append(args, base...)...)
	cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+p.caBundle)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// issue gets a certificate for domain into lineage with the standalone HTTP-01 server on the
// port Pebble validates.
func (p *pebble) issue(t testing.TB, d certbotDirs, lineage, domain string) {
	t.Helper()
	out, err := p.certbot(t, d, "certonly", "--standalone", "--http-01-address", "127.0.0.1",
		"--http-01-port", fmt.Sprint(p.httpPort), "--cert-name", lineage, "-d", domain)
	if err != nil {
		t.Fatalf("certbot certonly %s: %v\n%s", lineage, err, out)
	}
}

// freshAccount makes certbot's next runs use a new ACME account, registered in a scratch
// config dir, in place of the one that got the certificates: Pebble reuses a still-valid
// authorization of the same account one time in a hundred even with PEBBLE_AUTHZREUSE=0 (it
// reuses unless rand.Intn(100) > the percentage), which would let a renewal meant to fail skip
// its challenge and succeed. A new account has no authorization to reuse. (The renewal conf's
// `account` stays: with --server on the command line certbot ignores it and takes the only
// account there is.)
func (p *pebble) freshAccount(t testing.TB, d certbotDirs) {
	t.Helper()
	scratch := newCertbotDirs(t, t.TempDir())
	if out, err := p.certbot(t, scratch, "register"); err != nil {
		t.Fatalf("certbot register: %v\n%s", err, out)
	}
	accounts := filepath.Join(d.config, "accounts")
	if err := os.RemoveAll(accounts); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(scratch.config, "accounts"), accounts); err != nil {
		t.Fatal(err)
	}
}

// lineage writes a certbot lineage the way certbot lays it out: versioned files in
// archive/<name>/, relative symlinks in live/<name>/, and renewal/<name>.conf.
type lineage struct {
	configDir, name string
	version         int
}

func newLineage(t testing.TB, configDir, name, server string, leaf *testcerts.Cert, chain ...*testcerts.Cert) *lineage {
	t.Helper()
	l := &lineage{configDir: configDir, name: name}
	live := filepath.Join(configDir, "live", name)
	conf := fmt.Sprintf(`# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = %[1]s/archive/%[2]s
cert = %[3]s/cert.pem
privkey = %[3]s/privkey.pem
chain = %[3]s/chain.pem
fullchain = %[3]s/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 6b2fe4d8d5a8b1c37f0c4b9e1a2d3c4f
authenticator = standalone
server = %[4]s
key_type = ecdsa
`, configDir, name, live, server)
	writeFile(t, filepath.Join(configDir, "renewal", name+".conf"), []byte(conf))
	l.renew(t, leaf, chain...)
	return l
}

// renew adds the next archive version and swaps each live symlink to it, like certbot.
func (l *lineage) renew(t testing.TB, leaf *testcerts.Cert, chain ...*testcerts.Cert) {
	t.Helper()
	l.version++
	archive := filepath.Join(l.configDir, "archive", l.name)
	live := filepath.Join(l.configDir, "live", l.name)
	files := map[string][]byte{
		"cert":      leaf.PEM(),
		"chain":     testcerts.Bundle(chain...),
		"fullchain": testcerts.Bundle(append([]*testcerts.Cert{leaf}, chain...)...),
		"privkey":   leaf.KeyPEM(),
	}
	for _, kind := range []string{"cert", "chain", "fullchain", "privkey"} {
		writeFile(t, filepath.Join(archive, fmt.Sprintf("%s%d.pem", kind, l.version)), files[kind])
	}
	if err := os.MkdirAll(live, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"cert", "chain", "fullchain", "privkey"} {
		link := filepath.Join(live, kind+".pem")
		tmp := link + ".new"
		if err := os.Symlink(fmt.Sprintf("../../archive/%s/%s%d.pem", l.name, kind, l.version), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, link); err != nil {
			t.Fatal(err)
		}
	}
}

func (l *lineage) fullchain() string {
	return filepath.Join(l.configDir, "live", l.name, "fullchain.pem")
}
func (l *lineage) privkey() string { return filepath.Join(l.configDir, "live", l.name, "privkey.pem") }
