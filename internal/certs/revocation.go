package certs

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Revocation methods, the `method` label of cert_revoked.
const (
	MethodOCSPStaple = "ocsp_staple"
	MethodCRL        = "crl"
)

// errNoIssuer says a revocation answer cannot be trusted without the issuer that signed it.
var errNoIssuer = errors.New("issuer unknown, cannot check the signature")

// ParseOCSPStaple reads a stapled OCSP response about leaf and checks that issuer (or a
// responder it delegated to) signed it. CheckedAt is the response's ThisUpdate: when the CA
// established the status, so a server stapling a stale answer shows as such.
func ParseOCSPStaple(der []byte, leaf, issuer *x509.Certificate) (*Revocation, error) {
	if issuer == nil {
		return nil, errNoIssuer
	}
	r, err := ocsp.ParseResponseForCert(der, leaf, issuer)
	if err != nil {
		return nil, fmt.Errorf("stapled OCSP response: %w", err)
	}
	switch r.Status {
	case ocsp.Good, ocsp.Revoked:
		return &Revocation{Method: MethodOCSPStaple, Revoked: r.Status == ocsp.Revoked, CheckedAt: r.ThisUpdate}, nil
	default:
		return nil, errors.New("stapled OCSP response: status unknown")
	}
}

// CRL is a parsed certificate revocation list whose signature has been checked.
type CRL struct {
	ThisUpdate time.Time
	NextUpdate time.Time
	revoked    map[string]struct{}
}

// ParseCRL reads a DER (or PEM "X509 CRL") revocation list and checks issuer signed it.
func ParseCRL(data []byte, issuer *x509.Certificate) (*CRL, error) {
	if issuer == nil {
		return nil, errNoIssuer
	}
	if b, _ := pem.Decode(data); b != nil && b.Type == "X509 CRL" {
		data = b.Bytes
	}
	rl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("CRL: %w", err)
	}
	if err := rl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("CRL: %w", err)
	}
	c := &CRL{ThisUpdate: rl.ThisUpdate, NextUpdate: rl.NextUpdate, revoked: make(map[string]struct{}, len(rl.RevokedCertificateEntries))}
	for _, e := range rl.RevokedCertificateEntries {
		if e.SerialNumber != nil {
			c.revoked[e.SerialNumber.Text(16)] = struct{}{}
		}
	}
	return c, nil
}

// Revoked reports whether the list names serial.
func (c *CRL) Revoked(serial *big.Int) bool {
	_, ok := c.revoked[serial.Text(16)]
	return ok
}

// Status is the leaf's revocation as this list establishes it.
func (c *CRL) Status(leaf *x509.Certificate) *Revocation {
	return &Revocation{Method: MethodCRL, Revoked: c.Revoked(leaf.SerialNumber), CheckedAt: c.ThisUpdate}
}
