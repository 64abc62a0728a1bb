// Package testcerts makes certificates at run time for tests and the demo: CA → intermediate →
// leaf with any dates, key types, hosts, revocation pointers, and the PEM/DER/PKCS#12/JKS/CRL/OCSP
// encodings around them. Nothing here is ever committed as a file, so nothing can expire in git.
//
// Generation errors are programming errors here (bad template), so functions panic.
package testcerts

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	"golang.org/x/crypto/ocsp"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// KeyType selects the key algorithm; ECDSA P-256 is the default because RSA generation is slow.
type KeyType string

// Key types.
const (
	ECDSA    KeyType = "ecdsa-p256"
	ECDSA384 KeyType = "ecdsa-p384"
	RSA2048  KeyType = "rsa2048"
	Ed25519  KeyType = "ed25519"
)

// Options describe one certificate. Zero values get sensible defaults.
type Options struct {
	CN           string
	Org          string
	DNSNames     []string
	IPs          []net.IP
	NotBefore    time.Time // default: Now - 1h
	NotAfter     time.Time // default: NotBefore + 90 days
	Now          time.Time // reference for defaults; default time.Now()
	IsCA         bool
	Key          KeyType
	Serial       *big.Int // default: unique increasing
	CRLURLs      []string
	OCSPURLs     []string
	IssuerURLs   []string // AIA caIssuers: public CAs name one on every leaf
	Issuer       *Cert    // nil: self-signed
	MaxPathLen   int
	ExtKeyUsages []x509.ExtKeyUsage
}

// Cert is a generated certificate with its key.
type Cert struct {
	Cert *x509.Certificate
	DER  []byte
	Key  crypto.Signer
}

var serialSeq atomic.Int64

func init() { serialSeq.Store(time.Now().UnixNano() & 0xffffffffff) }

// New makes a certificate signed by o.Issuer (self-signed when nil).
func New(o Options) *Cert {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.Add(90 * 24 * time.Hour)
	}
	if o.Serial == nil {
		o.Serial = big.NewInt(serialSeq.Add(1))
	}
	if o.CN == "" && len(o.DNSNames) == 0 && !o.IsCA {
		o.CN = "localhost"
	}
	key := NewKey(o.Key)
	tmpl := &x509.Certificate{
		SerialNumber:          o.Serial,
		Subject:               pkix.Name{CommonName: o.CN},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		DNSNames:              o.DNSNames,
		IPAddresses:           o.IPs,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
		CRLDistributionPoints: o.CRLURLs,
		OCSPServer:            o.OCSPURLs,
		IssuingCertificateURL: o.IssuerURLs,
		SubjectKeyId:          keyID(key.Public()),
	}
	if o.Org != "" {
		tmpl.Subject.Organization = []string{o.Org}
	}
	if o.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		tmpl.MaxPathLen = o.MaxPathLen
		tmpl.MaxPathLenZero = false
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if _, isRSA := key.(*rsa.PrivateKey); isRSA {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	if o.ExtKeyUsages != nil {
		tmpl.ExtKeyUsage = o.ExtKeyUsages
	}
	parent, signer := tmpl, key
	if o.Issuer != nil {
		parent, signer = o.Issuer.Cert, o.Issuer.Key
		tmpl.AuthorityKeyId = o.Issuer.Cert.SubjectKeyId
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return &Cert{Cert: c, DER: der, Key: key}
}

// NewKey generates a private key of the given type.
func NewKey(t KeyType) crypto.Signer {
	var (
		k   crypto.Signer
		err error
	)
	switch t {
	case "", ECDSA:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSA384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case Ed25519:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		panic("testcerts: unknown key type " + string(t))
	}
	if err != nil {
		panic(err)
	}
	return k
}

func keyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	sum := sha1.Sum(der)
	return sum[:]
}

// PKI is a three-level hierarchy: a root, an intermediate signed by it, and helpers to issue leaves.
type PKI struct {
	Root, Intermediate *Cert
}

// NewPKI makes a root and an intermediate valid for ten years around now, named after prefix.
func NewPKI(prefix string, now time.Time) *PKI {
	root := New(Options{CN: prefix + " Root CA", Org: prefix, IsCA: true, Now: now, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour)})
	inter := New(Options{CN: prefix + " Intermediate CA", Org: prefix, IsCA: true, Issuer: root, Now: now, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour)})
	return &PKI{Root: root, Intermediate: inter}
}

// Leaf issues a leaf from the intermediate; o.Issuer is set for the caller. Unless o.IssuerURLs
// is set, the leaf names where its issuer can be fetched (AIA caIssuers), as a public CA's
// leaves do: served or stored without its intermediate it is an incomplete_chain. A leaf naming
// no issuer URL (a private CA's) is made with New and Issuer: p.Intermediate.
func (p *PKI) Leaf(o Options) *Cert {
	o.Issuer = p.Intermediate
	if o.IssuerURLs == nil {
		o.IssuerURLs = []string{"http://ca.test/" + url.PathEscape(p.Intermediate.Cert.Subject.CommonName) + ".der"}
	}
	return New(o)
}

// Pool is a CertPool holding the root, for verification against this PKI.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root.Cert)
	return pool
}

// PEM encodes the certificate.
func (c *Cert) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
}

// KeyPEM encodes the private key as PKCS#8.
func (c *Cert) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Bundle concatenates PEM certificates in order (a fullchain: leaf first).
func Bundle(certs ...*Cert) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		b.Write(c.PEM())
	}
	return b.Bytes()
}

// TLS returns a tls.Certificate serving c followed by chain.
func (c *Cert) TLS(chain ...*Cert) tls.Certificate {
	tc := tls.Certificate{Certificate: [][]byte{c.DER}, PrivateKey: c.Key, Leaf: c.Cert}
	for _, x := range chain {
		tc.Certificate = append(tc.Certificate, x.DER)
	}
	return tc
}

// PKCS12 encodes c with its key and chain, encrypted with password.
func (c *Cert) PKCS12(password string, chain ...*Cert) []byte {
	var cas []*x509.Certificate
	for _, x := range chain {
		cas = append(cas, x.Cert)
	}
	data, err := pkcs12.Modern.Encode(c.Key, c.Cert, cas, password)
	if err != nil {
		panic(err)
	}
	return data
}

// TrustStore encodes certificates without keys as a PKCS#12 trust store.
func TrustStore(password string, certs ...*Cert) []byte {
	var xs []*x509.Certificate
	for _, x := range certs {
		xs = append(xs, x.Cert)
	}
	data, err := pkcs12.Modern.EncodeTrustStore(xs, password)
	if err != nil {
		panic(err)
	}
	return data
}

// JKSEntry is one entry of a Java keystore: with Key, a private key entry holding Chain[0]'s key
// and Chain as its certificate chain; else a trusted certificate entry holding Chain[0].
type JKSEntry struct {
	Alias string
	Key   bool
	Chain []*Cert
}

// JKS encodes the entries as a Java keystore (JKS) with keystore-go's writer, the store and
// its keys protected by password.
func JKS(password string, entries ...JKSEntry) []byte {
	ks := keystore.New(keystore.WithCaseExactAliases())
	for _, e := range entries {
		var err error
		created := e.Chain[0].Cert.NotBefore
		if e.Key {
			key, kerr := x509.MarshalPKCS8PrivateKey(e.Chain[0].Key)
			if kerr != nil {
				panic(kerr)
			}
			chain := make([]keystore.Certificate, len(e.Chain))
			for i, c := range e.Chain {
				chain[i] = keystore.Certificate{Type: "X509", Content: c.DER}
			}
			err = ks.SetPrivateKeyEntry(e.Alias, keystore.PrivateKeyEntry{CreationTime: created, PrivateKey: key, CertificateChain: chain}, []byte(password))
		} else {
			err = ks.SetTrustedCertificateEntry(e.Alias, keystore.TrustedCertificateEntry{CreationTime: created, Certificate: keystore.Certificate{Type: "X509", Content: e.Chain[0].DER}})
		}
		if err != nil {
			panic(err)
		}
	}
	var b bytes.Buffer
	if err := ks.Store(&b, []byte(password)); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// CRL makes a DER CRL signed by issuer listing the serials as revoked.
func CRL(issuer *Cert, thisUpdate, nextUpdate time.Time, revoked ...*big.Int) []byte {
	var entries []x509.RevocationListEntry
	for _, s := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: thisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(serialSeq.Add(1)),
		ThisUpdate:                thisUpdate,
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: entries,
	}, issuer.Cert, issuer.Key)
	if err != nil {
		panic(err)
	}
	return der
}

// OCSP makes a DER OCSP response for leaf signed by issuer; status is ocsp.Good or ocsp.Revoked.
func OCSP(leaf, issuer *Cert, status int, thisUpdate, nextUpdate time.Time) []byte {
	tmpl := ocsp.Response{
		Status:       status,
		SerialNumber: leaf.Cert.SerialNumber,
		ThisUpdate:   thisUpdate,
		NextUpdate:   nextUpdate,
	}
	if status == ocsp.Revoked {
		tmpl.RevokedAt = thisUpdate
		tmpl.RevocationReason = ocsp.KeyCompromise
	}
	der, err := ocsp.CreateResponse(issuer.Cert, issuer.Cert, tmpl, issuer.Key)
	if err != nil {
		panic(err)
	}
	return der
}
