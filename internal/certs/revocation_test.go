package certs

import (
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

var revT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestParseOCSPStaple(t *testing.T) {
	pki := testcerts.NewPKI("OCSP", revT0)
	other := testcerts.NewPKI("Other", revT0)
	leaf := pki.Leaf(testcerts.Options{Now: revT0})
	this := revT0.Add(-time.Hour)
	good := testcerts.OCSP(leaf, pki.Intermediate, ocsp.Good, this, revT0.Add(time.Hour))
	revoked := testcerts.OCSP(leaf, pki.Intermediate, ocsp.Revoked, this, revT0.Add(time.Hour))
	unknown := testcerts.OCSP(leaf, pki.Intermediate, ocsp.Unknown, this, revT0.Add(time.Hour))
	for _, tc := range []struct {
		name   string
		der    []byte
		issuer *x509.Certificate
		want   *Revocation
		err    string
	}{
		{"good", good, pki.Intermediate.Cert, &Revocation{Method: MethodOCSPStaple, CheckedAt: this}, ""},
		{"revoked", revoked, pki.Intermediate.Cert, &Revocation{Method: MethodOCSPStaple, Revoked: true, CheckedAt: this}, ""},
		{"unknown", unknown, pki.Intermediate.Cert, nil, "status unknown"},
		{"wrong issuer", good, other.Intermediate.Cert, nil, "stapled OCSP response"},
		{"no issuer", good, nil, nil, "issuer unknown"},
		{"garbage", []byte("not DER"), pki.Intermediate.Cert, nil, "stapled OCSP response"},
	} {
		got, err := ParseOCSPStaple(tc.der, leaf.Cert, tc.issuer)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || *got != *tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestParseCRL(t *testing.T) {
	pki := testcerts.NewPKI("CRL", revT0)
	other := testcerts.NewPKI("Other", revT0)
	leaf := pki.Leaf(testcerts.Options{Now: revT0})
	this, next := revT0.Add(-time.Hour), revT0.Add(time.Hour)
	der := testcerts.CRL(pki.Intermediate, this, next, big.NewInt(-7), leaf.Cert.SerialNumber)
	pemCRL := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	for _, data := range [][]byte{der, pemCRL} {
		c, err := ParseCRL(data, pki.Intermediate.Cert)
		if err != nil {
			t.Fatal(err)
		}
		if !c.ThisUpdate.Equal(this) || !c.NextUpdate.Equal(next) {
			t.Errorf("updates %s %s", c.ThisUpdate, c.NextUpdate)
		}
		if got := c.Status(leaf.Cert); *got != (Revocation{Method: MethodCRL, Revoked: true, CheckedAt: this}) {
			t.Errorf("status %+v", got)
		}
		if c.Revoked(big.NewInt(7)) || !c.Revoked(big.NewInt(-7)) || c.Revoked(pki.Intermediate.Cert.SerialNumber) {
			t.Error("serial lookup")
		}
	}
	if _, err := ParseCRL(der, other.Intermediate.Cert); err == nil {
		t.Error("a CRL signed by another CA was accepted")
	}
	if _, err := ParseCRL(der, nil); err != errNoIssuer {
		t.Errorf("no issuer: %v", err)
	}
	if _, err := ParseCRL([]byte("garbage"), pki.Intermediate.Cert); err == nil || !strings.Contains(err.Error(), "CRL:") {
		t.Errorf("garbage: %v", err)
	}
}

func FuzzParseOCSPStaple(f *testing.F) {
	pki := testcerts.NewPKI("Fuzz", revT0)
	leaf := pki.Leaf(testcerts.Options{Now: revT0})
	f.Add(testcerts.OCSP(leaf, pki.Intermediate, ocsp.Good, revT0, revT0.Add(time.Hour)))
	f.Add(testcerts.OCSP(leaf, pki.Intermediate, ocsp.Revoked, revT0, revT0.Add(time.Hour)))
	f.Fuzz(func(t *testing.T, der []byte) {
		if r, err := ParseOCSPStaple(der, leaf.Cert, pki.Intermediate.Cert); (r == nil) == (err == nil) {
			t.Fatalf("result %v with error %v", r, err)
		}
	})
}

func FuzzParseCRL(f *testing.F) {
	pki := testcerts.NewPKI("Fuzz", revT0)
	der := testcerts.CRL(pki.Intermediate, revT0, revT0.Add(time.Hour), big.NewInt(42))
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCRL(data, pki.Intermediate.Cert)
		if (c == nil) == (err == nil) {
			t.Fatalf("result %v with error %v", c, err)
		}
		if c != nil {
			c.Revoked(big.NewInt(42))
		}
	})
}
