package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// CRLInfo is what a stored certificate revocation list says about its own freshness (RFC 5280
// 5.1.2.4, 5.1.2.5): who issued it, when it was published, and by when the issuer promised the
// next one. A relying party that checks revocation against it (nginx ssl_crl, OpenSSL, an
// ingress) refuses every certificate of that issuer once NextUpdate has passed. The revoked
// entries are counted, not kept: freshness is what the files source watches, and the count
// only tells an operator which list is which on /certificates.
type CRLInfo struct {
	// Issuer is the issuer's CN, else its full DN, as for certificates (the `issuer` label).
	Issuer     string
	ThisUpdate time.Time
	// NextUpdate is zero when the CRL has none (RFC 5280 requires it of conforming CAs).
	NextUpdate time.Time
	// Entries is the number of revoked certificates it lists.
	Entries int
}

// maxCRLs bounds the CRLs taken from one input: each is two series, and a file handed to a
// server as its CRL bundle holds one per CA of a few chains.
const maxCRLs = 100

// pemCRL is the PEM type of a CRL (RFC 7468 5).
const pemCRL = "X509 CRL"

// pemCRLStart begins every PEM CRL block: a PEM file without it (every certificate file) is not
// decoded a second time looking for CRLs.
var pemCRLStart = []byte("-----BEGIN " + pemCRL + "-----")

// DecodeCRLs returns the CRLs in data: its PEM "X509 CRL" blocks, beside any certificates, or
// data that is one DER CRL (a distribution point's download, *.crl). found reports whether data
// holds a CRL at all (a PEM CRL block, parsed or not, or DER that parses as one): Decode's
// ErrNoCertificate is then no error, since a CRL file holds no certificate. With PEM, the good
// CRLs are returned along with an error naming the bad blocks. Pure: bytes in, values out.
func DecodeCRLs(data []byte) (crls []CRLInfo, found bool, err error) {
	if !IsPEM(data) {
		if rl, err := x509.ParseRevocationList(data); err == nil {
			return []CRLInfo{crlInfo(rl)}, true, nil
		}
		return nil, false, nil // not a CRL: Decode says what it is not
	}
	if !bytes.Contains(data, pemCRLStart) {
		return nil, false, nil
	}
	var errs []error
	rest := data
	for i := 0; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != pemCRL {
			continue
		}
		found = true
		if len(crls) == maxCRLs {
			errs = append(errs, fmt.Errorf("more than %d CRLs", maxCRLs))
			break
		}
		rl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("PEM block %d (%s): %w", i, pemCRL, err))
			continue
		}
		crls = append(crls, crlInfo(rl))
	}
	return crls, found, errors.Join(errs...)
}

// IsPEM reports whether data is PEM text (holds a PEM block's start), as Decode and DecodeCRLs
// tell PEM from DER.
func IsPEM(data []byte) bool { return bytes.Contains(data, pemStart) }

func crlInfo(rl *x509.RevocationList) CRLInfo {
	issuer := rl.Issuer.CommonName
	if issuer == "" {
		issuer = rl.Issuer.String()
	}
	return CRLInfo{Issuer: intern(issuer), ThisUpdate: rl.ThisUpdate, NextUpdate: rl.NextUpdate, Entries: len(rl.RevokedCertificateEntries)}
}
