package certs

import (
	"encoding/hex"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// TestNewDerivedFields: what the views need after the parsed certificate is dropped.
func TestNewDerivedFields(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Derived", now)
	for _, tc := range []struct {
		name              string
		opts              testcerts.Options
		domain            string
		sans, names       []string
		serialDER, keyTyp string
	}{
		{"SANs win over CN", testcerts.Options{CN: "CN.example", DNSNames: []string{"A.example", "b.example"}, IPs: []net.IP{net.IPv4(192, 0, 2, 1)}, Serial: big.NewInt(0x80)},
			"CN.example", []string{"A.example", "b.example", "192.0.2.1"}, []string{"a.example", "b.example"}, "0080", "ecdsa-p256"},
		{"CN only", testcerts.Options{CN: "Only.CN.example", Serial: big.NewInt(0x7f), Key: testcerts.ECDSA384},
			"Only.CN.example", nil, []string{"only.cn.example"}, "7f", "ecdsa-p384"},
		{"no CN", testcerts.Options{DNSNames: []string{"Www.example"}, IPs: []net.IP{net.IPv4(192, 0, 2, 7)}, Serial: big.NewInt(0x0102), Key: testcerts.Ed25519},
			"Www.example", []string{"Www.example", "192.0.2.7"}, []string{"www.example"}, "0102", "ed25519"},
	} {
		tc.opts.Now, tc.opts.Issuer = now, pki.Intermediate
		c := New(testcerts.New(tc.opts).Cert)
		if c.Domain != tc.domain || !slices.Equal(c.SANs, tc.sans) || !slices.Equal(c.Names(), tc.names) {
			t.Errorf("%s: domain %q sans %q names %q, want %q %q %q", tc.name, c.Domain, c.SANs, c.Names(), tc.domain, tc.sans, tc.names)
		}
		if got := hex.EncodeToString([]byte(c.SerialDER)); got != tc.serialDER {
			t.Errorf("%s: SerialDER %s, want %s", tc.name, got, tc.serialDER)
		}
		if c.AuthorityKeyID != string(pki.Intermediate.Cert.SubjectKeyId) || c.KeyType != tc.keyTyp || c.Issuer != "Derived Intermediate CA" {
			t.Errorf("%s: AKI %x, key type %q, issuer %q", tc.name, c.AuthorityKeyID, c.KeyType, c.Issuer)
		}
	}
}
