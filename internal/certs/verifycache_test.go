package certs

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// TestVerifyCache: a cached result is the one VerifyPath gives at every step, across the
// leaf's expiry, another name, other roots and a clock set back; and a repeat is a hit.
func TestVerifyCache(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Cache", now)
	// Expires in 30 minutes: inside the entries' hour, so only the validity bound ends the entry.
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"a.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * time.Minute)})
	other := testcerts.NewPKI("Other", now)
	parse := func() []*x509.Certificate {
		var chain []*x509.Certificate
		for _, der := range [][]byte{leaf.DER, pki.Intermediate.DER} {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			chain = append(chain, c)
		}
		return chain
	}

	// The same pool each time, as tlsfiles hands out while the CA file is unchanged.
	pool, otherPool := pki.Pool(), other.Pool()
	var c VerifyCache
	first := parse()
	if r, _ := c.VerifyPath(first, VerifyOptions{Roots: pool, DNSName: "a.test", Now: now}); r.Reason != ReasonOK {
		t.Fatalf("first: %+v", r)
	}
	steps := []struct {
		name   string
		at     time.Duration
		dns    string
		roots  *x509.CertPool
		reason string
		hit    bool
	}{
		{"repeat", 10 * time.Minute, "a.test", pool, ReasonOK, true},
		{"another name", 10 * time.Minute, "b.test", pool, ReasonHostnameMismatch, false},
		{"other roots", 10 * time.Minute, "a.test", otherPool, ReasonUnknownAuthority, false},
		{"clock set back before the entry", -2 * time.Hour, "a.test", pool, ReasonNotYetValid, false},
		{"past the leaf's expiry", 31 * time.Minute, "a.test", pool, ReasonExpired, false},
	}
	for _, s := range steps {
		chain := parse()
		o := VerifyOptions{Roots: s.roots, DNSName: s.dns, Now: now.Add(s.at)}
		got, path := c.VerifyPath(chain, o)
		want, _ := VerifyPath(chain, o)
		if got != want {
			t.Errorf("%s: cached %+v, want %+v", s.name, got, want)
		}
		if got.Reason != s.reason {
			t.Errorf("%s: reason %s, want %s", s.name, got.Reason, s.reason)
		}
		// A hit returns the path verified for the first parse of the chain.
		if hit := path != nil && path[0] == first[0]; hit != s.hit {
			t.Errorf("%s: hit %t, want %t", s.name, hit, s.hit)
		}
	}
}
