package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Decode errors, classified for the `reason` label.
var (
	ErrEmpty     = errors.New("empty file")
	errTruncated = errors.New("truncated PEM block")
	// ErrNoCertificate: nothing decoded as a certificate (nor a key). A CRL file says so too;
	// DecodeCRLs tells it apart.
	ErrNoCertificate = errors.New("no certificate found")
	ErrPassword      = errors.New("PKCS#12: wrong or missing password")
	// ErrKeyOnly: PEM holding private keys and no certificate, e.g. a key matched by a broad glob.
	ErrKeyOnly = errors.New("private key only, no certificate")
)

// DecodeReason is the `reason` label of a failed Decode, the same for every source that reads
// certificate bytes (files, Kubernetes Secrets): "empty", "password" or "parse".
func DecodeReason(err error) string {
	switch {
	case errors.Is(err, ErrEmpty):
		return "empty"
	case errors.Is(err, ErrPassword), errors.Is(err, errJKSPassword):
		return "password"
	}
	return "parse"
}

// maxCerts bounds how many certificates one input may yield, so a hostile file cannot make
// the exporter hold millions of series.
const maxCerts = 10000

var pemStart = []byte("-----BEGIN ")

// Decode returns every certificate in data, which may be PEM (any number of blocks; non
// certificate blocks such as keys are skipped unparsed), DER (one or concatenated), PKCS#12 or
// a JKS Java keystore (both opened with password). With PEM and JKS, the good certificates are
// returned along with an error about the bad blocks or entries, so one broken block does not
// hide the others.
func Decode(data []byte, password string) ([]*x509.Certificate, error) {
	xs, _, err := DecodeAliases(data, password)
	return xs, err
}

// DecodeAliases is Decode that also returns, for a Java keystore, which entry each certificate
// is in; ks.Aliases is nil for the other formats.
func DecodeAliases(data []byte, password string) (certs []*x509.Certificate, ks Keystore, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Keystore{}, ErrEmpty
	}
	if isJavaKeystore(data) {
		return decodeJKS(data, password)
	}
	certs, err = decodeOther(data, password)
	return certs, Keystore{}, err
}

// Keystore tells a Java keystore's certificates (as DecodeAliases returns them) apart:
// Aliases[i] is the entry certificate i is in; the first Keyed are the private key entries'
// chains, each leaf first, the rest the trusted certificate entries.
type Keystore struct {
	Aliases []string
	Keyed   int
}

// Chains are where the keystore's chains start in its certificates: one per private key entry
// (each a server's or client's chain, its leaf first), then one of every trusted certificate
// entry (a trust store, a bundle of CAs).
func (k Keystore) Chains() []int {
	var starts []int
	for i, a := range k.Aliases {
		if i == 0 || i == k.Keyed || i < k.Keyed && a != k.Aliases[i-1] {
			starts = append(starts, i)
		}
	}
	return starts
}

// Span is one of a keystore's chains: its certificates [Start, End); Keyed when it is a private
// key entry's (named by its alias), else the trusted certificate entries' bundle.
type Span struct {
	Start, End int
	Keyed      bool
}

// Spans splits a keystore's n certificates into its chains, which begin at starts (Chains, 0
// first), the first keyed of them the private key entries'.
func Spans(starts []int, keyed, n int) []Span {
	out := make([]Span, len(starts))
	for i, a := range starts {
		b := n
		if i+1 < len(starts) {
			b = starts[i+1]
		}
		out[i] = Span{Start: a, End: b, Keyed: a < keyed}
	}
	return out
}

func decodeOther(data []byte, password string) ([]*x509.Certificate, error) {
	if IsPEM(data) {
		return decodePEM(data)
	}
	if certs, err := x509.ParseCertificates(data); err == nil && len(certs) > 0 {
		return limit(certs)
	}
	return decodePKCS12(data, password)
}

func decodePEM(data []byte) ([]*x509.Certificate, error) {
	var (
		out    []*x509.Certificate
		errs   []error
		sawKey bool
	)
	rest := data
	for i := 0; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" && block.Type != "X509 CERTIFICATE" {
			sawKey = sawKey || strings.HasSuffix(block.Type, "PRIVATE KEY")
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("PEM block %d: %w", i, err))
			continue
		}
		out = append(out, c)
		if len(out) > maxCerts {
			return out[:maxCerts], fmt.Errorf("more than %d certificates", maxCerts)
		}
	}
	if bytes.Contains(rest, pemStart) {
		errs = append(errs, errTruncated)
	}
	if len(out) == 0 && len(errs) == 0 {
		if sawKey {
			return nil, ErrKeyOnly
		}
		errs = append(errs, ErrNoCertificate)
	}
	return out, errors.Join(errs...)
}

// maxPBEIterations bounds the key derivation work a PKCS#12 file may ask for: the iteration
// count comes from the file, and a hostile one with 2^31 iterations would stall the scanner.
// Common tools use 2,048 to 600,000.
const maxPBEIterations = 1_000_000

// errTooCostly says a PKCS#12 file asks for more key derivation iterations than maxPBEIterations.
var errTooCostly = errors.New("PKCS#12: key derivation iteration count too large")

func decodePKCS12(data []byte, password string) ([]*x509.Certificate, error) {
	if !iterationsBounded(cryptobyte.String(data), 0) {
		return nil, errTooCostly
	}
	// A trust store holds only certificates; a key store holds a key, its certificate and chain.
	if certs, err := pkcs12.DecodeTrustStore(data, password); err == nil && len(certs) > 0 {
		return limit(certs)
	}
	_, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, ErrPassword
		}
		return nil, ErrNoCertificate
	}
	return limit(append([]*x509.Certificate{leaf}, chain...))
}

func limit(c []*x509.Certificate) ([]*x509.Certificate, error) {
	if len(c) > maxCerts {
		return c[:maxCerts], fmt.Errorf("more than %d certificates", maxCerts)
	}
	return c, nil
}

// iterationsBounded walks DER (and DER wrapped in OCTET STRINGs, as PKCS#12 nests it) and checks
// every INTEGER that follows a salt-like element in a SEQUENCE: that is where PBES1 and PBKDF2
// parameters and MacData put the iteration count (go-pkcs12 accepts any tag for a PBKDF2 salt).
// INTEGERs after an INTEGER (key components) or after a certificate's [0] version (its serial)
// are not iteration counts. Bytes that are not DER (encrypted content) are left alone.
func iterationsBounded(der cryptobyte.String, depth int) bool {
	if depth > 16 {
		return true // go-pkcs12 rejects deeper nesting anyway
	}
	checkNext := false
	for !der.Empty() {
		var (
			elem cryptobyte.String
			tag  cbasn1.Tag
		)
		if !der.ReadAnyASN1(&elem, &tag) {
			return true
		}
		switch {
		case tag == cbasn1.INTEGER && checkNext:
			if len(elem) > 0 && elem[0]&0x80 != 0 {
				break // negative: no iterations at all
			}
			b := bytes.TrimLeft(elem, "\x00")
			if len(b) > 4 {
				return false
			}
			var n uint64
			for _, c := range b {
				n = n<<8 | uint64(c)
			}
			if n > maxPBEIterations {
				return false
			}
		case tag&0x20 != 0, tag == cbasn1.OCTET_STRING: // constructed, or possibly wrapping DER
			if !iterationsBounded(elem, depth+1) {
				return false
			}
		}
		checkNext = tag != cbasn1.INTEGER && tag != cbasn1.Tag(0).Constructed().ContextSpecific()
	}
	return true
}
