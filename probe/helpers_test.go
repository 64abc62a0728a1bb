package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
)

// t0 is the probes' clock in tests; certificates are made around it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return t0 }

// serve listens on ip (port "" = any) and calls handle for each connection until the test ends.
func serve(t testing.TB, ip, port string, handle func(net.Conn)) *testserver.Server {
	t.Helper()
	return testserver.Serve(t, net.JoinHostPort(ip, firstNonEmpty(port, "0")), handle)
}

// tlsServer serves TLS with cfg after the optional plain-text pre phase (a STARTTLS server).
func tlsServer(t testing.TB, ip string, cfg *tls.Config, pre func(c net.Conn, r *bufio.Reader) error) *testserver.Server {
	return serve(t, ip, "", func(c net.Conn) { handleTLS(c, cfg, pre) })
}

func handleTLS(c net.Conn, cfg *tls.Config, pre func(c net.Conn, r *bufio.Reader) error) {
	br := bufio.NewReader(c)
	if pre != nil {
		if err := pre(c, br); err != nil {
			return
		}
	}
	tc := tls.Server(&bufConn{Conn: c, r: br}, cfg)
	if tc.Handshake() == nil {
		// Let the client finish reading before closing (TLS 1.3 tickets).
		_, _ = tc.Read(make([]byte, 1))
	}
}

// certCfg serves the leaf with chain.
func certCfg(leaf *testcerts.Cert, chain ...*testcerts.Cert) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{leaf.TLS(chain...)}}
}

// caModule is a module trusting pki's root via ca_file.
func caModule(t testing.TB, pki *testcerts.PKI) config.Module {
	t.Helper()
	f := false
	return config.Module{Timeout: model.Duration(5 * time.Second), TLSConfig: promconfig.TLSConfig{CAFile: writeFile(t, "ca.pem", pki.Root.PEM())}, CheckRevocation: &f}
}

// fakeResolver maps names to addresses.
type fakeResolver map[string][]string

func (r fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
