package certs

import (
	"crypto/x509"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

func TestVerifyReasons(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	pki := testcerts.NewPKI("Verify", now)
	leaf := pki.Leaf(testcerts.Options{CN: "ok.test", DNSNames: []string{"ok.test"}, Now: now})
	expired := pki.Leaf(testcerts.Options{NotBefore: now.Add(-100 * day), NotAfter: now.Add(-day)})
	future := pki.Leaf(testcerts.Options{NotBefore: now.Add(day), NotAfter: now.Add(90 * day)})
	// An intermediate that expires before its leaf, and one already expired.
	shortInter := testcerts.New(testcerts.Options{CN: "Short Intermediate", IsCA: true, Issuer: pki.Root, NotBefore: now.Add(-day), NotAfter: now.Add(10 * day)})
	shortLeaf := testcerts.New(testcerts.Options{Issuer: shortInter, NotBefore: now.Add(-day), NotAfter: now.Add(60 * day)})
	deadInter := testcerts.New(testcerts.Options{CN: "Dead Intermediate", IsCA: true, Issuer: pki.Root, NotBefore: now.Add(-100 * day), NotAfter: now.Add(-day)})
	deadLeaf := testcerts.New(testcerts.Options{Issuer: deadInter, NotBefore: now.Add(-2 * day), NotAfter: now.Add(60 * day)})
	selfSigned := testcerts.New(testcerts.Options{CN: "self.test", Now: now})
	other := testcerts.NewPKI("Other", now)
	otherLeaf := other.Leaf(testcerts.Options{Now: now})
	// A critical extension nobody understands: a verification failure of no known kind.
	odd := *leaf.Cert
	odd.UnhandledCriticalExtensions = []asn1.ObjectIdentifier{{1, 2, 3, 4}}

	x := func(cs ...*testcerts.Cert) []*x509.Certificate {
		var out []*x509.Certificate
		for _, c := range cs {
			out = append(out, c.Cert)
		}
		return out
	}
	tests := []struct {
		name   string
		chain  []*x509.Certificate
		dns    string
		reason string
		expiry time.Time
	}{
		{"ok", x(leaf, pki.Intermediate), "", ReasonOK, leaf.Cert.NotAfter},
		{"ok with root sent", x(leaf, pki.Intermediate, pki.Root), "", ReasonOK, leaf.Cert.NotAfter},
		{"intermediate expires first", x(shortLeaf, shortInter), "", ReasonOK, shortInter.Cert.NotAfter},
		{"wrong order", x(leaf, pki.Root, pki.Intermediate), "", ReasonWrongOrder, leaf.Cert.NotAfter},
		{"expired", x(expired, pki.Intermediate), "", ReasonExpired, expired.Cert.NotAfter},
		{"not yet valid", x(future, pki.Intermediate), "", ReasonNotYetValid, future.Cert.NotAfter},
		{"missing intermediate", x(leaf), "", ReasonIncompleteChain, leaf.Cert.NotAfter},
		{"expired intermediate", x(deadLeaf, deadInter), "", ReasonExpiredIntermediate, deadInter.Cert.NotAfter},
		{"unknown authority", x(otherLeaf, other.Intermediate, other.Root), "", ReasonUnknownAuthority, otherLeaf.Cert.NotAfter},
		{"self-signed", x(selfSigned), "", ReasonUnknownAuthority, selfSigned.Cert.NotAfter},
		{"hostname mismatch", x(leaf, pki.Intermediate), "other.test", ReasonHostnameMismatch, leaf.Cert.NotAfter},
		{"hostname match", x(leaf, pki.Intermediate), "ok.test", ReasonOK, leaf.Cert.NotAfter},
		{"other", []*x509.Certificate{&odd, pki.Intermediate.Cert}, "", ReasonOther, leaf.Cert.NotAfter},
		{"no certificate", nil, "", ReasonNoCertificate, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Verify(tc.chain, VerifyOptions{Roots: pki.Pool(), DNSName: tc.dns, Now: now})
			if r.Reason != tc.reason || !r.ChainExpiry.Equal(tc.expiry) {
				t.Errorf("reason %s (%s), expiry %v; want %s, %v", r.Reason, r.Error, r.ChainExpiry, tc.reason, tc.expiry)
			}
			if r.OK() != (tc.reason == ReasonOK) || (r.Error == "") != (tc.reason == ReasonOK) {
				t.Errorf("OK %v, error %q", r.OK(), r.Error)
			}
		})
	}
}
