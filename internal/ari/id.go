package ari

import (
	"encoding/base64"
	"errors"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// iD is RFC 9773's certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial),
// where serial is the content octets of the DER INTEGER (with its leading zero, if any).
func iD(keyIdentifier, serialDER []byte) string {
	return base64.RawURLEncoding.EncodeToString(keyIdentifier) + "." + base64.RawURLEncoding.EncodeToString(serialDER)
}

var (
	errNoAKI    = errors.New("certificate has no authority key identifier")
	errNoSerial = errors.New("cannot read the serial number from the certificate")
)

// CertID computes the identifier of c. The serial bytes are the certificate's own encoding
// (certs.Cert.SerialDER) rather than re-encoded from the parsed number, so they are exactly what
// the CA signed.
func CertID(c certs.Cert) (string, error) {
	if c.AuthorityKeyID == "" {
		return "", errNoAKI
	}
	if c.SerialDER == "" {
		return "", errNoSerial
	}
	return iD([]byte(c.AuthorityKeyID), []byte(c.SerialDER)), nil
}
