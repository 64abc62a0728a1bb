// Package certs turns certificate bytes into Cert values and checks chains; it does no I/O.
package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// Cert is one parsed certificate with the fields every view (metrics, page, check) renders.
type Cert struct {
	X509      *x509.Certificate `json:"-"`
	Domain    string            `json:"domain"`
	Issuer    string            `json:"issuer"`
	Serial    string            `json:"serial"`
	Subject   string            `json:"subject"`
	SANs      []string          `json:"sans"`
	KeyType   string            `json:"key_type"`
	SigAlg    string            `json:"signature_algorithm"`
	IsCA      bool              `json:"is_ca"`
	Staging   bool              `json:"staging"`
	NotBefore time.Time         `json:"not_before"`
	NotAfter  time.Time         `json:"not_after"`
}

// New derives a Cert from a parsed certificate.
func New(c *x509.Certificate) Cert {
	out := Cert{
		X509:      c,
		Issuer:    c.Issuer.CommonName,
		Serial:    c.SerialNumber.Text(16),
		Subject:   c.Subject.String(),
		KeyType:   KeyType(c),
		SigAlg:    c.SignatureAlgorithm.String(),
		IsCA:      c.IsCA,
		Staging:   IsStagingIssuer(c),
		NotBefore: c.NotBefore,
		NotAfter:  c.NotAfter,
	}
	if out.Issuer == "" {
		out.Issuer = c.Issuer.String()
	}
	out.SANs = append(out.SANs, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out.SANs = append(out.SANs, ip.String())
	}
	for _, e := range c.EmailAddresses {
		out.SANs = append(out.SANs, e)
	}
	for _, u := range c.URIs {
		out.SANs = append(out.SANs, u.String())
	}
	switch {
	case c.Subject.CommonName != "":
		out.Domain = c.Subject.CommonName
	case len(c.DNSNames) > 0:
		out.Domain = c.DNSNames[0]
	case len(c.IPAddresses) > 0:
		out.Domain = c.IPAddresses[0].String()
	}
	return out
}

// Lifetime is NotAfter − NotBefore.
func (c Cert) Lifetime() time.Duration { return c.NotAfter.Sub(c.NotBefore) }

// RenewalDue is when renewal should have happened by default: after two thirds of the lifetime,
// which is certbot's and most ACME clients' rule and holds for 6-day to 398-day certificates.
func (c Cert) RenewalDue() time.Time { return c.NotBefore.Add(c.Lifetime() * 2 / 3) }

// Names is the set of DNS names the certificate covers (SANs, else CN), lowercased.
func (c Cert) Names() []string {
	var out []string
	if len(c.X509.DNSNames) > 0 {
		for _, n := range c.X509.DNSNames {
			out = append(out, strings.ToLower(n))
		}
		return out
	}
	if c.X509.Subject.CommonName != "" {
		out = append(out, strings.ToLower(c.X509.Subject.CommonName))
	}
	return out
}

// KeyType names the public key: rsa2048, ecdsa-p256, ed25519…
func KeyType(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(k.Curve.Params().Name, "-", ""))
	case ed25519.PublicKey:
		return "ed25519"
	default:
		return strings.ToLower(c.PublicKeyAlgorithm.String())
	}
}

// stagingMarkers are issuer name fragments of CAs whose certificates no browser trusts:
// Let's Encrypt staging ("(STAGING) …", formerly "Fake LE …"), Pebble, and certbot's test CA.
var stagingMarkers = []string{"(staging)", "fake le ", "pebble", "happy hacker fake ca"}

// IsStagingIssuer reports whether the certificate comes from a known staging/test CA.
func IsStagingIssuer(c *x509.Certificate) bool {
	names := []string{strings.ToLower(c.Issuer.CommonName)}
	for _, o := range c.Issuer.Organization {
		names = append(names, strings.ToLower(o))
	}
	for _, n := range names {
		for _, m := range stagingMarkers {
			if strings.Contains(n+" ", m) {
				return true
			}
		}
	}
	return false
}
