package files

import (
	"crypto"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// maxKeySize bounds a private key file; the largest RSA keys in PEM are a few KiB.
const maxKeySize = 64 << 10

// keyPathFor picks the private key of a certificate file. With key_paths, it is the matched key
// in the certificate's directory with the same stem (site.crt → site.key), else the only one
// there. Without, it is certbot's privkey.pem next to the certificate, else <stem>.key.
func keyPathFor(certPath string, keyMatches []match) (string, bool) {
	dir := filepath.Dir(certPath)
	stem := strings.TrimSuffix(filepath.Base(certPath), filepath.Ext(certPath))
	if keyMatches != nil {
		var same []string
		for _, m := range keyMatches {
			if filepath.Dir(m.path) != dir {
				continue
			}
			if strings.TrimSuffix(filepath.Base(m.path), filepath.Ext(m.path)) == stem {
				return m.path, true
			}
			same = append(same, m.path)
		}
		if len(same) == 1 {
			return same[0], true
		}
		return "", false
	}
	for _, name := range []string{"privkey.pem", stem + ".key"} {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			return p, true
		}
	}
	return filepath.Join(dir, "privkey.pem"), false
}

// keyRef is the private key of a certificate file as found by this scan: its version and
// public key, or why it cannot be used.
type keyRef struct {
	ver fileKey
	pub crypto.PublicKey
	err *FileError
}

// keyFor finds and reads (or takes from the cache) the private key of a certificate file. It
// is only called with check_key: true; keys are never opened otherwise.
func (s *Source) keyFor(certPath string, keyMatches []match) keyRef {
	path, ok := keyPathFor(certPath, keyMatches)
	if !ok {
		if path == "" {
			path = certPath
		}
		return keyRef{err: &FileError{Path: path, Reason: reasonNotFound, Message: "no private key found for " + certPath}}
	}
	fi, err := os.Stat(path)
	if err != nil {
		fe := fileError(path, err)
		if errors.Is(err, fs.ErrNotExist) {
			fe.Reason = reasonDanglingSymlink
		}
		return keyRef{err: &fe}
	}
	key := keyOf(path, fi)
	s.cacheMu.Lock()
	k, cached := s.keys[key]
	s.cacheMu.Unlock()
	if !cached {
		if fi.Size() > maxKeySize {
			k.err = &FileError{Path: path, Reason: reasonTooLarge, Message: "not a private key: too large"}
		} else if data, err := readCapped(path, fi.Size(), maxKeySize); err != nil {
			fe := fileError(path, err)
			k.err = &fe
		} else if pub, err := certs.PublicKeyOf(data); err != nil {
			k.err = &FileError{Path: path, Reason: reasonParse, Message: err.Error()}
		} else {
			k.pub = pub
		}
	}
	k.gen = s.gen
	s.cacheMu.Lock()
	s.keys[key] = k
	s.cacheMu.Unlock()
	return keyRef{ver: key, pub: k.pub, err: k.err}
}

// keyCheck is the outcome of the key check of one certificate file, for one version of its key.
type keyCheck struct {
	ver   fileKey
	match bool
}

// keyFresh reports whether the key check needs no certificate: the key is unusable, or the
// check was made against this version of the key.
func (p *parsed) keyFresh(k keyRef) bool {
	return k.err != nil || p.more().key != nil && p.more().key.ver == k.ver
}

// checkKey tells whether the private key k matches the leaf of xs (the file's certificates,
// nil when it came from the cache and the check is fresh).
func (p *parsed) checkKey(xs []*x509.Certificate, k keyRef) (*bool, *FileError) {
	if k.err != nil {
		return nil, k.err
	}
	if !p.keyFresh(k) {
		p.edit().key = &keyCheck{ver: k.ver, match: certs.KeyMatches(xs[0], k.pub)}
	}
	m := p.more().key.match
	return &m, nil
}
