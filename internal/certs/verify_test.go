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
	// PKI leaves name where their issuer is (AIA caIssuers), as public CAs' do; these do not.
	noURLLeaf := testcerts.New(testcerts.Options{Issuer: pki.Intermediate, Now: now})
	noURLOtherLeaf := testcerts.New(testcerts.Options{Issuer: other.Intermediate, Now: now})
	aia := []string{"http://ca.test/intermediate.der"}
	selfSignedAIA := testcerts.New(testcerts.Options{CN: "self.test", Now: now, IssuerURLs: aia})
	// A private CA issuing from its root, which the verification was not given (no ca_file),
	// and an intermediate (of an untrusted CA) that names its root's URL.
	private := testcerts.New(testcerts.Options{CN: "Private Root CA", IsCA: true, Now: now, NotAfter: now.Add(3650 * day)})
	privateLeaf := testcerts.New(testcerts.Options{Issuer: private, Now: now, NotAfter: now.Add(200 * day)})
	privateDead := testcerts.New(testcerts.Options{CN: "Private Dead Intermediate", IsCA: true, Issuer: private, NotBefore: now.Add(-100 * day), NotAfter: now.Add(-day)})
	privateDeadLeaf := testcerts.New(testcerts.Options{Issuer: privateDead, NotBefore: now.Add(-2 * day), NotAfter: now.Add(60 * day)})
	privateInter := testcerts.New(testcerts.Options{CN: "Private Intermediate", IsCA: true, Issuer: private, Now: now})
	privateInterLeaf := testcerts.New(testcerts.Options{Issuer: privateInter, Now: now})
	otherInterAIA := testcerts.New(testcerts.Options{CN: "Other AIA Intermediate", IsCA: true, Issuer: other.Root, Now: now, IssuerURLs: aia})
	otherAIAInterLeaf := testcerts.New(testcerts.Options{Issuer: otherInterAIA, Now: now, IssuerURLs: aia})
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
		// The issuer is missing: a leaf naming its issuer's URL lacks an intermediate that
		// exists; one naming none is the leaf of a CA the verification does not know.
		{"missing intermediate", x(leaf), "", ReasonIncompleteChain, leaf.Cert.NotAfter},
		{"missing intermediate, no issuer URL", x(noURLLeaf), "", ReasonUnknownAuthority, noURLLeaf.Cert.NotAfter},
		{"private CA leaf alone", x(privateLeaf), "", ReasonUnknownAuthority, privateLeaf.Cert.NotAfter},
		{"private CA leaf with its root", x(privateLeaf, private), "", ReasonUnknownAuthority, privateLeaf.Cert.NotAfter},
		{"untrusted CA's leaf alone with issuer URL", x(otherLeaf), "", ReasonIncompleteChain, otherLeaf.Cert.NotAfter},
		{"untrusted CA's leaf alone, no issuer URL", x(noURLOtherLeaf), "", ReasonUnknownAuthority, noURLOtherLeaf.Cert.NotAfter},
		// A stale or foreign intermediate is not the leaf's issuer: the leaf's is still missing.
		{"wrong intermediate", x(leaf, other.Intermediate), "", ReasonIncompleteChain, leaf.Cert.NotAfter},
		{"wrong intermediate, no issuer URL", x(noURLLeaf, other.Intermediate), "", ReasonUnknownAuthority, noURLLeaf.Cert.NotAfter},
		{"wrong expired intermediate", x(leaf, deadInter), "", ReasonIncompleteChain, deadInter.Cert.NotAfter},
		{"expired intermediate", x(deadLeaf, deadInter), "", ReasonExpiredIntermediate, deadInter.Cert.NotAfter},
		{"expired intermediate, untrusted root sent", x(privateDeadLeaf, privateDead, private), "", ReasonExpiredIntermediate, privateDead.Cert.NotAfter},
		// An expired intermediate off the leaf's path (a stale one left in the bundle) is not the
		// chain's: the complete private chain is still an unknown authority.
		{"stale expired intermediate off the path", x(privateInterLeaf, privateInter, privateDead), "", ReasonUnknownAuthority, privateDead.Cert.NotAfter},
		{"unknown authority", x(otherLeaf, other.Intermediate, other.Root), "", ReasonUnknownAuthority, otherLeaf.Cert.NotAfter},
		{"unknown authority, root not sent", x(otherLeaf, other.Intermediate), "", ReasonUnknownAuthority, otherLeaf.Cert.NotAfter},
		// An intermediate's issuer URL points at its root: the chain is complete, the root unknown.
		{"unknown root, intermediate names its URL", x(otherAIAInterLeaf, otherInterAIA), "", ReasonUnknownAuthority, otherInterAIA.Cert.NotAfter},
		{"self-signed", x(selfSigned), "", ReasonUnknownAuthority, selfSigned.Cert.NotAfter},
		{"self-signed with issuer URL", x(selfSignedAIA), "", ReasonUnknownAuthority, selfSignedAIA.Cert.NotAfter},
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
