package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// VerifyCache remembers the chains that verified, so a chain a server keeps presenting (every
// background probe and /probe of it) is not path-built and signature-checked again: that is the
// largest share of a probe's CPU after the handshake. The zero value is ready to use.
//
// Only verified chains are kept: their result depends on the certificates, the roots, the name
// and the time, and the time matters only at the certificates' validity bounds, so an entry
// holds until the next one. Failures are not kept: their reason is classified against the
// current time and they are the chains an operator is fixing.
type VerifyCache struct {
	mu sync.Mutex
	m  map[verifyKey]verifyEntry
}

// verifyCacheMax bounds the cache; a full cache is emptied (probed chains are few and repeat;
// a flood of distinct ones only costs the verification the cache would have saved).
const verifyCacheMax = 4096

// verifyCacheTTL bounds an entry's life so a revoked root or a changed system pool does not
// keep a chain verified for the whole of its validity.
const verifyCacheTTL = time.Hour

type verifyKey struct {
	chain   [sha256.Size]byte
	roots   *x509.CertPool // the pools are cached per CA file version (tlsfiles), so a change of file is a new key
	dnsName string
}

type verifyEntry struct {
	from, until time.Time
	result      VerifyResult
	path        []*x509.Certificate
}

// VerifyPath is certs.VerifyPath through the cache.
func (c *VerifyCache) VerifyPath(chain []*x509.Certificate, o VerifyOptions) (VerifyResult, []*x509.Certificate) {
	if len(chain) == 0 {
		return VerifyPath(chain, o)
	}
	h := sha256.New()
	for _, cert := range chain {
		// Length-prefixed, so two chains cannot hash alike by moving a boundary.
		n := len(cert.Raw)
		h.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		h.Write(cert.Raw)
	}
	k := verifyKey{roots: o.Roots, dnsName: o.DNSName}
	h.Sum(k.chain[:0])

	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && !o.Now.Before(e.from) && o.Now.Before(e.until) {
		return e.result, e.path
	}
	r, path := VerifyPath(chain, o)
	if path == nil {
		return r, path
	}
	until := o.Now.Add(verifyCacheTTL)
	if b := NextBound(o.Now, chain, path); !b.IsZero() && b.Before(until) {
		until = b
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= verifyCacheMax {
		c.m = make(map[verifyKey]verifyEntry)
	}
	c.m[k] = verifyEntry{from: o.Now, until: until, result: r, path: path}
	c.mu.Unlock()
	return r, path
}
