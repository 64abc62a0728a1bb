package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	"golang.org/x/crypto/ocsp"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
)

func TestMain(m *testing.M) {
	if benchServerMode() {
		return
	}
	goleak.VerifyTestMain(m)
}

func TestVerification(t *testing.T) {
	pki := testcerts.NewPKI("Probe", t0)
	day := 24 * time.Hour
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})
	expired := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, NotBefore: t0.Add(-90 * day), NotAfter: t0.Add(-day)})
	future := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, NotBefore: t0.Add(day), NotAfter: t0.Add(90 * day)})
	other := pki.Leaf(testcerts.Options{DNSNames: []string{"other.example"}, Now: t0})
	untrusted := testcerts.NewPKI("Untrusted", t0)
	stranger := untrusted.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})

	// An old root, trusted but expiring in ten days, cross-signed the current root; the server
	// still sends that cross-sign. Clients use the path to the current root: no alarm.
	oldRoot := testcerts.New(testcerts.Options{CN: "Old Root", IsCA: true, NotBefore: t0.Add(-3650 * day), NotAfter: t0.Add(10 * day)})
	cross := testcerts.CrossSign(pki.Root, oldRoot, t0.Add(10*day))

	tests := []struct {
		name   string
		chain  []*testcerts.Cert
		reason string
		expiry time.Time
	}{
		{"ok", []*testcerts.Cert{leaf, pki.Intermediate}, certs.ReasonOK, leaf.Cert.NotAfter},
		{"expired", []*testcerts.Cert{expired, pki.Intermediate}, certs.ReasonExpired, expired.Cert.NotAfter},
		{"not yet valid", []*testcerts.Cert{future, pki.Intermediate}, certs.ReasonNotYetValid, future.Cert.NotAfter},
		{"wrong host", []*testcerts.Cert{other, pki.Intermediate}, certs.ReasonHostnameMismatch, other.Cert.NotAfter},
		{"untrusted", []*testcerts.Cert{stranger, untrusted.Intermediate, untrusted.Root}, certs.ReasonUnknownAuthority, stranger.Cert.NotAfter},
		{"incomplete chain", []*testcerts.Cert{leaf}, certs.ReasonIncompleteChain, leaf.Cert.NotAfter},
		{"wrong order", []*testcerts.Cert{leaf, pki.Root, pki.Intermediate}, certs.ReasonWrongOrder, leaf.Cert.NotAfter},
		{"cross-signed extra", []*testcerts.Cert{leaf, pki.Intermediate, cross}, certs.ReasonOK, leaf.Cert.NotAfter},
	}
	m := caModule(t, pki)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tlsServer(t, "127.0.0.1", certCfg(tc.chain[0], tc.chain[1:]...), nil)
			mm := m
			if tc.name == "cross-signed extra" {
				mm.TLSConfig.CAFile = writeFile(t, "ca.pem", testcerts.Bundle(pki.Root, oldRoot))
			}
			r := Run(context.Background(), "localhost:"+s.Port, mm, Options{Resolver: fakeResolver{"localhost": {"127.0.0.1"}}, Now: clock})
			if !r.Success() || len(r.Addrs) != 1 {
				t.Fatalf("probe failed: %+v", r)
			}
			a := r.Addrs[0]
			if a.Chain.Verify.Reason != tc.reason {
				t.Errorf("reason %q (%s), want %q", a.Chain.Verify.Reason, a.Chain.Verify.Error, tc.reason)
			}
			if !a.Chain.Verify.ChainExpiry.Equal(tc.expiry) {
				t.Errorf("chain expiry %s, want %s", a.Chain.Verify.ChainExpiry, tc.expiry)
			}
			if len(a.Chain.Certs) != len(tc.chain) {
				t.Fatalf("%d certificates captured, want %d", len(a.Chain.Certs), len(tc.chain))
			}
			for i, c := range tc.chain {
				if a.Chain.Certs[i].Serial != c.Cert.SerialNumber.Text(16) {
					t.Errorf("certificate %d: serial %s, want %s", i, a.Chain.Certs[i].Serial, c.Cert.SerialNumber.Text(16))
				}
			}
			want := certs.Location{Source: "probe", Target: "localhost:" + s.Port, IP: "127.0.0.1"}
			if a.Chain.Location != want {
				t.Errorf("location %+v, want %+v", a.Chain.Location, want)
			}
			if a.TLSVersion != "TLS 1.3" || a.Cipher == "" {
				t.Errorf("TLS %q %q", a.TLSVersion, a.Cipher)
			}
		})
	}
}

// TestInsecureSkipVerify: the chain is still captured and checked, only the name is not.
func TestInsecureSkipVerify(t *testing.T) {
	pki := testcerts.NewPKI("Skip", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"other.example"}, Now: t0})
	s := tlsServer(t, "127.0.0.1", certCfg(leaf, pki.Intermediate), nil)
	m := caModule(t, pki)
	m.TLSConfig.InsecureSkipVerify = true
	r := Run(context.Background(), s.Addr, m, Options{Now: clock})
	if !r.Success() || r.Addrs[0].Chain.Verify.Reason != certs.ReasonOK || len(r.Addrs[0].Chain.Certs) != 2 {
		t.Fatalf("got %+v", r)
	}
}

func TestMultipleAddresses(t *testing.T) {
	pki := testcerts.NewPKI("LB", t0)
	fresh := pki.Leaf(testcerts.Options{DNSNames: []string{"lb.test"}, NotBefore: t0.Add(-24 * time.Hour), Now: t0})
	stale := pki.Leaf(testcerts.Options{DNSNames: []string{"lb.test"}, NotBefore: t0.Add(-80 * 24 * time.Hour), Now: t0})
	s1 := tlsServer(t, "127.0.0.1", certCfg(fresh, pki.Intermediate), nil)
	var s2 *testserver.Server
	for range 20 { // the same port must be free on 127.0.0.2
		ln, err := net.Listen("tcp", "127.0.0.2:"+s1.Port)
		if err == nil {
			ln.Close()
			s2 = serve(t, "127.0.0.2", s1.Port, func(c net.Conn) { handleTLS(c, certCfg(stale, pki.Intermediate), nil) })
			break
		}
		s1 = tlsServer(t, "127.0.0.1", certCfg(fresh, pki.Intermediate), nil)
	}
	if s2 == nil {
		t.Skip("no port free on both 127.0.0.1 and 127.0.0.2")
	}
	res := fakeResolver{"lb.test": {"127.0.0.2", "127.0.0.1", "127.0.0.2"}}
	r := Run(context.Background(), "lb.test:"+s1.Port, caModule(t, pki), Options{Resolver: res, Now: clock})
	if !r.Success() || len(r.Addrs) != 2 {
		t.Fatalf("got %+v", r)
	}
	for i, want := range []struct{ ip, serial string }{
		{"127.0.0.1", fresh.Cert.SerialNumber.Text(16)},
		{"127.0.0.2", stale.Cert.SerialNumber.Text(16)},
	} {
		a := r.Addrs[i]
		if a.IP != want.ip || a.Chain.IP != want.ip || a.Chain.Certs[0].Serial != want.serial {
			t.Errorf("address %d: ip %s serial %s, want %s %s", i, a.IP, a.Chain.Certs[0].Serial, want.ip, want.serial)
		}
	}

	// ip_protocol filters what is probed.
	m := caModule(t, pki)
	m.IPProtocol = "ip6"
	r = Run(context.Background(), "lb.test:"+s1.Port, m, Options{Resolver: res, Now: clock})
	if r.Failure != failDNS || !strings.Contains(r.Error, "no ip6 address") {
		t.Errorf("ip6 only: %q %q", r.Failure, r.Error)
	}
}

func TestServerName(t *testing.T) {
	pki := testcerts.NewPKI("SNI", t0)
	a := pki.Leaf(testcerts.Options{DNSNames: []string{"a.test"}, Now: t0})
	b := pki.Leaf(testcerts.Options{DNSNames: []string{"b.test"}, Now: t0})
	cfg := &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c := a.TLS(pki.Intermediate)
		if h.ServerName == "b.test" {
			c = b.TLS(pki.Intermediate)
		}
		return &c, nil
	}}
	s := tlsServer(t, "127.0.0.1", cfg, nil)
	m := caModule(t, pki)
	for _, tc := range []struct {
		module, target, want string
		reason               string
	}{
		{"", "", a.Cert.SerialNumber.Text(16), certs.ReasonHostnameMismatch}, // no SNI for an IP
		{"b.test", "", b.Cert.SerialNumber.Text(16), certs.ReasonOK},
		{"b.test", "a.test", a.Cert.SerialNumber.Text(16), certs.ReasonOK}, // the target's wins
	} {
		mm := m
		mm.TLSConfig.ServerName = tc.module
		r := Run(context.Background(), s.Addr, mm, Options{ServerName: tc.target, Now: clock})
		if !r.Success() || r.Addrs[0].Chain.Certs[0].Serial != tc.want || r.Addrs[0].Chain.Verify.Reason != tc.reason {
			t.Errorf("module %q target %q: got %+v", tc.module, tc.target, r.Addrs)
		}
	}
}

func TestStapledOCSP(t *testing.T) {
	pki := testcerts.NewPKI("OCSP", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})
	this := t0.Add(-time.Hour)
	for _, tc := range []struct {
		status  int
		revoked bool
		reason  string
	}{{ocsp.Good, false, certs.ReasonOK}, {ocsp.Revoked, true, certs.ReasonRevoked}} {
		c := leaf.TLS(pki.Intermediate)
		c.OCSPStaple = testcerts.OCSP(leaf, pki.Intermediate, tc.status, this, t0.Add(24*time.Hour))
		s := tlsServer(t, "127.0.0.1", &tls.Config{Certificates: []tls.Certificate{c}}, nil)
		r := Run(context.Background(), s.Addr, caModule(t, pki), Options{ServerName: "localhost", Now: clock})
		if !r.Success() {
			t.Fatalf("got %+v", r)
		}
		a := r.Addrs[0]
		want := certs.Revocation{Method: certs.MethodOCSPStaple, Revoked: tc.revoked, CheckedAt: this}
		if a.Chain.Revocation == nil || *a.Chain.Revocation != want {
			t.Errorf("revocation %+v, want %+v", a.Chain.Revocation, want)
		}
		if a.Chain.Verify.Reason != tc.reason {
			t.Errorf("reason %q, want %q", a.Chain.Verify.Reason, tc.reason)
		}
	}
}

func TestCRL(t *testing.T) {
	pki := testcerts.NewPKI("CRL", t0)
	var fetches atomic.Int32
	var crl []byte
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_, _ = w.Write(crl)
	}))
	defer hs.Close()
	revoked := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, CRLURLs: []string{hs.URL + "/int.crl"}, Now: t0})
	good := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, CRLURLs: []string{hs.URL + "/int.crl"}, Now: t0})
	this := t0.Add(-time.Hour)
	crl = testcerts.CRL(pki.Intermediate, this, t0.Add(time.Hour), big.NewInt(1), revoked.Cert.SerialNumber)

	m := caModule(t, pki)
	tr := true
	m.CheckRevocation = &tr
	now := t0
	cache := newCRLCache(func() time.Time { return now })
	for _, tc := range []struct {
		leaf    *testcerts.Cert
		revoked bool
		fetches int32
	}{{revoked, true, 1}, {good, false, 1}} {
		s := tlsServer(t, "127.0.0.1", certCfg(tc.leaf, pki.Intermediate), nil)
		r := Run(context.Background(), s.Addr, m, Options{ServerName: "localhost", Now: clock, CRLs: cache})
		want := certs.Revocation{Method: certs.MethodCRL, Revoked: tc.revoked, CheckedAt: this}
		if !r.Success() || r.Addrs[0].Chain.Revocation == nil || *r.Addrs[0].Chain.Revocation != want {
			t.Fatalf("got %+v (log %s)", r.Addrs, strings.Join(r.Log, "\n"))
		}
		if got := fetches.Load(); got != tc.fetches {
			t.Errorf("%d fetches, want %d (cached until NextUpdate)", got, tc.fetches)
		}
	}
	// Past NextUpdate the list is fetched again.
	now = t0.Add(2 * time.Hour)
	s := tlsServer(t, "127.0.0.1", certCfg(good, pki.Intermediate), nil)
	Run(context.Background(), s.Addr, m, Options{ServerName: "localhost", Now: clock, CRLs: cache})
	if got := fetches.Load(); got != 2 {
		t.Errorf("%d fetches after NextUpdate, want 2", got)
	}

	// An oversized CRL is refused, and the probe still succeeds without a revocation status.
	small := newCRLCache(clock)
	small.MaxBytes = 10
	r := Run(context.Background(), s.Addr, m, Options{Debug: true, ServerName: "localhost", Now: clock, CRLs: small})
	if !r.Success() || r.Addrs[0].Chain.Revocation != nil || !strings.Contains(strings.Join(r.Log, "\n"), "crl_too_large: larger than 10 bytes") ||
		!slices.Equal(r.AllProblems(), []string{problemCRLTooLarge}) {
		t.Errorf("oversized CRL: %+v %v %s", r.Addrs[0].Chain.Revocation, r.AllProblems(), strings.Join(r.Log, "\n"))
	}
}

// TestCRLProblems: a CRL that cannot be had is a problem of the address (exported as an error
// reason), with a short reason of the exporter's own in the log, and the probe still succeeds.
func TestCRLProblems(t *testing.T) {
	pki := testcerts.NewPKI("CRLProblems", t0)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.Error(w, "secret body", http.StatusNotFound)
		case "/garbage":
			_, _ = w.Write([]byte("secret body, not a CRL"))
		case "/other-issuer":
			_, _ = w.Write(testcerts.CRL(pki.Root, t0, t0.Add(time.Hour), big.NewInt(1)))
		}
	}))
	defer hs.Close()
	m := caModule(t, pki)
	tr := true
	m.CheckRevocation = &tr
	for _, tc := range []struct {
		path, problem, log string
	}{
		{"/missing", problemCRLFetch, "crl_fetch: HTTP status 404"},
		{"/garbage", problemCRLInvalid, "crl_invalid: not a CRL signed by the certificate's issuer"},
		{"/other-issuer", problemCRLInvalid, "crl_invalid: not a CRL signed by the certificate's issuer"},
	} {
		leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, CRLURLs: []string{hs.URL + tc.path}, Now: t0})
		s := tlsServer(t, "127.0.0.1", certCfg(leaf, pki.Intermediate), nil)
		r := Run(context.Background(), s.Addr, m, Options{Debug: true, ServerName: "localhost", Now: clock, CRLs: newCRLCache(clock)})
		log := strings.Join(r.Log, "\n")
		if !r.Success() || r.Addrs[0].Chain.Revocation != nil || !slices.Equal(r.AllProblems(), []string{tc.problem}) ||
			!strings.Contains(log, tc.log) || strings.Contains(log, "secret") {
			t.Errorf("%s: success %t problems %v\n%s", tc.path, r.Success(), r.AllProblems(), log)
		}
	}
}

// TestCRLAllowList: distribution points are URLs chosen by whoever made the certificate; they
// are fetched under probe.allowed_targets (names, resolved addresses, redirects) and only for
// chains that verified, so /probe cannot be used to reach other addresses.
func TestCRLAllowList(t *testing.T) {
	pki := testcerts.NewPKI("CRLAllow", t0)
	crl := testcerts.CRL(pki.Intermediate, t0, t0.Add(time.Hour), big.NewInt(1))
	var outside, inside atomic.Int32
	forbidden := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outside.Add(1)
		http.Error(w, "secret", http.StatusTeapot)
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("no 127.0.0.2:", err)
	}
	forbidden.Listener.Close()
	forbidden.Listener = ln
	forbidden.Start()
	defer forbidden.Close()
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, forbidden.URL+"/crl", http.StatusFound)
			return
		}
		_, _ = w.Write(crl)
	}))
	defer allowed.Close()
	_, fport, _ := net.SplitHostPort(forbidden.Listener.Addr().String())

	allow, err := newAllowList([]string{"127.0.0.1/32"})
	if err != nil {
		t.Fatal(err)
	}
	m := caModule(t, pki)
	tr := true
	m.CheckRevocation = &tr
	resolver := fakeResolver{"localhost": {"127.0.0.1"}, "crl.test": {"127.0.0.2"}, "mixed.test": {"127.0.0.1", "127.0.0.2"}}
	stranger := testcerts.NewPKI("Stranger", t0)
	for _, tc := range []struct {
		name    string
		pki     *testcerts.PKI
		crlURL  string
		inside  int32
		problem []string
		log     string
	}{
		{"address outside", pki, forbidden.URL + "/crl", 0, []string{problemCRLFetch}, "crl_fetch: refused: 127.0.0.2 is not in probe.allowed_targets"},
		{"name resolving outside", pki, "http://crl.test:" + fport + "/crl", 0, []string{problemCRLFetch}, "refused: crl.test (127.0.0.2) is not in probe.allowed_targets"},
		{"name resolving partly outside", pki, "http://mixed.test:" + fport + "/crl", 0, []string{problemCRLFetch}, "refused: mixed.test (127.0.0.2)"},
		{"redirect outside", pki, allowed.URL + "/redirect", 1, []string{problemCRLFetch}, "refused: 127.0.0.2 is not in probe.allowed_targets"},
		{"unverified chain", stranger, allowed.URL + "/crl", 0, nil, "CRL not checked: the chain did not verify"},
		{"inside", pki, allowed.URL + "/crl", 1, nil, "revoked false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inside.Store(0)
			leaf := tc.pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, CRLURLs: []string{tc.crlURL}, Now: t0})
			s := tlsServer(t, "127.0.0.1", certCfg(leaf, tc.pki.Intermediate), nil)
			r := Run(context.Background(), "localhost:"+s.Port, m, Options{Debug: true, Resolver: resolver, Allow: allow, Now: clock, CRLs: newCRLCache(clock)})
			log := strings.Join(r.Log, "\n")
			// "status 418", not a bare 418: a port number can hold it.
			if !r.Success() || !slices.Equal(r.AllProblems(), tc.problem) || !strings.Contains(log, tc.log) || strings.Contains(log, "secret") || strings.Contains(log, "status 418") {
				t.Errorf("success %t problems %v, want %v and %q in\n%s", r.Success(), r.AllProblems(), tc.problem, tc.log, log)
			}
			if got := inside.Load(); got != tc.inside {
				t.Errorf("%d requests to the allowed server, want %d", got, tc.inside)
			}
		})
	}
	if n := outside.Load(); n != 0 {
		t.Errorf("%d requests reached an address outside probe.allowed_targets", n)
	}
}

// TestChainTooLong: a server sending more than MaxChainCerts certificates is still probed; the
// first ones are kept and checked, and the bound is reported.
func TestChainTooLong(t *testing.T) {
	pki := testcerts.NewPKI("Long", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})
	long := leaf.TLS()
	for range maxChainCerts + 4 {
		long.Certificate = append(long.Certificate, pki.Intermediate.DER)
	}
	s := tlsServer(t, "127.0.0.1", &tls.Config{Certificates: []tls.Certificate{long}}, nil)
	r := Run(context.Background(), s.Addr, caModule(t, pki), Options{Debug: true, ServerName: "localhost", Now: clock})
	if !r.Success() || len(r.Addrs[0].Chain.Certs) != maxChainCerts || r.Addrs[0].Chain.Verify.Reason != certs.ReasonOK ||
		!slices.Equal(r.Addrs[0].Problems, []string{problemChainTooLong}) || !slices.Equal(r.AllProblems(), []string{problemChainTooLong}) {
		t.Fatalf("success %t, %d certificates, reason %s, problems %v", r.Success(), len(r.Addrs[0].Chain.Certs), r.Addrs[0].Chain.Verify.Reason, r.Addrs[0].Problems)
	}
	if log := strings.Join(r.Log, "\n"); !strings.Contains(log, "chain_too_long: keeping the first 16 of 21 certificates") {
		t.Errorf("log:\n%s", log)
	}
	// Without Debug (every probe but /probe?debug=true) no line is kept.
	if r := Run(context.Background(), s.Addr, caModule(t, pki), Options{ServerName: "localhost", Now: clock}); len(r.Log) != 0 {
		t.Errorf("log without Debug: %q", r.Log)
	}
}

// TestTooManyAddresses: a name resolving to more than MaxAddrs addresses has its first ones
// probed (in address order), and the bound is reported.
func TestTooManyAddresses(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(closed.Addr().String())
	closed.Close()
	var ips []string
	for i := 40; i > 0; i-- {
		ips = append(ips, fmt.Sprintf("127.0.1.%d", i))
	}
	m := config.Module{Timeout: model.Duration(5 * time.Second)}
	r := Run(context.Background(), "many.test:"+port, m, Options{Debug: true, Resolver: fakeResolver{"many.test": ips}, Now: clock})
	if len(r.Addrs) != maxAddrs || r.Addrs[0].IP != "127.0.1.1" || r.Addrs[maxAddrs-1].IP != "127.0.1.16" ||
		!slices.Equal(r.Problems, []string{problemTooManyAddrs}) || !slices.Equal(r.AllProblems(), []string{problemTooManyAddrs}) {
		t.Fatalf("%d addresses, problems %v", len(r.Addrs), r.Problems)
	}
	if log := strings.Join(r.Log, "\n"); !strings.Contains(log, "too_many_addresses: probing only the first 16 of 40 addresses") {
		t.Errorf("log:\n%s", log)
	}
}

func TestFailures(t *testing.T) {
	pki := testcerts.NewPKI("Fail", t0)
	// Only the cases that must end in a timeout get a short one; every other case has a
	// timeout no loaded machine reaches, so its outcome (a 1 MB chain takes a while to send
	// and parse under load) cannot turn into "timeout".
	m := caModule(t, pki)
	m.Timeout = model.Duration(time.Hour)
	short := m
	short.Timeout = model.Duration(300 * time.Millisecond)

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	silent := serve(t, "127.0.0.1", "", func(c net.Conn) { _, _ = c.Read(make([]byte, 1<<16)); _, _ = c.Read(make([]byte, 1)) })
	garbage := serve(t, "127.0.0.1", "", func(c net.Conn) { _, _ = c.Write([]byte(strings.Repeat("HTTP/1.1 400 Bad\r\n", 10))) })
	drip := serve(t, "127.0.0.1", "", func(c net.Conn) {
		for _, b := range []byte("\x16\x03\x03\x40\x00" + strings.Repeat("x", 1000)) {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	// A 1 MB chain: the leaf followed by ~1 MB of intermediates.
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})
	big := leaf.TLS()
	for n := 0; n < 1<<20; n += len(pki.Intermediate.DER) {
		big.Certificate = append(big.Certificate, pki.Intermediate.DER)
	}
	huge := tlsServer(t, "127.0.0.1", &tls.Config{Certificates: []tls.Certificate{big}}, nil)
	old := tlsServer(t, "127.0.0.1", &tls.Config{Certificates: []tls.Certificate{leaf.TLS(pki.Intermediate)}, MaxVersion: tls.VersionTLS12}, nil)
	m13 := m
	m13.TLSConfig.MinVersion = tls.VersionTLS13
	smtpNoTLS := serve(t, "127.0.0.1", "", func(c net.Conn) {
		br := bufio.NewReader(c)
		_, _ = c.Write([]byte("220 mx ESMTP\r\n"))
		_, _ = br.ReadString('\n')
		_, _ = c.Write([]byte("250-mx\r\n250 SIZE 1000\r\n"))
	})
	mSMTP := m
	mSMTP.StartTLS = "smtp"

	for _, tc := range []struct {
		name, target string
		m            config.Module
		failure      string
		errPart      string
	}{
		{"refused", closedAddr, m, failConnect, "refused"},
		{"silent", silent.Addr, short, failTimeout, ""},
		{"garbage", garbage.Addr, m, failHandshake, ""},
		{"slow drip", drip.Addr, short, failTimeout, ""},
		{"1 MB chain", huge.Addr, m, failHandshake, "exceeds maximum"},
		{"min_version", old.Addr, m13, failHandshake, "protocol version"},
		{"starttls not offered", smtpNoTLS.Addr, mSMTP, failStartTLS, "does not offer STARTTLS"},
		{"dns", "nowhere.test:443", m, failDNS, "no such host"},
		{"url", "file:///etc/passwd", m, failDNS, "is a URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(context.Background(), tc.target, tc.m, Options{Resolver: fakeResolver{}, Now: clock})
			got := r.Failures()
			if r.Success() || len(got) != 1 || got[0] != tc.failure {
				t.Fatalf("failures %v, want [%s]; %+v", got, tc.failure, r)
			}
			errText := r.Error
			if len(r.Addrs) > 0 {
				errText = r.Addrs[0].Error
			}
			if !strings.Contains(errText, tc.errPart) {
				t.Errorf("error %q does not contain %q", errText, tc.errPart)
			}
		})
	}
}

func TestAllowList(t *testing.T) {
	a, err := newAllowList([]string{"*.example.com", "exact.test", "10.0.0.0/8", "192.0.2.7", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"a.example.com", true}, {"A.B.Example.COM.", true}, {"example.com", false}, {"badexample.com", false},
		{"exact.test", true}, {"sub.exact.test", false}, {"10.1.2.3", true}, {"localhost", false},
	} {
		if got := a.AllowHost(tc.host); got != tc.want {
			t.Errorf("AllowHost(%q) = %t", tc.host, got)
		}
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{{"10.200.0.1", true}, {"11.0.0.1", false}, {"192.0.2.7", true}, {"192.0.2.8", false}, {"::1", true}, {"::ffff:10.0.0.1", true}} {
		if got := a.AllowIP(netipMust(tc.ip)); got != tc.want {
			t.Errorf("AllowIP(%s) = %t", tc.ip, got)
		}
	}
	var none *AllowList
	if !none.AllowHost("anything") || !none.AllowIP(netipMust("1.2.3.4")) {
		t.Error("a nil list must allow everything")
	}
	if _, err := newAllowList([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad CIDR accepted")
	}
	onlyNames, _ := newAllowList([]string{"*.test"})
	if onlyNames.AllowHost("127.0.0.1") {
		t.Error("an IP literal is not a listed name")
	}

	// Checked after resolution: an allowed name resolving to a forbidden address is refused.
	rebind, _ := newAllowList([]string{"*.test", "10.0.0.0/8"})
	r := Run(context.Background(), "evil.test:443", config.Module{}, Options{Resolver: fakeResolver{"evil.test": {"127.0.0.1"}}, Allow: rebind, Now: clock})
	if r.Failure != failRefused || len(r.Addrs) != 1 || r.Addrs[0].Failure != failRefused || !strings.Contains(r.Error, "127.0.0.1") {
		t.Errorf("got %+v", r)
	}
	// A refused name is not even looked up.
	r = Run(context.Background(), "other.example:443", config.Module{}, Options{Resolver: fakeResolver{}, Allow: rebind, Now: clock})
	if r.Failure != failRefused || len(r.Addrs) != 0 {
		t.Errorf("got %+v", r)
	}
}

func TestProxyAndClientCert(t *testing.T) {
	pki := testcerts.NewPKI("Proxy", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"backend.test"}, Now: t0})
	client := pki.Leaf(testcerts.Options{CN: "prober", Now: t0})
	var sawClient atomic.Bool
	cfg := certCfg(leaf, pki.Intermediate)
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = pki.Pool()
	cfg.Time = clock // the certificates are made around t0
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		sawClient.Store(len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Subject.CommonName == "prober")
		return nil
	}
	backend := tlsServer(t, "127.0.0.1", cfg, nil)
	var connects atomic.Int32
	proxy := serve(t, "127.0.0.1", "", func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Method != http.MethodConnect || req.Header.Get("Proxy-Authorization") == "" {
			_, _ = c.Write([]byte("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"))
			return
		}
		connects.Add(1)
		if req.Host != "backend.test:"+backend.Port {
			_, _ = c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\n\r\n"))
			return
		}
		up, err := net.Dial("tcp", backend.Addr)
		if err != nil {
			return
		}
		defer up.Close()
		_, _ = c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		done := make(chan struct{})
		go func() { _, _ = br.WriteTo(up); _ = up.(*net.TCPConn).CloseWrite(); close(done) }()
		_, _ = up.(*net.TCPConn).WriteTo(c)
		c.Close()
		<-done
	})
	m := caModule(t, pki)
	m.ProxyURL = proxyURL(t, "http://user:pw@"+proxy.Addr)
	m.TLSConfig.CertFile = writeFile(t, "client.pem", testcerts.Bundle(client, pki.Intermediate))
	m.TLSConfig.KeyFile = writeFile(t, "client.key", client.KeyPEM())
	// No resolver entry for backend.test: the proxy resolves it.
	r := Run(context.Background(), "backend.test:"+backend.Port, m, Options{Resolver: fakeResolver{}, Now: clock})
	if !r.Success() || len(r.Addrs) != 1 || r.Addrs[0].IP != "" || r.Addrs[0].Chain.Verify.Reason != certs.ReasonOK {
		t.Fatalf("got %+v\n%s", r, strings.Join(r.Log, "\n"))
	}
	// The server checks the client certificate after the client's handshake is done.
	for deadline := time.Now().Add(5 * time.Second); !sawClient.Load() && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	if connects.Load() != 1 || !sawClient.Load() {
		t.Errorf("connects %d, client certificate seen %t", connects.Load(), sawClient.Load())
	}
	// A proxy refusing the tunnel is a connect failure.
	m.ProxyURL = proxyURL(t, "http://"+proxy.Addr)
	r = Run(context.Background(), "backend.test:"+backend.Port, m, Options{Now: clock})
	if f := r.Failures(); len(f) != 1 || f[0] != failConnect || !strings.Contains(r.Addrs[0].Error, "407") {
		t.Errorf("got %+v", r)
	}
}

// TestManyProbesNoLeak runs thousands of probes, successful and failing, then goleak (TestMain)
// checks no goroutine survives.
func TestManyProbesNoLeak(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	pki := testcerts.NewPKI("Leak", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})
	good := tlsServer(t, "127.0.0.1", certCfg(leaf, pki.Intermediate), nil)
	silent := serve(t, "127.0.0.1", "", func(c net.Conn) { _, _ = c.Read(make([]byte, 1<<16)) })
	m := caModule(t, pki)
	short := m
	short.Timeout = model.Duration(20 * time.Millisecond)
	for i := range n {
		target, mm := good.Addr, m
		if i%100 == 0 {
			target, mm = silent.Addr, short
		}
		ctx, cancel := context.WithCancel(context.Background())
		if i%7 == 0 {
			cancel() // cancelled before it starts
		}
		r := Run(ctx, target, mm, Options{Now: clock})
		cancel()
		if i%7 != 0 && i%100 != 0 && !r.Success() {
			t.Fatalf("probe %d: %+v", i, r)
		}
	}
}

func TestIPv6(t *testing.T) {
	pki := testcerts.NewPKI("V6", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"dual.test"}, Now: t0})
	s4 := tlsServer(t, "127.0.0.1", certCfg(leaf, pki.Intermediate), nil)
	ln, err := net.Listen("tcp", "[::1]:"+s4.Port)
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	ln.Close()
	serve(t, "::1", s4.Port, func(c net.Conn) { handleTLS(c, certCfg(leaf, pki.Intermediate), nil) })
	r := Run(context.Background(), "dual.test:"+s4.Port, caModule(t, pki), Options{Resolver: fakeResolver{"dual.test": {"::1", "127.0.0.1"}}, Now: clock})
	if !r.Success() || len(r.Addrs) != 2 || r.Addrs[0].IP != "127.0.0.1" || r.Addrs[1].IP != "::1" || r.Addrs[1].Chain.Verify.Reason != certs.ReasonOK {
		t.Fatalf("got %+v", r.Addrs)
	}
}

// TestCRLURLPolicy: the checks made on a distribution point's URL (and on each redirect) before
// any connection; through a proxy the proxy resolves names, so CIDRs cannot vouch for them.
func TestCRLURLPolicy(t *testing.T) {
	cidr, _ := newAllowList([]string{"127.0.0.1/32"})
	names, _ := newAllowList([]string{"*.example.com"})
	proxy, _ := url.Parse("http://127.0.0.1:3128")
	for _, tc := range []struct {
		allow *AllowList
		proxy *url.URL
		url   string
		err   string
	}{
		{cidr, nil, "http://127.0.0.1/crl", ""},
		{cidr, nil, "https://crl.test/crl", ""}, // judged on its addresses when dialled
		{cidr, nil, "http://127.0.0.2/crl", "refused: 127.0.0.2 is not in probe.allowed_targets"},
		{cidr, nil, "ldap://127.0.0.1/crl", "only http(s) distribution points are fetched"},
		{cidr, proxy, "http://crl.test/crl", "probe.allowed_targets has CIDRs, which cannot be checked for a name resolved by proxy_url"},
		{cidr, proxy, "http://127.0.0.1/crl", ""},
		{names, proxy, "http://crl.example.com/crl", ""},
		{names, nil, "http://crl.example.org/crl", "refused: crl.example.org is not in probe.allowed_targets"},
		{names, nil, "http://127.0.0.1/crl", "refused: 127.0.0.1 is not in probe.allowed_targets"},
		{nil, nil, "http://169.254.169.254/crl", ""},
	} {
		u, _ := url.Parse(tc.url)
		err := fetchPolicy{allow: tc.allow, proxy: tc.proxy}.checkURL(u)
		if got := fmt.Sprint(err); tc.err == "" && err != nil || tc.err != "" && got != tc.err {
			t.Errorf("%s (proxy %v): %v, want %q", tc.url, tc.proxy, err, tc.err)
		}
		if err != nil && crlProblem(err) != problemCRLFetch {
			t.Errorf("%s: problem %s", tc.url, crlProblem(err))
		}
	}
}

func proxyURL(t *testing.T, s string) *config.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return &config.URL{URL: u}
}
