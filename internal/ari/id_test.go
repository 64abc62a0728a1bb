package ari

import (
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

func mustHex(t *testing.T, colons string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(colons, ":", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIDRFCExample is RFC 9773 §4.1's example.
func TestIDRFCExample(t *testing.T) {
	aki := mustHex(t, "69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4")
	serial := mustHex(t, "00:87:65:43:21")
	if got, want := iD(aki, serial), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"; got != want {
		t.Fatalf("ID = %q, want %q", got, want)
	}
}

// TestCertID checks that the serial part is the DER content octets (leading zero kept when the
// high bit is set) taken from real certificates, and the AKI part is the issuer's key ID.
func TestCertID(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("ID", now)
	aki := base64.RawURLEncoding.EncodeToString(pki.Intermediate.Cert.SubjectKeyId)
	for _, tc := range []struct {
		serial *big.Int
		want   string
	}{
		{big.NewInt(0x87654321), "AIdlQyE"}, // the RFC's serial
		{big.NewInt(0x7f), "fw"},
		{big.NewInt(0x80), "AIA"},
		{new(big.Int).SetBytes(mustHex(t, "fa:1c:a5:7e:00:00:00:00:00:00:00:00:00:00:00:00:00:01")), "APocpX4AAAAAAAAAAAAAAAAAAQ"},
	} {
		leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"a.example"}, Now: now, Serial: tc.serial})
		got, err := CertID(certs.New(leaf.Cert))
		if err != nil {
			t.Fatal(err)
		}
		if want := aki + "." + tc.want; got != want {
			t.Errorf("serial %x: CertID = %q, want %q", tc.serial, got, want)
		}
	}
	self := testcerts.New(testcerts.Options{CN: "self", Now: now})
	if _, err := CertID(certs.New(self.Cert)); err != errNoAKI {
		t.Errorf("self-signed without AKI: err = %v, want %v", err, errNoAKI)
	}
}
