// Package tlsfiles reads the files and inline texts of a Prometheus tls_config (probe
// modules, ARI) through one cache.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"

	promconfig "github.com/prometheus/common/config"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/fsread"
)

// Load reads tc's roots (nil: the system's) and client key pair (nil: none), from files
// (cached while they do not change) or inline. Files are read like every configured path:
// anything but a regular file is refused, so a FIFO cannot block the caller.
func Load(tc *promconfig.TLSConfig) (*x509.CertPool, *tls.Certificate, error) {
	var roots *x509.CertPool
	var err error
	switch {
	case tc.CAFile != "":
		roots, err = loadPool(tc.CAFile)
	case tc.CA != "":
		roots, err = inlinePool(tc.CA)
	}
	if err != nil {
		return nil, nil, err
	}
	var pair *tls.Certificate
	switch {
	case tc.CertFile != "" || tc.KeyFile != "":
		pair, err = loadKeyPair(tc.CertFile, tc.KeyFile)
	case tc.Cert != "" || tc.Key != "":
		pair, err = inlineKeyPair(tc.Cert, string(tc.Key))
	}
	if err != nil {
		return nil, nil, err
	}
	return roots, pair, nil
}

// The CA and client key pair are read once and again only when they change (files)
// or when the config changes (inline), so a probe does not re-parse a CA bundle every few
// seconds. Keys: the path(s), or the inline text.
var tlsFiles = struct {
	sync.Mutex
	pools map[string]cachedFile[*x509.CertPool]
	pairs map[string]cachedFile[*tls.Certificate]
}{pools: map[string]cachedFile[*x509.CertPool]{}, pairs: map[string]cachedFile[*tls.Certificate]{}}

type cachedFile[T any] struct {
	stamp string
	v     T
}

// stamp identifies a file version by size and modification times (of both files of a pair).
func stamp(paths ...string) (string, error) {
	s := ""
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return s, nil
}

// maxTLSFile bounds a CA bundle or key pair file (the system bundle is ~200 KiB).
const maxTLSFile = 16 << 20

func loadPool(path string) (*x509.CertPool, error) {
	st, err := stamp(path)
	if err != nil {
		return nil, fmt.Errorf("tls_config.ca_file: %w", err)
	}
	tlsFiles.Lock()
	defer tlsFiles.Unlock()
	if c, ok := tlsFiles.pools[path]; ok && c.stamp == st {
		return c.v, nil
	}
	data, err := fsread.ReadFile(path, maxTLSFile)
	if err != nil {
		return nil, fmt.Errorf("tls_config.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tls_config.ca_file %s: no PEM certificate", path)
	}
	tlsFiles.pools[path] = cachedFile[*x509.CertPool]{st, pool}
	return pool, nil
}

func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	st, err := stamp(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls_config client certificate: %w", err)
	}
	key := certFile + "\x00" + keyFile
	tlsFiles.Lock()
	defer tlsFiles.Unlock()
	if c, ok := tlsFiles.pairs[key]; ok && c.stamp == st {
		return c.v, nil
	}
	certPEM, err := fsread.ReadFile(certFile, maxTLSFile)
	if err != nil {
		return nil, fmt.Errorf("tls_config client certificate: %w", err)
	}
	keyPEM, err := fsread.ReadFile(keyFile, maxTLSFile)
	if err != nil {
		return nil, fmt.Errorf("tls_config client key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls_config client certificate: %w", err)
	}
	tlsFiles.pairs[key] = cachedFile[*tls.Certificate]{st, &pair}
	return &pair, nil
}

// inlinePool parses tls_config.ca. The cache keeps the pools of the texts of the config in
// force and those it replaced: a handful.
func inlinePool(pemText string) (*x509.CertPool, error) {
	key := "inline\x00" + pemText
	tlsFiles.Lock()
	defer tlsFiles.Unlock()
	if c, ok := tlsFiles.pools[key]; ok {
		return c.v, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pemText)) {
		return nil, fmt.Errorf("tls_config.ca: no PEM certificate")
	}
	tlsFiles.pools[key] = cachedFile[*x509.CertPool]{v: pool}
	return pool, nil
}

// inlineKeyPair parses tls_config.cert and tls_config.key.
func inlineKeyPair(certPEM, keyPEM string) (*tls.Certificate, error) {
	key := "inline\x00" + certPEM + "\x00" + keyPEM
	tlsFiles.Lock()
	defer tlsFiles.Unlock()
	if c, ok := tlsFiles.pairs[key]; ok {
		return c.v, nil
	}
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return nil, fmt.Errorf("tls_config client certificate: %w", err)
	}
	tlsFiles.pairs[key] = cachedFile[*tls.Certificate]{v: &pair}
	return &pair, nil
}
