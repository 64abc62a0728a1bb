package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

func serials(cs []*x509.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.SerialNumber.Text(16))
	}
	return out
}

func TestDecode(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Decode", now)
	leaf := pki.Leaf(testcerts.Options{Now: now})
	l, i, r := leaf.Cert.SerialNumber.Text(16), pki.Intermediate.Cert.SerialNumber.Text(16), pki.Root.Cert.SerialNumber.Text(16)
	full := testcerts.Bundle(leaf, pki.Intermediate)
	tests := []struct {
		name     string
		data     []byte
		password string
		want     []string
		err      error // nil: no error; errAny: some error
	}{
		{"pem bundle", full, "", []string{l, i}, nil},
		{"pem with key and text around", slices.Concat([]byte("subject=...\n"), leaf.KeyPEM(), full, []byte("trailing\n")), "", []string{l, i}, nil},
		{"x509 certificate block type", pem.EncodeToMemory(&pem.Block{Type: "X509 CERTIFICATE", Bytes: leaf.DER}), "", []string{l}, nil},
		{"crlf line ends", bytes.ReplaceAll(full, []byte("\n"), []byte("\r\n")), "", []string{l, i}, nil},
		{"der", leaf.DER, "", []string{l}, nil},
		{"concatenated der", slices.Concat(leaf.DER, pki.Intermediate.DER), "", []string{l, i}, nil},
		{"pkcs12 key store", leaf.PKCS12("pw", pki.Intermediate, pki.Root), "pw", []string{l, i, r}, nil},
		{"pkcs12 trust store", testcerts.TrustStore("pw", pki.Root, pki.Intermediate), "pw", []string{r, i}, nil},
		{"pkcs12 wrong password", leaf.PKCS12("pw"), "nope", nil, ErrPassword},
		{"pkcs12 asking for 8 million iterations", costlyPKCS12(t, leaf), "pw", nil, errTooCostly},
		{"empty", nil, "", nil, ErrEmpty},
		{"whitespace", []byte(" \n\t\n"), "", nil, ErrEmpty},
		{"garbage", []byte("not a certificate"), "", nil, ErrNoCertificate},
		{"key only", leaf.KeyPEM(), "", nil, ErrKeyOnly},
		{"truncated second block", full[:len(full)-40], "", []string{l}, errTruncated},
		{"truncated only block", leaf.PEM()[:100], "", nil, errTruncated},
		{"corrupt block among good ones", slices.Concat(leaf.PEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), pki.Root.PEM()), "", []string{l, r}, errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.data, tc.password)
			if !slices.Equal(serials(got), tc.want) {
				t.Errorf("serials %v, want %v", serials(got), tc.want)
			}
			switch {
			case tc.err == nil && err != nil, tc.err != nil && err == nil:
				t.Errorf("err %v, want %v", err, tc.err)
			case tc.err != nil && tc.err != errAny && !errors.Is(err, tc.err):
				t.Errorf("err %v, want %v", err, tc.err)
			}
		})
	}
}

var errAny = errors.New("any error")

// costlyPKCS12 encodes leaf with 65,536 iterations, then patches every such count (INTEGER
// 0x010000) to 0x7fffff, which keeps all lengths: a hostile file asking for 8M iterations.
func costlyPKCS12(t *testing.T, leaf *testcerts.Cert) []byte {
	data, err := pkcs12.Modern.WithIterations(1<<16).Encode(leaf.Key, leaf.Cert, nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	patched := bytes.ReplaceAll(data, []byte{0x02, 0x03, 0x01, 0x00, 0x00}, []byte{0x02, 0x03, 0x7f, 0xff, 0xff})
	if bytes.Equal(patched, data) {
		t.Fatal("no iteration count found to patch")
	}
	return patched
}

// TestDecodeCABundle: a 150-certificate bundle comes out complete and in order, and so does
// the system's CA bundle when there is one (checked against a plain block-by-block parse).
func TestDecodeCABundle(t *testing.T) {
	now := time.Now()
	var bundle []byte
	var want []string
	for n := 0; n < 150; n++ {
		c := testcerts.New(testcerts.Options{CN: "Bundle CA", IsCA: true, Now: now})
		bundle = append(bundle, c.PEM()...)
		bundle = append(bundle, "# comment between certificates\n"...)
		want = append(want, c.Cert.SerialNumber.Text(16))
	}
	got, err := Decode(bundle, "")
	if err != nil || !slices.Equal(serials(got), want) {
		t.Fatalf("generated bundle: %d certificates, err %v", len(got), err)
	}

	sys, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skip("no system CA bundle:", err)
	}
	var ref []*x509.Certificate
	for rest := sys; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		ref = append(ref, c)
	}
	got, err = Decode(sys, "")
	if err != nil || len(got) != len(ref) || len(got) < 100 {
		t.Fatalf("system bundle: %d certificates (want %d), err %v", len(got), len(ref), err)
	}
	for k := range ref {
		if !got[k].Equal(ref[k]) {
			t.Fatalf("certificate %d differs", k)
		}
	}
	t.Logf("system bundle: %d certificates", len(got))
}

func FuzzDecode(f *testing.F) {
	now := time.Now()
	pki := testcerts.NewPKI("Fuzz", now)
	leaf := pki.Leaf(testcerts.Options{Now: now})
	f.Add(testcerts.Bundle(leaf, pki.Intermediate), "")
	f.Add(leaf.DER, "")
	f.Add(leaf.PKCS12("pw", pki.Intermediate), "pw")
	f.Add(testcerts.JKS("pw", testcerts.JKSEntry{Alias: "a", Key: true, Chain: []*testcerts.Cert{leaf}}), "pw")
	f.Add(leaf.KeyPEM(), "")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB"), "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		got, err := Decode(data, password)
		if len(got) > maxCerts {
			t.Fatalf("%d certificates", len(got))
		}
		for _, c := range got {
			if c == nil {
				t.Fatal("nil certificate")
			}
			New(c) // every decoded certificate must be renderable
		}
		if len(got) == 0 && err == nil {
			t.Fatal("no certificate and no error")
		}
	})
}

func FuzzPublicKeyOf(f *testing.F) {
	f.Add(testcerts.New(testcerts.Options{}).KeyPEM())
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if pub, err := PublicKeyOf(data); (pub == nil) == (err == nil) {
			t.Fatalf("pub %v, err %v", pub, err)
		}
	})
}

func TestPublicKeyOf(t *testing.T) {
	leaf := testcerts.New(testcerts.Options{Key: testcerts.RSA2048})
	other := testcerts.New(testcerts.Options{Key: testcerts.Ed25519})
	ec := testcerts.New(testcerts.Options{})
	sec1, err := x509.MarshalECPrivateKey(ec.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(leaf.Key.(*rsa.PrivateKey))
	for _, tc := range []struct {
		name  string
		key   []byte
		cert  *testcerts.Cert
		match bool
	}{
		{"rsa pkcs8", leaf.KeyPEM(), leaf, true},
		{"ed25519 pkcs8", other.KeyPEM(), other, true},
		{"rsa pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1}), leaf, true},
		{"ecdsa sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ec, true},
		{"mismatch", other.KeyPEM(), leaf, false},
		{"ecdsa pkcs8 after a certificate", append(ec.PEM(), ec.KeyPEM()...), ec, true},
	} {
		pub, err := PublicKeyOf(tc.key)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := KeyMatches(tc.cert.Cert, pub); got != tc.match {
			t.Errorf("%s: match %v, want %v", tc.name, got, tc.match)
		}
	}
	if _, err := PublicKeyOf(leaf.PEM()); !errors.Is(err, errNoKey) {
		t.Errorf("certificate only: %v, want ErrNoKey", err)
	}
}

// TestDecodeReason: the reasons the files and Kubernetes sources report for bytes that are not
// certificates, from what Decode returns for them.
func TestDecodeReason(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{nil, "empty"},
		{[]byte("not a certificate"), "parse"},
		{[]byte("-----BEGIN CERTIFICATE-----\nAAAA"), "parse"},
	} {
		_, err := Decode(tc.data, "")
		if err == nil {
			t.Fatalf("Decode(%q): no error", tc.data)
		}
		if got := DecodeReason(err); got != tc.want {
			t.Errorf("DecodeReason(Decode(%q)) = %q, want %q", tc.data, got, tc.want)
		}
	}
	if got := DecodeReason(fmt.Errorf("x: %w", ErrPassword)); got != "password" {
		t.Errorf("wrapped ErrPassword: %q", got)
	}
}
