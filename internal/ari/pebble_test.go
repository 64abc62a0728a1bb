package ari

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	promconfig "github.com/prometheus/common/config"
	"golang.org/x/crypto/acme"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// pebbleBinary finds Pebble (go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1);
// the test is skipped without it, except in CI where a missing tool is a failure.
func pebbleBinary(t *testing.T) string {
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	if p := filepath.Join(gopath, "bin", "pebble"); fileExists(p) {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("pebble not installed (go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1)")
	}
	t.Skip("pebble not installed")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Profiles of the Pebble under test: Let's Encrypt's classic, shortlived (160 h) and
// tlsserver (45 days, the CA/B Forum's 47-day direction).
var pebbleProfiles = map[string]time.Duration{
	"classic":    90 * 24 * time.Hour,
	"shortlived": 160 * time.Hour,
	"tlsserver":  45 * 24 * time.Hour,
}

// startPebble runs Pebble on loopback with a TLS certificate made for the test and returns
// its directory URL, an HTTP client trusting it and the path of its root's PEM file.
func startPebble(t *testing.T) (string, *http.Client, string) {
	bin := pebbleBinary(t)
	dir := t.TempDir()
	pki := testcerts.NewPKI("Pebble listener", time.Now())
	srv := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	profiles := map[string]any{}
	for name, d := range pebbleProfiles {
		profiles[name] = map[string]any{"description": name, "validityPeriod": int(d / time.Second)}
	}
	port := freePort(t)
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + strconv.Itoa(port),
		"managementListenAddress": "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"certificate":             write("cert.pem", testcerts.Bundle(srv, pki.Intermediate)),
		"privateKey":              write("key.pem", srv.KeyPEM()),
		"httpPort":                freePort(t),
		"tlsPort":                 freePort(t),
		"keyAlgorithm":            "ecdsa",
		"profiles":                profiles,
	}})
	cmd := exec.Command(bin, "-config", write("pebble.json", cfg), "-strict=false")
	// Validation always succeeds: the test is about ARI, and nothing may leave loopback.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	log, err := os.Create(filepath.Join(dir, "pebble.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("pebble log:\n%s", out)
		}
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool()}}}
	directory := "https://127.0.0.1:" + strconv.Itoa(port) + "/dir"
	testwait.Until(t, func() error {
		resp, err := client.Get(directory)
		if err != nil {
			return fmt.Errorf("pebble did not come up: %w", err)
		}
		return resp.Body.Close()
	})
	return directory, client, write("root.pem", pki.Root.PEM())
}

// issue gets a certificate for name with the given profile from Pebble.
func issue(ctx context.Context, t *testing.T, c *acme.Client, name, profile string) [][]byte {
	t.Helper()
	order, err := c.AuthorizeOrder(ctx, acme.DomainIDs(name), acme.WithOrderIssuanceProfile(acme.ProfileName(profile)))
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	for _, u := range order.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" {
				if _, err := c.Accept(ctx, ch); err != nil {
					t.Fatalf("accept: %v", err)
				}
			}
		}
		if _, err := c.WaitAuthorization(ctx, u); err != nil {
			t.Fatalf("authorization: %v", err)
		}
	}
	if _, err := c.WaitOrder(ctx, order.URI); err != nil {
		t.Fatalf("order: %v", err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
	der, _, err := c.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	return der
}

// TestPebble: windows of certificates Pebble issued (90 days, 160 h, 45 days) lie ahead and
// match Pebble's rule; after revocation the window moves into the past. Pebble is a private
// CA: without ari.tls_config.ca_file its endpoint is an unknown authority.
func TestPebble(t *testing.T) {
	directory, httpClient, rootFile := startPebble(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	accountKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ac := &acme.Client{Key: accountKey, DirectoryURL: directory, HTTPClient: httpClient}
	if _, err := ac.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("register: %v", err)
	}
	var subs []subject
	ders := map[string][]byte{}
	for profile := range pebbleProfiles {
		name := profile + ".ari-test.example"
		der := issue(ctx, t, ac, name, profile)
		x, err := x509.ParseCertificate(der[0])
		if err != nil {
			t.Fatal(err)
		}
		c := certs.New(x)
		id, err := CertID(c)
		if err != nil {
			t.Fatal(err)
		}
		ders[profile] = der[0]
		subs = append(subs, subject{Cert: c, Lineage: name, Directory: directory, ID: id})
	}

	t0 := time.Now()
	clock := clockwork.NewFakeClockAt(t0)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	untrusted := newSource(func() []subject { return subs }, options{HTTPClient: &http.Client{Transport: newTransport(promconfig.TLSConfig{})}}, logger, clock)
	if st := untrusted.pass(ctx).status; len(st) != 1 || st[0].Up || st[0].Errors[reasonTLS] != 1 {
		t.Fatalf("status without ca_file: %+v", st)
	}
	src := newSource(func() []subject { return subs }, options{HTTPClient: &http.Client{Transport: newTransport(promconfig.TLSConfig{CAFile: rootFile})}}, logger, clock)
	snap := src.pass(ctx)
	if len(snap.status) != 1 || !snap.status[0].Up {
		t.Fatalf("status: %+v", snap.status)
	}
	for _, s := range subs {
		got, ok := snap.lookup(s.Cert)
		if !ok {
			t.Fatalf("%s: no window", s.Lineage)
		}
		// Pebble's rule (core.RenewalInfoSimple): a day either side of NotAfter − lifetime/3.
		nb, na := s.Cert.NotBefore, s.Cert.NotAfter
		ideal := na.Add(-na.Add(time.Second).Sub(nb) / 3)
		wantStart, wantEnd := ideal.Add(-24*time.Hour).Truncate(time.Millisecond), ideal.Add(24*time.Hour).Truncate(time.Millisecond)
		if !got.Start.Equal(wantStart) || !got.End.Equal(wantEnd) {
			t.Errorf("%s: window %s – %s, want %s – %s", s.Lineage, got.Start, got.End, wantStart, wantEnd)
		}
		// On time: the renewal point lies ahead, so nothing may alert.
		if !got.Start.After(t0) || !got.End.Before(na) {
			t.Errorf("%s: window %s – %s not ahead of now %s and before expiry %s", s.Lineage, got.Start, got.End, t0, na)
		}
	}

	// A mass revocation: the CA asks for replacement now.
	if err := ac.RevokeCert(ctx, nil, ders["classic"], acme.CRLReasonKeyCompromise); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	var revoked subject
	for _, s := range subs {
		if s.Lineage == "classic.ari-test.example" {
			revoked = s
		}
	}
	before, _ := snap.lookup(revoked.Cert)
	clock.Advance(time.Hour) // within Pebble's Retry-After (6 h): no request, old window
	snap = src.pass(ctx)
	if got, _ := snap.lookup(revoked.Cert); got != before {
		t.Fatalf("window changed within Retry-After: %+v", got)
	}
	clock.Advance(5 * time.Hour)
	snap = src.pass(ctx)
	got, _ := snap.lookup(revoked.Cert)
	if wall := time.Now(); !got.End.Before(wall) || !got.Start.Before(wall) {
		t.Fatalf("window after revocation %s – %s, want it in the past (before %s)", got.Start, got.End, wall)
	}
	for _, s := range subs {
		if s.Lineage == revoked.Lineage {
			continue
		}
		if w, _ := snap.lookup(s.Cert); !w.Start.After(t0) {
			t.Errorf("%s: window moved without revocation: %+v", s.Lineage, w)
		}
	}
}
