package files

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/certs"
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

// checkKey tells whether the certificate file's private key matches leaf. It is only called
// with check_key: true; keys are never opened otherwise.
func (s *Source) checkKey(certPath string, keyMatches []match, leaf *x509.Certificate) (*bool, *FileError) {
	path, ok := keyPathFor(certPath, keyMatches)
	if !ok {
		if path == "" {
			path = certPath
		}
		return nil, &FileError{Path: path, Reason: ReasonNotFound, Message: "no private key found for " + certPath}
	}
	fi, err := os.Stat(path)
	if err != nil {
		fe := fileError(path, err)
		if errors.Is(err, fs.ErrNotExist) {
			fe.Reason = ReasonDanglingSymlink
		}
		return nil, &fe
	}
	key := keyOf(path, fi)
	s.cacheMu.Lock()
	k, cached := s.keys[key]
	s.cacheMu.Unlock()
	if !cached {
		if fi.Size() > maxKeySize {
			k.err = &FileError{Path: path, Reason: ReasonTooLarge, Message: "not a private key: too large"}
		} else if data, err := readCapped(path, maxKeySize); err != nil {
			fe := fileError(path, err)
			k.err = &fe
		} else if pub, err := certs.PublicKeyOf(data); err != nil {
			k.err = &FileError{Path: path, Reason: ReasonParse, Message: err.Error()}
		} else {
			k.pub = pub
		}
	}
	k.gen = s.gen
	s.cacheMu.Lock()
	s.keys[key] = k
	s.cacheMu.Unlock()
	if k.err != nil {
		return nil, k.err
	}
	m := certs.KeyMatches(leaf, k.pub)
	return &m, nil
}
