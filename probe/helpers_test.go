package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// t0 is the probes' clock in tests; certificates are made around it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return t0 }

// server is a loopback TCP server running handle on every connection until the test ends.
type server struct {
	ln   net.Listener
	wg   sync.WaitGroup
	addr string
	port string
}

// serve listens on ip (port 0 = any) and calls handle for each connection in its own goroutine.
func serve(t testing.TB, ip, port string, handle func(net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, firstNonEmpty(port, "0")))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, addr: ln.Addr().String()}
	_, s.port, _ = net.SplitHostPort(s.addr)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// tlsServer serves TLS with cfg after the optional plain-text pre phase (a STARTTLS server).
func tlsServer(t testing.TB, ip string, cfg *tls.Config, pre func(c net.Conn, r *bufio.Reader) error) *server {
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
	return config.Module{Timeout: model.Duration(5 * time.Second), CAFile: writeFile(t, "ca.pem", pki.Root.PEM()), CheckRevocation: &f}
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
