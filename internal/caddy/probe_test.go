package caddy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

const leIssuer = "acme-v02.api.letsencrypt.org-directory"

// sniServer stands in for Caddy's listener: the certificate (with the intermediate) of each
// server name, and no certificate for any other name, as certmagic answers.
func sniServer(t *testing.T, pki *testcerts.PKI, byName map[string]*testcerts.Cert) *testserver.Server {
	t.Helper()
	served := map[string]tls.Certificate{}
	for n, c := range byName {
		served[n] = c.TLS(pki.Intermediate)
	}
	return testserver.Serve(t, "127.0.0.1:0", testserver.HandleTLS(&tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c, ok := served[h.ServerName]; ok {
			return &c, nil
		}
		return nil, fmt.Errorf("no certificate for %q", h.ServerName)
	}}))
}

// probeConfig is a config of one instance probed at addr with a module trusting pki, and
// the configured target listed.example.test at addr's port.
func probeConfig(t *testing.T, dir, storage, addr string, pki *testcerts.PKI) *config.Config {
	t.Helper()
	root := filepath.Join(dir, "root.pem")
	writeFile(t, root, pki.Root.PEM())
	_, port, _ := strings.Cut(addr, ":")
	cfg, err := config.Parse(fmt.Appendf(nil, `modules: {caddy: {tls_config: {ca_file: %q}}}
targets: [{target: 'listed.example.test:%s'}]
caddy:
  storage_dir: %q
  labels: {team: web}
  probe: {address: %q, module: caddy, interval: 1m}
`, root, port, storage, addr))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestProbeDrift: with probe:, every stored name is probed at Caddy's listener, the handshake
// naming it: the name Caddy still serves an older certificate for (stored two hours ago) is
// cert_served_outdated 1, the one it serves as stored 0; a wildcard is probed as
// cert-expiry-exporter.<domain> and pairs with its stored certificate; a name of targets: is
// left to it; the served chains carry the instance's owner labels.
func TestProbeDrift(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "caddy")
	pki := testcerts.NewPKI("Caddy Test", now)
	leaf := func(serial int64, issued time.Time, names ...string) *testcerts.Cert {
		return pki.Leaf(testcerts.Options{DNSNames: names, Serial: big.NewInt(serial), Now: now, NotBefore: issued, NotAfter: issued.Add(90 * 24 * time.Hour)})
	}
	current := storeCert(t, storage, leIssuer, "current.example.test", 0xa, pki, "")
	renewed, old := leaf(0xb2, now.Add(-24*time.Hour), "renewed.example.test"), leaf(0xb1, now.Add(-48*time.Hour), "renewed.example.test")
	storeLeaf(t, storage, leIssuer, renewed, pki, "")
	wildcard := leaf(0xc, now.Add(-24*time.Hour), "*.example.test")
	storeLeaf(t, storage, leIssuer, wildcard, pki, "")
	listed := storeCert(t, storage, leIssuer, "listed.example.test", 0xd, pki, "")
	// An IP address certificate: no server name to ask for, not probed (were it, its own
	// address would be dialled: a loopback one).
	storeLeaf(t, storage, leIssuer, pki.Leaf(testcerts.Options{CN: "127.0.0.2", IPs: []net.IP{net.ParseIP("127.0.0.2")}, Serial: big.NewInt(0xe), Now: now}), pki, "")
	srv := sniServer(t, pki, map[string]*testcerts.Cert{"current.example.test": current, "renewed.example.test": old,
		"cert-expiry-exporter.example.test": wildcard, "listed.example.test": listed})

	cfg := probeConfig(t, dir, storage, srv.Addr, pki)
	// The renewal's write time is the kernel's (its ctime): the probes are made two hours
	// after it, past drift.grace_period.
	s := Factory.New(cfg, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(time.Now().Add(2 * time.Hour))})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap := s.Once(ctx)
	got := strings.ReplaceAll(render(t, snap, dir, "cert_served_outdated", "cert_probe_success", "cert_info"), srv.Port, "PORT")
	crt := func(key string) string { return "DIR/caddy/certificates/" + leIssuer + "/" + key + "/" + key + ".crt" }
	drift := func(target, domain, key, v string) string {
		return `cert_served_outdated{domain="` + domain + `",ip="127.0.0.1",key="",lineage="` + key + `",namespace="",path="` + crt(key) +
			`",secret="",target="` + target + `:PORT"} ` + v + "\n"
	}
	success := func(target string) string {
		return `cert_probe_success{ip="127.0.0.1",module="caddy",target="` + target + `:PORT"} 1` + "\n"
	}
	served := func(target, domain, serial string) string {
		return `cert_info{domain="` + domain + `",eku="server_auth,client_auth",index="0",ip="127.0.0.1",issuer="Caddy Test Intermediate CA",key_type="ecdsa-p256",sans="` + domain +
			`",serial="` + serial + `",signature_algorithm="ECDSA-SHA256",source="probe",target="` + target + `:PORT",team="web"} 1` + "\n"
	}
	stored := func(domain, key, serial string) string {
		return `cert_info{domain="` + domain + `",eku="server_auth,client_auth",index="0",issuer="Caddy Test Intermediate CA",key_type="ecdsa-p256",lineage="` + key +
			`",path="` + crt(key) + `",sans="` + domain + `",serial="` + serial + `",signature_algorithm="ECDSA-SHA256",source="caddy",team="web"} 1` + "\n"
	}
	want := "# HELP cert_info Descriptive certificate data; always 1.\n# TYPE cert_info gauge\n" +
		served("cert-expiry-exporter.example.test", "*.example.test", "c") +
		stored("*.example.test", "wildcard_.example.test", "c") +
		served("current.example.test", "current.example.test", "a") +
		stored("current.example.test", "current.example.test", "a") +
		stored("listed.example.test", "listed.example.test", "d") +
		served("renewed.example.test", "renewed.example.test", "b1") +
		stored("renewed.example.test", "renewed.example.test", "b2") +
		strings.Replace(stored("127.0.0.2", "127.0.0.2", "e"), `team=`, `subject="CN=127.0.0.2",team=`, 1) +
		"# HELP cert_probe_success 1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).\n# TYPE cert_probe_success gauge\n" +
		success("cert-expiry-exporter.example.test") + success("current.example.test") + success("renewed.example.test") +
		"# HELP cert_served_outdated 1 when the endpoint serves an older certificate than the file or Secret it is to serve holds (the Secret its Ingress or Gateway names, else any with the same names), for longer than drift.grace_period; 0 while it matches.\n# TYPE cert_served_outdated gauge\n" +
		drift("cert-expiry-exporter.example.test", "*.example.test", "wildcard_.example.test", "0") +
		drift("current.example.test", "current.example.test", "current.example.test", "0") +
		drift("renewed.example.test", "renewed.example.test", "renewed.example.test", "1")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, p := range snap.Problems {
		t.Errorf("problem %+v", p)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("Once took the whole deadline")
	}
}

// TestProbeFollowsStorage: Run probes the names the storage holds as it changes: a name
// stored later is probed, a name whose directory Caddy removed (its storage cleaning) has its
// probe series gone.
func TestProbeFollowsStorage(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "caddy")
	pki := testcerts.NewPKI("Caddy Test", now)
	a := storeCert(t, storage, leIssuer, "a.example.test", 0xa, pki, "")
	b := pki.Leaf(testcerts.Options{DNSNames: []string{"b.example.test"}, Serial: big.NewInt(0xb), Now: now})
	srv := sniServer(t, pki, map[string]*testcerts.Cert{"a.example.test": a, "b.example.test": b})
	clock := clockwork.NewFakeClockAt(now)
	s := Factory.New(probeConfig(t, dir, storage, srv.Addr, pki), source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clock})
	var last testwait.Latest[*source.Snapshot]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, last.Set)
	}()
	defer func() { cancel(); <-done }()
	success := func(names ...string) string {
		out := "# HELP cert_probe_success 1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).\n# TYPE cert_probe_success gauge\n"
		for _, n := range names {
			out += `cert_probe_success{ip="127.0.0.1",module="caddy",target="` + n + `:PORT"} 1` + "\n"
		}
		return out
	}
	await := func(want string) {
		t.Helper()
		testwait.Until(t, func() error {
			// The storage's rescan, should fsnotify miss the change.
			clock.Advance(time.Second)
			snap, ok := last.Get()
			if !ok {
				return errors.New("nothing published")
			}
			if got := strings.ReplaceAll(render(t, snap, dir, "cert_probe_success"), srv.Port, "PORT"); got != want {
				return fmt.Errorf("got\n%s\nwant\n%s", got, want)
			}
			return nil
		})
	}
	await(success("a.example.test"))

	storeLeaf(t, storage, leIssuer, b, pki, "")
	await(success("a.example.test", "b.example.test"))

	if err := os.RemoveAll(filepath.Join(storage, "certificates", leIssuer, "a.example.test")); err != nil {
		t.Fatal(err)
	}
	await(success("b.example.test"))
}

// TestProbeTargetsBounded: the names past maxTargets are a problem naming the storage where
// the bound was reached, not targets; a name two instances store is the first one's.
func TestProbeTargetsBounded(t *testing.T) {
	cfg, err := config.Parse([]byte("caddy:\n  - {storage_dir: /a, probe: {}}\n  - {storage_dir: /b, probe: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	target := func(i int) probe.Target {
		return probe.Target{Target: config.Target{Target: fmt.Sprintf("h%04d.example.test:443", i)}}
	}
	var a, b part
	for i := range maxTargets - 1 {
		a.targets = append(a.targets, target(i))
	}
	b.targets = []probe.Target{target(0), target(maxTargets), target(maxTargets + 1)}
	got, problems := (&Source{cfg: cfg}).targets([]part{a, b})
	want := []source.Problem{{Source: "caddy", Where: "/b", Reason: ReasonTooManyTargets,
		Message: "more than 1000 names to probe: h1001.example.test:443 and the names after it are not probed"}}
	if len(got) != maxTargets || got[len(got)-1].Target.Target != target(maxTargets).Target.Target || !reflect.DeepEqual(problems, want) {
		t.Errorf("%d targets, last %s, problems %+v", len(got), got[len(got)-1].Target.Target, problems)
	}
}
