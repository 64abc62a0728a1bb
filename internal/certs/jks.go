package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	"golang.org/x/crypto/cryptobyte"
)

// The first four bytes of a Java keystore: JKS (read), JCEKS (recognised, not read: keystore-go
// has no reader for it, and Java itself has written PKCS#12 by default since Java 9).
const (
	jksMagic   = 0xfeedfeed
	jceksMagic = 0xcececece
)

var (
	// errJKSPassword: the keystore's integrity digest (keyed with the store password) does not
	// match. Java's own wording says why it cannot tell the two apart.
	errJKSPassword = errors.New("JKS: wrong or missing password, or the keystore was altered (integrity check failed)")
	errJCEKS       = errors.New("JCEKS keystore: not supported; convert it to PKCS#12 (keytool -importkeystore -deststoretype pkcs12)")
	errJKSBadForm  = errors.New("JKS: malformed")
)

// isJavaKeystore reports whether data starts like a JKS or JCEKS keystore. It is checked before
// PEM: an alias may contain "-----BEGIN ".
func isJavaKeystore(data []byte) bool {
	if len(data) < 4 {
		return false
	}
	m := binary.BigEndian.Uint32(data)
	return m == jksMagic || m == jceksMagic
}

// decodeJKS returns the certificates of a JKS keystore, verified with the store password, and
// the alias of the entry each is in: every private key entry's chain (in alias order, each
// chain leaf first, so that a keystore's leaf is its first certificate), then every trusted
// certificate entry. Private keys stay as the keystore holds them, encrypted: reading the chains
// needs no key password, and no key is decrypted, kept or returned. Like PEM, the good
// certificates come back along with an error about the bad ones.
func decodeJKS(data []byte, password string) ([]*x509.Certificate, Keystore, error) {
	if binary.BigEndian.Uint32(data) == jceksMagic {
		return nil, Keystore{}, errJCEKS
	}
	// keystore-go allocates every length the file states before reading it: the lengths are
	// checked against the data first, so that a 20-byte file cannot ask for 4 GiB.
	if err := jksBounded(data); err != nil {
		return nil, Keystore{}, err
	}
	ks := keystore.New(keystore.WithCaseExactAliases(), keystore.WithOrderedAliases())
	if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
		if err.Error() == "got invalid digest" { // keystore-go's only digest error, unexported
			return nil, Keystore{}, errJKSPassword
		}
		return nil, Keystore{}, fmt.Errorf("%w: %w", errJKSBadForm, err)
	}
	var (
		out     []*x509.Certificate
		aliases []string
		keyed   int
		errs    []error
	)
	add := func(alias string, c keystore.Certificate) {
		if c.Type != "X.509" && c.Type != "X509" {
			errs = append(errs, fmt.Errorf("JKS entry %q: certificate type %q is not X.509", alias, c.Type))
			return
		}
		x, err := x509.ParseCertificate(c.Content)
		if err != nil {
			errs = append(errs, fmt.Errorf("JKS entry %q: %w", alias, err))
			return
		}
		out = append(out, x)
		aliases = append(aliases, alias)
	}
	all := ks.Aliases()
	for _, a := range all {
		if chain, err := ks.GetPrivateKeyEntryCertificateChain(a); err == nil {
			for _, c := range chain {
				add(a, c)
			}
		}
	}
	keyed = len(out)
	for _, a := range all {
		if e, err := ks.GetTrustedCertificateEntry(a); err == nil {
			add(a, e.Certificate)
		}
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, ErrNoCertificate)
	}
	return out, Keystore{Aliases: aliases, Keyed: keyed}, errors.Join(errs...)
}

// jksBounded walks the JKS layout (magic, version, entry count; per entry a tag, an alias, a
// timestamp, then an encrypted key and a certificate chain, or one certificate; the digest)
// and checks that every length and count fits in what is left of data and that there are at
// most maxCerts certificates. It checks nothing else: keystore-go then reads the file.
func jksBounded(data []byte) error {
	s := cryptobyte.String(data)
	var magic, version, entries uint32
	if !s.ReadUint32(&magic) || !s.ReadUint32(&version) || !s.ReadUint32(&entries) {
		return fmt.Errorf("%w: truncated header", errJKSBadForm)
	}
	if version != 1 && version != 2 {
		return fmt.Errorf("%w: unknown version %d", errJKSBadForm, version)
	}
	// cert skips one certificate: its type name (version 2), its length and content.
	cert := func() bool {
		var n uint32
		if version == 2 && !s.Skip(2+int(peek16(s))) {
			return false
		}
		return s.ReadUint32(&n) && s.Skip(int(n))
	}
	certs := 0
	for i := uint32(0); i < entries; i++ {
		var tag, n uint32
		if !s.ReadUint32(&tag) || !s.Skip(2+int(peek16(s))) || !s.Skip(8) {
			return fmt.Errorf("%w: entry %d truncated", errJKSBadForm, i)
		}
		switch tag {
		case 1: // private key entry: encrypted key, then its chain
			if !s.ReadUint32(&n) || !s.Skip(int(n)) || !s.ReadUint32(&n) {
				return fmt.Errorf("%w: entry %d truncated", errJKSBadForm, i)
			}
		case 2: // trusted certificate entry
			n = 1
		default:
			return fmt.Errorf("%w: entry %d has unknown tag %d", errJKSBadForm, i, tag)
		}
		// Each certificate takes at least 4 bytes: a count beyond that cannot be real.
		if uint64(n) > uint64(len(s))/4 {
			return fmt.Errorf("%w: entry %d claims %d certificates", errJKSBadForm, i, n)
		}
		if certs += int(n); certs > maxCerts {
			return fmt.Errorf("more than %d certificates", maxCerts)
		}
		for range n {
			if !cert() {
				return fmt.Errorf("%w: entry %d truncated", errJKSBadForm, i)
			}
		}
	}
	return nil
}

// peek16 is the big-endian uint16 at the start of s, 0 if s is shorter: the length of a Java
// modified-UTF-8 string, which the following Skip then checks against what is left.
func peek16(s cryptobyte.String) uint16 {
	if len(s) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(s)
}
