package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Decode errors, classified for the `reason` label.
var (
	ErrEmpty     = errors.New("empty file")
	ErrTruncated = errors.New("truncated PEM block")
	ErrNoCert    = errors.New("no certificate found")
	ErrPassword  = errors.New("PKCS#12: wrong or missing password")
)

// MaxCerts bounds how many certificates one input may yield, so a hostile file cannot make
// the exporter hold millions of series.
const MaxCerts = 10000

var pemStart = []byte("-----BEGIN ")

// Decode returns every certificate in data, which may be PEM (any number of blocks; non
// certificate blocks such as keys are skipped unparsed), DER (one or concatenated), or PKCS#12
// (opened with password). With PEM, the good certificates are returned along with an error
// about the bad blocks, so one broken block does not hide the others.
func Decode(data []byte, password string) ([]*x509.Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEmpty
	}
	if bytes.Contains(data, pemStart) {
		return decodePEM(data)
	}
	if certs, err := x509.ParseCertificates(data); err == nil && len(certs) > 0 {
		return limit(certs)
	}
	return decodePKCS12(data, password)
}

func decodePEM(data []byte) ([]*x509.Certificate, error) {
	var (
		out  []*x509.Certificate
		errs []error
	)
	rest := data
	for i := 0; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" && block.Type != "X509 CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("PEM block %d: %w", i, err))
			continue
		}
		out = append(out, c)
		if len(out) > MaxCerts {
			return out[:MaxCerts], fmt.Errorf("more than %d certificates", MaxCerts)
		}
	}
	if bytes.Contains(rest, pemStart) {
		errs = append(errs, ErrTruncated)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, ErrNoCert)
	}
	return out, errors.Join(errs...)
}

func decodePKCS12(data []byte, password string) ([]*x509.Certificate, error) {
	// A trust store holds only certificates; a key store holds a key, its certificate and chain.
	if certs, err := pkcs12.DecodeTrustStore(data, password); err == nil && len(certs) > 0 {
		return limit(certs)
	}
	_, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, ErrPassword
		}
		return nil, ErrNoCert
	}
	return limit(append([]*x509.Certificate{leaf}, chain...))
}

func limit(c []*x509.Certificate) ([]*x509.Certificate, error) {
	if len(c) > MaxCerts {
		return c[:MaxCerts], fmt.Errorf("more than %d certificates", MaxCerts)
	}
	return c, nil
}
