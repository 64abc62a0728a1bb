package testcerts

import (
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"time"
)

// CrossSign re-issues c (same subject and key) signed by issuer, valid until notAfter: the
// cross-signed intermediate that servers often keep sending after the old root expired.
func CrossSign(c, issuer *Cert, notAfter time.Time) *Cert {
	tmpl := *c.Cert
	tmpl.SerialNumber = big.NewInt(serialSeq.Add(1))
	tmpl.NotAfter = notAfter
	tmpl.AuthorityKeyId = issuer.Cert.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, issuer.Cert, c.Key.Public(), issuer.Key)
	if err != nil {
		panic(err)
	}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return &Cert{Cert: x, DER: der, Key: c.Key}
}
