// Package demo builds a temporary, self-contained world for `cert_expiry_exporter demo`:
// certificates in every interesting state, a certbot-style live/archive/renewal tree, a certbot
// log with failed renewals, and loopback TLS endpoints to probe, plus the config that watches
// all of it. Everything is generated at start with internal/testcerts and removed by Close.
package demo

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

const day = 24 * time.Hour

// DefaultListenAddress is where the demo serves unless --web.listen-address says otherwise:
// loopback only, the exporter's port.
const DefaultListenAddress = "127.0.0.1:9117"

// World is the generated demo environment.
type World struct {
	Dir    string // removed by Close
	Config string // the exporter config watching the world
	// Good and Incomplete are the loopback TLS endpoints (host:port): one serves a full chain,
	// the other forgets the intermediate.
	Good, Incomplete string
	// ACME is the directory URL of the demo's loopback CA, which answers ARI requests.
	ACME string
	// Caddy is the demo Caddy's TLS listener (host:port), serving its stored certificates by SNI.
	Caddy string

	servers []*http.Server
}

// lineage is one certbot-managed certificate of the demo.
type lineage struct {
	name     string
	issued   time.Duration // how long before now it was issued
	lifetime time.Duration
	staging  bool
	// failType/failDetail: the ACME problem of its failing renewals; empty when not due.
	failType, failDetail string
}

var lineages = []lineage{
	{name: "healthy.demo.test", issued: 20 * day, lifetime: 90 * day},
	{name: "six-days.demo.test", issued: 84 * day, lifetime: 90 * day, failType: "connection",
		failDetail: "203.0.113.10: Fetching http://six-days.demo.test/.well-known/acme-challenge/kJd8cRw2Z3q0yV1nH4pT6uE9sA7bG5fL2mX8oQ1iYtw: Timeout during connect (likely firewall problem)"},
	{name: "two-days.demo.test", issued: 88 * day, lifetime: 90 * day, failType: "dns",
		failDetail: "DNS problem: NXDOMAIN looking up A for two-days.demo.test - check that a DNS record exists for this domain; DNS problem: NXDOMAIN looking up AAAA for two-days.demo.test - check that a DNS record exists for this domain"},
	{name: "staging.demo.test", issued: 10 * day, lifetime: 90 * day, staging: true},
}

const (
	productionServer = "https://acme-v02.api.letsencrypt.org/directory"
	stagingServer    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// New generates the world under a new temporary directory. now dates every certificate and
// log line; the TLS endpoints listen on loopback until Close.
func New(now time.Time) (w *World, err error) {
	dir, err := os.MkdirTemp("", "cert_expiry_exporter-demo-")
	if err != nil {
		return nil, err
	}
	w = &World{Dir: dir, Config: filepath.Join(dir, "cert_expiry_exporter.yml")}
	defer func() {
		if err != nil {
			_ = w.Close()
			w = nil
		}
	}()
	pki := testcerts.NewPKI("Demo", now)
	staging := stagingPKI(now)
	ca := filepath.Join(dir, "ca.pem")
	if err := write(ca, pki.Root.PEM(), 0o644); err != nil {
		return nil, err
	}
	le := filepath.Join(dir, "letsencrypt")
	var runs []lineageRun
	var leaves []*testcerts.Cert // asked about by ARI
	for _, l := range lineages {
		p := pki
		if l.staging {
			p = staging
		}
		leaf := p.Leaf(testcerts.Options{DNSNames: []string{l.name, "www." + l.name}, Now: now,
			NotBefore: now.Add(-l.issued), NotAfter: now.Add(-l.issued + l.lifetime)})
		server := productionServer
		if l.staging {
			server = stagingServer
		}
		if err := certbotLineage(le, l.name, leaf, p.Intermediate, server); err != nil {
			return nil, err
		}
		leaves = append(leaves, leaf)
		runs = append(runs, lineageRun{name: l.name, domain: l.name, notAfter: leaf.Cert.NotAfter.In(time.Local),
			fullchain: filepath.Join(le, "live", l.name, "fullchain.pem"), conf: filepath.Join(le, "renewal", l.name+".conf"),
			failType: l.failType, failDetail: l.failDetail})
	}
	// certbot.timer runs twice a day; the last two runs are in the log, both failing.
	runLog := renewRunLog(now.Add(-18*time.Hour).In(time.Local), runs) + renewRunLog(now.Add(-6*time.Hour).In(time.Local), runs)
	if err := write(filepath.Join(dir, "log", "letsencrypt.log"), []byte(runLog), 0o600); err != nil {
		return nil, err
	}
	// A lego host next to the certbot one: lego run daily from cron.
	if err := legoHost(dir, pki, now); err != nil {
		return nil, err
	}
	// A Caddy host: Caddy renews its sites' certificates itself, and serves them on its TLS
	// listener by SNI (caddy.probe dials it for every stored name).
	caddyServed, err := caddyHost(dir, pki, now)
	if err != nil {
		return nil, err
	}
	if w.Caddy, err = w.listen(caddyServed...); err != nil {
		return nil, err
	}

	// Certificates outside certbot: an expired one, a 160-hour one renewed on schedule (less
	// than 7 days left, yet healthy), a bundle in the wrong order, and one the CA wants
	// replaced now (its ARI window has begun, 70 days before expiry).
	expired := pki.Leaf(testcerts.Options{DNSNames: []string{"expired.demo.test"}, Now: now, NotBefore: now.Add(-91 * day), NotAfter: now.Add(-day)})
	short := pki.Leaf(testcerts.Options{DNSNames: []string{"shortlived.demo.test"}, Now: now, NotBefore: now.Add(-day), NotAfter: now.Add(-day + 160*time.Hour)})
	order := pki.Leaf(testcerts.Options{DNSNames: []string{"wrong-order.demo.test"}, Now: now, NotBefore: now.Add(-30 * day), NotAfter: now.Add(60 * day)})
	early := pki.Leaf(testcerts.Options{DNSNames: []string{"renew-now.demo.test"}, Now: now, NotBefore: now.Add(-20 * day), NotAfter: now.Add(70 * day)})
	leaves = append(leaves, short, order, early)
	for name, data := range map[string][]byte{
		"expired.demo.test.pem":     testcerts.Bundle(expired, pki.Intermediate),
		"shortlived.demo.test.pem":  testcerts.Bundle(short, pki.Intermediate),
		"wrong-order.demo.test.pem": testcerts.Bundle(order, pki.Root, pki.Intermediate),
		"renew-now.demo.test.pem":   testcerts.Bundle(early, pki.Intermediate),
	} {
		if err := write(filepath.Join(dir, "certs", name), data, 0o644); err != nil {
			return nil, err
		}
	}

	// The CRL file a server would check client certificates against (nginx ssl_crl), of the
	// PKI team: the root's list is fresh, the intermediate's publisher stopped an hour after
	// the list's nextUpdate (CertificateRevocationListStale).
	crls := slices.Concat(
		pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: testcerts.CRL(pki.Intermediate, now.Add(-8*day), now.Add(-time.Hour), big.NewInt(4711))}),
		pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: testcerts.CRL(pki.Root, now.Add(-day), now.Add(6*day))}))
	if err := write(filepath.Join(dir, "crl", "clients-crl.pem"), crls, 0o644); err != nil {
		return nil, err
	}

	// Two loopback endpoints for the background probes and /probe.
	served := pki.Leaf(testcerts.Options{DNSNames: []string{"www.demo.test"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Now: now, NotBefore: now.Add(-10 * day), NotAfter: now.Add(80 * day)})
	incomplete := pki.Leaf(testcerts.Options{DNSNames: []string{"incomplete.demo.test"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Now: now, NotBefore: now.Add(-10 * day), NotAfter: now.Add(80 * day)})
	if w.Good, err = w.listen(served.TLS(pki.Intermediate)); err != nil {
		return nil, err
	}
	// Renewed on disk yesterday but never deployed: the endpoint still serves the old one
	// (cert_served_outdated turns 1 after the demo's one-minute grace).
	renewed := pki.Leaf(testcerts.Options{DNSNames: []string{"www.demo.test"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Now: now, NotBefore: now.Add(-day), NotAfter: now.Add(89 * day)})
	if err := write(filepath.Join(dir, "certs", "www.demo.test.pem"), testcerts.Bundle(renewed, pki.Intermediate), 0o644); err != nil {
		return nil, err
	}
	if w.Incomplete, err = w.listen(incomplete.TLS()); err != nil {
		return nil, err
	}
	leaves = append(leaves, renewed)
	if w.ACME, err = w.serveARI(leaves, map[*testcerts.Cert]window{
		early: {Start: now.Add(-day), End: now.Add(day), Explanation: "https://ca.demo.test/incident-2026-11"},
	}); err != nil {
		return nil, err
	}
	return w, write(w.Config, []byte(w.config(le, ca)), 0o644)
}

// stagingPKI mimics Let's Encrypt's staging hierarchy, whose names mark it as untrusted.
func stagingPKI(now time.Time) *testcerts.PKI {
	root := testcerts.New(testcerts.Options{CN: "(STAGING) Pretend Pear X1", Org: "(STAGING) Internet Security Research Group", IsCA: true, Now: now,
		NotBefore: now.Add(-day), NotAfter: now.Add(3650 * day)})
	inter := testcerts.New(testcerts.Options{CN: "(STAGING) Counterfeit Cashew R10", Org: "(STAGING) Let's Encrypt", IsCA: true, Issuer: root, Now: now,
		NotBefore: now.Add(-day), NotAfter: now.Add(1000 * day)})
	return &testcerts.PKI{Root: root, Intermediate: inter}
}

// certbotLineage lays out one lineage exactly as certbot does: archive/<name>/*1.pem, live/<name>/
// relative symlinks to them, and renewal/<name>.conf.
func certbotLineage(le, name string, leaf, chain *testcerts.Cert, server string) error {
	archive := filepath.Join(le, "archive", name)
	live := filepath.Join(le, "live", name)
	for _, d := range []string{archive, live, filepath.Join(le, "renewal")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	files := map[string][]byte{
		"cert": leaf.PEM(), "chain": chain.PEM(), "fullchain": testcerts.Bundle(leaf, chain), "privkey": leaf.KeyPEM(),
	}
	for kind, data := range files {
		if err := write(filepath.Join(archive, kind+"1.pem"), data, 0o600); err != nil {
			return err
		}
		if err := os.Symlink(filepath.Join("..", "..", "archive", name, kind+"1.pem"), filepath.Join(live, kind+".pem")); err != nil {
			return err
		}
	}
	conf := fmt.Sprintf(`# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = %[1]s
cert = %[2]s/cert.pem
privkey = %[2]s/privkey.pem
chain = %[2]s/chain.pem
fullchain = %[2]s/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 5e2a4c0f8b3d9e7a1c6f0b2d4e8a9c3f
authenticator = standalone
server = %[3]s
key_type = ecdsa
`, archive, live, server)
	return write(filepath.Join(le, "renewal", name+".conf"), []byte(conf), 0o644)
}

func (w *World) config(le, ca string) string {
	return fmt.Sprintf(`# Generated by cert_expiry_exporter demo; removed when the demo stops.
files:
  - paths: [%[1]s/live/*/fullchain.pem]
    ca_file: %[2]s
    check_key: true  # certbot's privkey.pem next to each fullchain.pem (cert_key_match)
  - paths: [%[3]s/certs/*.pem]
    ca_file: %[2]s
  - paths: [%[3]s/crl/*.pem]
    labels: {team: pki}
certbot:
  config_dir: %[1]s
  log_file: %[3]s/log/letsencrypt.log
lego:
  path: %[3]s/lego
  log_file: %[3]s/log/lego.log
  check_key: true  # certificates/<name>.key (cert_key_match)
caddy:
  storage_dir: %[3]s/caddy
  log_file: %[3]s/log/caddy.log
  probe:  # every stored name probed at Caddy's listener by SNI: served vs stored
    address: %[7]s
    module: demo
    interval: 1m
targets:
  - target: %[4]s
    module: demo
    server_name: www.demo.test
    interval: 1m
  - target: %[5]s
    module: demo
    server_name: incomplete.demo.test
    interval: 1m
modules:
  demo:
    tls_config: {ca_file: %[2]s}
    timeout: 5s
probe:
  allowed_targets: ["127.0.0.0/8"]
drift:
  grace_period: 1m
ari:
  enabled: false  # the lineages' renewal confs name Let's Encrypt; the demo stays offline
  directories:    # the demo CA on loopback answers for every certificate instead
    - paths: [%[1]s/live/*/fullchain.pem, %[3]s/certs/*.pem]
      directory: %[6]s
`, le, ca, w.Dir, w.Good, w.Incomplete, w.ACME, w.Caddy)
}

// listen serves certs over TLS on a loopback port (the one whose names match the client's SNI,
// else the first) and returns its address.
func (w *World) listen(certs ...tls.Certificate) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(rw, "cert_expiry_exporter demo endpoint")
		}),
		ReadHeaderTimeout: 5 * time.Second,
		// The probes of the incomplete chain abort the handshake on purpose: not worth a log line.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	w.servers = append(w.servers, srv)
	go func() { _ = srv.Serve(tls.NewListener(l, &tls.Config{Certificates: certs})) }()
	return l.Addr().String(), nil
}

// Close stops the TLS endpoints and removes the directory.
func (w *World) Close() error {
	var errs []error
	for _, s := range w.servers {
		errs = append(errs, s.Close())
	}
	errs = append(errs, os.RemoveAll(w.Dir))
	return errors.Join(errs...)
}

// Announce tells the user where to look.
func (w *World) Announce(out io.Writer, listen []string) {
	base := "http://" + DefaultListenAddress
	if len(listen) > 0 {
		host, port, err := net.SplitHostPort(listen[0])
		if err == nil {
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "localhost"
			}
			base = "http://" + net.JoinHostPort(host, port)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cert_expiry_exporter demo: a generated world in %s\n\n", w.Dir)
	fmt.Fprintf(&b, "  Inventory page   %s/certificates\n", base)
	fmt.Fprintf(&b, "  Same, as JSON    %s/certificates.json\n", base)
	fmt.Fprintf(&b, "  Metrics          %s/metrics\n", base)
	fmt.Fprintf(&b, "  Probe on demand  %s/probe?target=%s&module=demo\n", base, w.Incomplete)
	fmt.Fprintf(&b, "  Landing page     %s/\n\n", base)
	fmt.Fprintf(&b, "Certificates: healthy, 160-hour short-lived, 6 days left (renewal failing: connection),\n")
	fmt.Fprintf(&b, "2 days left (renewal failing: dns), expired, staging CA, wrong order in a bundle, one the CA\n")
	fmt.Fprintf(&b, "asks to replace now (ARI window open 70 days before expiry), a lego host (one certificate not\n")
	fmt.Fprintf(&b, "due, one whose renewal fails: unauthorized), a Caddy host (one name renewed, one whose\n")
	fmt.Fprintf(&b, "renewal fails and is retried: dns), and\n")
	fmt.Fprintf(&b, "TLS endpoints https://%s (full chain, but an older certificate than the one renewed on disk)\nand https://%s (intermediate missing).\n", w.Good, w.Incomplete)
	fmt.Fprintf(&b, "Config: %s\nStop with Ctrl-C; the directory is removed on exit.\n", w.Config)
	_, _ = io.WriteString(out, b.String())
}

// ConcretePorts replaces port 0 in listen addresses with a free port, so that the URLs the
// demo announces are the ones it serves on.
func ConcretePorts(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a
		host, port, err := net.SplitHostPort(a)
		if err != nil || port != "0" {
			continue
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			continue
		}
		_, p, _ := net.SplitHostPort(l.Addr().String())
		l.Close()
		out[i] = net.JoinHostPort(host, p)
	}
	return out
}

// write creates path (and its directory) with data.
func write(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, perm)
}
