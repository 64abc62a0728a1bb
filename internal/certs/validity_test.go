package certs

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// The steps of ballot SC-081 at their boundaries: a step applies from its first second
// (midnight UTC, "on or after"), the previous one until the second before.
func TestMaxValidity(t *testing.T) {
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		notBefore time.Time
		days      int
	}{
		{d(2020, time.September, 1), 398},
		{d(2026, time.March, 15).Add(-time.Second), 398},
		{d(2026, time.March, 15), 200},
		// The same instant in another zone is judged alike.
		{d(2026, time.March, 15).In(time.FixedZone("UTC-5", -5*3600)), 200},
		{d(2026, time.March, 14).Add(23*time.Hour + 59*time.Minute).In(time.FixedZone("UTC+1", 3600)), 398},
		{d(2027, time.March, 15).Add(-time.Second), 200},
		{d(2027, time.March, 15), 100},
		{d(2029, time.March, 15).Add(-time.Second), 100},
		{d(2029, time.March, 15), 47},
		{d(2040, time.January, 1), 47},
		{time.Time{}, 398},
	}
	for _, tt := range tests {
		if got := MaxValidity(tt.notBefore); got != time.Duration(tt.days)*24*time.Hour {
			t.Errorf("MaxValidity(%s) = %v, want %d days", tt.notBefore, got, tt.days)
		}
	}
}

// The Validity Period counts NotBefore through NotAfter inclusive: NotAfter = NotBefore + N days
// − 1 s is exactly N days, one second more is N days and a second, which is N+1 days.
func TestExceedsMaxValidity(t *testing.T) {
	day := 24 * time.Hour
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name      string
		notBefore time.Time
		life      time.Duration // NotAfter − NotBefore
		days      int
		exceeds   bool
	}{
		{"398 days before the ballot", at("2026-03-14T23:59:59Z"), 398*day - time.Second, 398, false},
		{"398 days and a second before the ballot", at("2026-03-14T23:59:59Z"), 398 * day, 399, true},
		{"398 days from the first step", at("2026-03-15T00:00:00Z"), 398*day - time.Second, 398, true},
		{"200 days from the first step", at("2026-03-15T00:00:00Z"), 200*day - time.Second, 200, false},
		{"200 days and a second", at("2026-03-15T00:00:00Z"), 200 * day, 201, true},
		{"Let's Encrypt's 90 days", at("2026-12-01T10:00:00Z"), 90*day - time.Second, 90, false},
		{"200 days on the last second of the step", at("2027-03-14T23:59:59Z"), 200*day - time.Second, 200, false},
		{"200 days from the second step", at("2027-03-15T00:00:00Z"), 200*day - time.Second, 200, true},
		{"100 days from the second step", at("2027-03-15T00:00:00Z"), 100*day - time.Second, 100, false},
		{"100 days from the last step", at("2029-03-15T00:00:00Z"), 100*day - time.Second, 100, true},
		{"47 days from the last step", at("2029-03-15T00:00:00Z"), 47*day - time.Second, 47, false},
		{"47 days and a second", at("2029-03-15T00:00:00Z"), 47 * day, 48, true},
		{"six-day short-lived", at("2029-06-01T00:00:00Z"), 160 * time.Hour, 7, false},
	}
	for _, tt := range tests {
		c := Cert{NotBefore: tt.notBefore, NotAfter: tt.notBefore.Add(tt.life)}
		if got := c.ValidityDays(); got != tt.days {
			t.Errorf("%s: ValidityDays() = %d, want %d", tt.name, got, tt.days)
		}
		if got := c.ExceedsMaxValidity(); got != tt.exceeds {
			t.Errorf("%s: ExceedsMaxValidity() = %v, want %v", tt.name, got, tt.exceeds)
		}
	}
}

// A leaf is flagged only when it is publicly trusted (its chain verified against the system
// roots) and exceeds the limit; a CA-first file has no leaf.
func TestViolationsMaxValidity(t *testing.T) {
	nb := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)
	long := Cert{Domain: "long.test", NotBefore: nb, NotAfter: nb.Add(398*24*time.Hour - time.Second)}
	short := Cert{Domain: "short.test", NotBefore: nb, NotAfter: nb.Add(90*24*time.Hour - time.Second)}
	ca := long
	ca.IsCA = true
	public := VerifyResult{Reason: ReasonOK, Public: true}
	tests := []struct {
		name  string
		chain Chain
		want  []string
	}{
		{"public and too long", Chain{Certs: []Cert{long}, Verify: public}, []string{PolicyMaxValidity}},
		{"public, misordered, too long", Chain{Certs: []Cert{long}, Verify: VerifyResult{Reason: ReasonWrongOrder, Public: true}}, []string{PolicyMaxValidity}},
		{"public and short", Chain{Certs: []Cert{short}, Verify: public}, nil},
		{"private CA", Chain{Certs: []Cert{long}, Verify: VerifyResult{Reason: ReasonOK}}, nil},
		{"does not verify", Chain{Certs: []Cert{long}, Verify: VerifyResult{Reason: ReasonUnknownAuthority}}, nil},
		{"CA bundle", Chain{Certs: []Cert{ca}, Verify: public}, nil},
		{"no certificate", Chain{}, nil},
	}
	for _, tt := range tests {
		if got := tt.chain.Violations(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Violations() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Public is set for a chain verified against the system roots only. The system roots are read
// once per process, so the true case runs in a child process whose SSL_CERT_FILE (which Go reads
// on Linux as the system roots) holds a test root.
func TestVerifyPublic(t *testing.T) {
	if path := os.Getenv("CERTS_TEST_PUBLIC_CHAIN"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		xs, err := Decode(data, "")
		if err != nil {
			t.Fatal(err)
		}
		r := Verify(xs, VerifyOptions{Now: time.Now()})
		if !r.OK() || !r.Public {
			t.Fatalf("with the test root as a system root: %+v, want ok and public", r)
		}
		return
	}
	now := time.Now()
	pki := testcerts.NewPKI("Public", now)
	leaf := pki.Leaf(testcerts.Options{CN: "public.test", Now: now})
	xs := []*x509.Certificate{leaf.Cert, pki.Intermediate.Cert}
	if r := Verify(xs, VerifyOptions{Roots: pki.Pool(), Now: now}); !r.OK() || r.Public {
		t.Errorf("against ca_file roots: %+v, want ok and not public", r)
	}
	dir, empty := t.TempDir(), t.TempDir()
	roots, chain := filepath.Join(dir, "roots.pem"), filepath.Join(dir, "chain.pem")
	for p, b := range map[string][]byte{roots: pki.Root.PEM(), chain: testcerts.Bundle(leaf, pki.Intermediate)} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestVerifyPublic$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+roots, "SSL_CERT_DIR="+empty, "CERTS_TEST_PUBLIC_CHAIN="+chain)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestVerifyPublic") {
		t.Fatalf("child with the test root as the system roots: %v\n%s", err, out)
	}
}

// A client certificate needs clientAuth, or no restriction at all; serverAuth alone (the eku
// label's empty value, Let's Encrypt's classic profile since 2026-02-11) is refused.
func TestViolationsClientAuth(t *testing.T) {
	nb := time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)
	leaf := func(eku string) Cert {
		return Cert{Domain: "client.test", EKU: eku, NotBefore: nb, NotAfter: nb.Add(90*24*time.Hour - time.Second)}
	}
	ca := leaf("")
	ca.IsCA = true
	client := func(c Cert) Chain { return Chain{Certs: []Cert{c}, Usage: UsageClient} }
	tests := []struct {
		name  string
		chain Chain
		want  []string
	}{
		{"server_auth only", client(leaf("")), []string{PolicyClientAuth}},
		{"client_auth", client(leaf("server_auth,client_auth")), nil},
		{"client_auth alone", client(leaf("client_auth")), nil},
		{"no extension", client(leaf("any")), nil},
		{"anyExtendedKeyUsage among others", client(leaf("server_auth,any")), nil},
		{"email_protection and unknown", client(leaf("email_protection,other")), []string{PolicyClientAuth}},
		{"server usage", Chain{Certs: []Cert{leaf("")}}, nil},
		{"CA bundle", client(ca), nil},
		{"public, too long and no clientAuth", Chain{Certs: []Cert{{EKU: "", NotBefore: nb, NotAfter: nb.Add(365 * 24 * time.Hour)}},
			Usage: UsageClient, Verify: VerifyResult{Reason: ReasonOK, Public: true}}, []string{PolicyMaxValidity, PolicyClientAuth}},
	}
	for _, tt := range tests {
		if got := tt.chain.Violations(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Violations() = %q, want %q", tt.name, got, tt.want)
		}
	}
}
