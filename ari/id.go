package ari

import (
	"crypto/x509"
	"encoding/base64"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ID is RFC 9773's certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial),
// where serial is the content octets of the DER INTEGER (with its leading zero, if any).
func ID(keyIdentifier, serialDER []byte) string {
	return base64.RawURLEncoding.EncodeToString(keyIdentifier) + "." + base64.RawURLEncoding.EncodeToString(serialDER)
}

var (
	errNoAKI    = errors.New("certificate has no authority key identifier")
	errBadTBS   = errors.New("cannot read the serial number from the certificate")
	errNoSerial = errors.New("certificate has an empty serial number")
)

// CertID computes the identifier of c. The serial bytes are taken from the certificate's own
// encoding rather than re-encoded from the parsed number, so they are exactly what the CA signed.
func CertID(c *x509.Certificate) (string, error) {
	if len(c.AuthorityKeyId) == 0 {
		return "", errNoAKI
	}
	serial, err := serialBytes(c.RawTBSCertificate)
	if err != nil {
		return "", err
	}
	return ID(c.AuthorityKeyId, serial), nil
}

// serialBytes returns the content octets of serialNumber in a TBSCertificate:
// SEQUENCE { [0] EXPLICIT version OPTIONAL, serialNumber INTEGER, ... }.
func serialBytes(tbs []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, errBadTBS
	}
	if !seq.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errBadTBS
	}
	var serial cryptobyte.String
	if !seq.ReadASN1(&serial, cbasn1.INTEGER) {
		return nil, errBadTBS
	}
	if len(serial) == 0 {
		return nil, errNoSerial
	}
	return serial, nil
}
