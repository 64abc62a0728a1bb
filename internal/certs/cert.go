// Package certs turns certificate bytes into Cert values and checks chains; it does no I/O.
package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
	"unique"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Cert is one parsed certificate with the fields every view (metrics, page, check) renders.
// It keeps only derived values, not the parsed certificate: a Cert lives as long as its file or
// probe result (100k of them for a large tree), and an *x509.Certificate costs kilobytes.
type Cert struct {
	Domain  string   `json:"domain"`
	Issuer  string   `json:"issuer"`
	Serial  string   `json:"serial"`
	Subject string   `json:"subject"`
	SANs    []string `json:"sans"`
	KeyType string   `json:"key_type"`
	SigAlg  string   `json:"signature_algorithm"`
	IsCA    bool     `json:"is_ca"`
	Staging bool     `json:"staging"`
	// cnDomain: Domain is the subject common name; dnsNames: how many of SANs are DNS names
	// (they come first). Together they give Names without the parsed certificate. Next to the
	// two bools, the four fit in one word (a Cert is kept per certificate of a tree).
	cnDomain bool
	dnsNames int32
	// EKU is the extended key usage set as cert_info's eku label writes it (ekuLabel).
	EKU string `json:"eku,omitempty"`
	// Alias is the Java keystore entry the certificate is in ("" outside a keystore): set by
	// the reader of the file (DecodeAliases), not by New.
	Alias     string    `json:"alias,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// AuthorityKeyID and SerialDER identify the certificate the way its CA does (RFC 9773 ARI):
	// the issuer's key identifier and the content octets of the DER serial number as signed.
	// They hold binary data, in strings so that they compare with == and equal AKIs share memory.
	AuthorityKeyID string `json:"-"`
	SerialDER      string `json:"-"`
}

// New derives a Cert from a parsed certificate.
func New(c *x509.Certificate) Cert {
	out := Cert{
		Issuer:         intern(c.Issuer.CommonName),
		Serial:         c.SerialNumber.Text(16),
		Subject:        c.Subject.String(),
		KeyType:        intern(keyType(c)),
		SigAlg:         c.SignatureAlgorithm.String(),
		IsCA:           c.IsCA,
		Staging:        isStagingIssuer(c),
		EKU:            intern(ekuLabel(c)),
		NotBefore:      c.NotBefore,
		NotAfter:       c.NotAfter,
		AuthorityKeyID: intern(string(c.AuthorityKeyId)),
		SerialDER:      serialDER(c.RawTBSCertificate),
		dnsNames:       int32(len(c.DNSNames)),
	}
	if out.Issuer == "" {
		out.Issuer = intern(c.Issuer.String())
	}
	if c.IsCA {
		// A CA is in the chain of each certificate it issued: one copy of its strings for the
		// 20,000 Secrets cert-manager wrote with the same intermediate.
		out.Subject, out.Serial, out.SerialDER = intern(out.Subject), intern(out.Serial), intern(out.SerialDER)
	}
	if n := len(c.DNSNames) + len(c.IPAddresses) + len(c.EmailAddresses) + len(c.URIs); n > 0 {
		out.SANs = make([]string, 0, n)
	}
	out.SANs = append(out.SANs, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out.SANs = append(out.SANs, ip.String())
	}
	out.SANs = append(out.SANs, c.EmailAddresses...)
	for _, u := range c.URIs {
		out.SANs = append(out.SANs, u.String())
	}
	switch {
	case c.Subject.CommonName != "":
		out.Domain, out.cnDomain = c.Subject.CommonName, true
		// The name once in memory, not three times (subject, CN, SAN): 6 MB at 100k.
		if cn, ok := strings.CutPrefix(out.Subject, "CN="); ok && cn == out.Domain {
			out.Domain = cn
		}
		if i := slices.Index(out.SANs[:out.dnsNames], out.Domain); i >= 0 {
			out.SANs[i] = out.Domain
		}
	case len(c.DNSNames) > 0:
		out.Domain = c.DNSNames[0]
	case len(c.IPAddresses) > 0:
		out.Domain = out.SANs[len(c.DNSNames)]
	}
	return out
}

// intern returns s sharing memory with the equal strings made recently: issuers, key types and
// AKIs repeat across thousands of certificates.
func intern(s string) string { return unique.Make(s).Value() }

// serialDER returns the content octets of serialNumber in a TBSCertificate:
// SEQUENCE { [0] EXPLICIT version OPTIONAL, serialNumber INTEGER, ... }, "" if unreadable.
func serialDER(tbs []byte) string {
	in := cryptobyte.String(tbs)
	var seq, serial cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) ||
		!seq.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!seq.ReadASN1(&serial, cbasn1.INTEGER) || len(serial) == 0 {
		return ""
	}
	return string(serial)
}

// Key identifies a certificate the way its CA does (RFC 9773): the issuer's key identifier
// and the serial number, wherever the certificate was seen.
type Key struct{ AKI, Serial string }

// Key returns the certificate's Key.
func (c Cert) Key() Key { return Key{c.AuthorityKeyID, c.SerialDER} }

// Lifetime is NotAfter − NotBefore.
func (c Cert) Lifetime() time.Duration { return c.NotAfter.Sub(c.NotBefore) }

// RenewalDue is when renewal should have happened by default: after two thirds of the lifetime,
// which is certbot's and most ACME clients' rule and holds for 6-day to 398-day certificates.
func (c Cert) RenewalDue() time.Time { return c.NotBefore.Add(c.Lifetime() * 2 / 3) }

// Names is the set of DNS names the certificate covers (SANs, else CN), lowercased.
func (c Cert) Names() []string {
	var out []string
	if c.dnsNames > 0 {
		for _, n := range c.SANs[:c.dnsNames] {
			out = append(out, strings.ToLower(n))
		}
		return out
	}
	if c.cnDomain {
		out = append(out, strings.ToLower(c.Domain))
	}
	return out
}

// keyType names the public key: rsa2048, ecdsa-p256, ed25519…
func keyType(c *x509.Certificate) string {
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
