package probe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// CRL cache bounds. Big CAs publish sharded CRLs of a few MB at most.
const (
	defaultCRLMaxBytes = 10 << 20
	crlFetchTimeout    = 10 * time.Second
	crlMaxAge          = 24 * time.Hour   // even when NextUpdate is further away
	crlStaleRetry      = 10 * time.Minute // a list past its NextUpdate: ask again soon
	crlErrorRetry      = 5 * time.Minute
	crlMaxEntries      = 1000
)

// CRLCache fetches CRLs from distribution points and keeps each until its NextUpdate, so that
// probing a thousand endpoints of one CA fetches its list once. Safe for concurrent use.
//
// A distribution point is a URL inside the served certificate, so fetching it is connecting
// where the certificate says: it is only done for a leaf whose chain verified (its issuer is
// then trusted), and under the same probe.allowed_targets as the probe itself, checked on the
// URL's host name and on every address it resolves to, redirects included.
type CRLCache struct {
	MaxBytes int64
	now      func() time.Time

	mu      sync.Mutex
	entries map[crlKey]*crlEntry
}

// crlKey: an entry is only reused under the policy it was fetched under (a reload may narrow
// probe.allowed_targets).
type crlKey struct{ url, issuer, policy string }

type crlEntry struct {
	done  chan struct{}
	crl   *certs.CRL
	err   error
	until time.Time
}

// newCRLCache returns an empty cache; now is the clock deciding expiry.
func newCRLCache(now func() time.Time) *CRLCache {
	return &CRLCache{MaxBytes: defaultCRLMaxBytes, now: now, entries: map[crlKey]*crlEntry{}}
}

// get returns the CRL at rawURL signed by issuer, from the cache when still fresh. Concurrent
// callers for one list share one fetch. Errors are *crlError.
func (c *CRLCache) get(ctx context.Context, rawURL string, issuer *x509.Certificate, pol fetchPolicy) (*certs.CRL, error) {
	key := crlKey{rawURL, string(issuer.RawSubjectPublicKeyInfo), pol.key()}
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		select {
		case <-e.done:
			if !c.now().Before(e.until) {
				ok = false
			}
		default:
		}
	}
	if !ok {
		e = &crlEntry{done: make(chan struct{})}
		c.evictLocked()
		c.entries[key] = e
		c.mu.Unlock()
		e.crl, e.err = c.fetch(ctx, rawURL, issuer, pol)
		e.until = c.expiry(e.crl, e.err)
		close(e.done)
		if e.err != nil && ctx.Err() != nil {
			// This caller ran out of time; that says nothing about the CRL, so do not keep it.
			c.mu.Lock()
			if c.entries[key] == e {
				delete(c.entries, key)
			}
			c.mu.Unlock()
		}
		return e.crl, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.crl, e.err
	case <-ctx.Done():
		return nil, &crlError{problemCRLFetch, "timed out waiting for another probe's fetch"}
	}
}

func (c *CRLCache) expiry(crl *certs.CRL, err error) time.Time {
	now := c.now()
	switch {
	case err != nil:
		return now.Add(crlErrorRetry)
	case !crl.NextUpdate.After(now):
		return now.Add(crlStaleRetry)
	case crl.NextUpdate.Sub(now) > crlMaxAge:
		return now.Add(crlMaxAge)
	}
	return crl.NextUpdate
}

// evictLocked drops expired entries when the cache is full, then the whole cache if that was
// not enough (a flood of distinct URLs from hostile certificates must not grow it forever).
func (c *CRLCache) evictLocked() {
	if len(c.entries) < crlMaxEntries {
		return
	}
	now := c.now()
	for k, e := range c.entries {
		select {
		case <-e.done:
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		default:
		}
	}
	if len(c.entries) >= crlMaxEntries {
		clear(c.entries)
	}
}

func (c *CRLCache) fetch(ctx context.Context, rawURL string, issuer *x509.Certificate, pol fetchPolicy) (*certs.CRL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &crlError{problemCRLFetch, "unparsable URL"}
	}
	if err := pol.checkURL(u); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, crlFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, &crlError{problemCRLFetch, "unusable URL"}
	}
	client := pol.client()
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		if ce, ok := errors.AsType[*crlError](err); ok {
			return nil, ce
		}
		if isTimeout(ctx, err) {
			return nil, &crlError{problemCRLFetch, "timed out"}
		}
		return nil, &crlError{problemCRLFetch, "no response"}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &crlError{problemCRLFetch, fmt.Sprintf("HTTP status %d", resp.StatusCode)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.MaxBytes+1))
	if err != nil {
		return nil, &crlError{problemCRLFetch, "response cut short"}
	}
	if int64(len(data)) > c.MaxBytes {
		return nil, &crlError{problemCRLTooLarge, fmt.Sprintf("larger than %d bytes", c.MaxBytes)}
	}
	crl, err := certs.ParseCRL(data, issuer)
	if err != nil {
		return nil, &crlError{problemCRLInvalid, "not a CRL signed by the certificate's issuer"}
	}
	return crl, nil
}

// crlError is a failed CRL check: its problem reason and a short text of the exporter's own.
// Nothing the distribution point sent is repeated (beyond a status code), so that /probe's
// debug output cannot be used to read what an address answers.
type crlError struct{ reason, msg string }

func (e *crlError) Error() string { return e.msg }

// crlProblem is the problem reason of a get error.
func crlProblem(err error) string {
	if ce, ok := errors.AsType[*crlError](err); ok {
		return ce.reason
	}
	return problemCRLFetch
}

// fetchPolicy is where a probe's CRL fetches may go: its allow-list (checked on the URL's host
// and on every address it resolves to), its resolver, and the module's proxy.
type fetchPolicy struct {
	allow    *AllowList
	resolver Resolver
	proxy    *url.URL
}

func (p fetchPolicy) key() string {
	k := p.allow.String()
	if p.proxy != nil {
		k += "|" + p.proxy.String()
	}
	return k
}

// client fetches one list. Without a proxy, every connection is dialled by dial, which refuses
// addresses outside the allow-list (redirects and DNS answers cannot reach them); through a
// proxy (the operator's own), the proxy resolves names, so only the URL's host can be checked.
func (p fetchPolicy) client() *http.Client {
	tr := &http.Transport{DisableKeepAlives: true, MaxResponseHeaderBytes: 16 << 10}
	if p.proxy != nil {
		tr.Proxy = http.ProxyURL(p.proxy)
	} else {
		tr.DialContext = p.dial
	}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return &crlError{problemCRLFetch, "too many redirects"}
		}
		return p.checkURL(req.URL)
	}}
}

func (p fetchPolicy) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return &crlError{problemCRLFetch, "only http(s) distribution points are fetched"}
	}
	host := u.Hostname()
	if !p.allow.AllowHost(host) {
		return refusedCRL(host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !p.allow.AllowIP(ip) {
			return refusedCRL(host)
		}
	} else if p.proxy != nil && p.allow.HasNets() {
		return &crlError{problemCRLFetch, "probe.allowed_targets has CIDRs, which cannot be checked for a name resolved by proxy_url"}
	}
	return nil
}

// dial connects to addr only when the host name and every address it resolves to are allowed,
// and dials the checked addresses themselves so that a second DNS answer cannot differ.
func (p fetchPolicy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &crlError{problemCRLFetch, "bad address"}
	}
	if !p.allow.AllowHost(host) {
		return nil, refusedCRL(host)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		r := p.resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ias, err := r.LookupIPAddr(ctx, host)
		if err != nil || len(ias) == 0 {
			return nil, &crlError{problemCRLFetch, "cannot resolve " + host}
		}
		for _, ia := range ias {
			if ip, ok := netip.AddrFromSlice(ia.IP); ok {
				ips = append(ips, ip.Unmap().WithZone(ia.Zone))
			}
		}
	}
	for _, ip := range ips {
		if !p.allow.AllowIP(ip) {
			return nil, refusedCRL(host + " (" + ip.String() + ")")
		}
	}
	var d net.Dialer
	err = &crlError{problemCRLFetch, "cannot resolve " + host}
	for _, ip := range ips {
		conn, derr := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if derr == nil {
			return conn, nil
		}
		err = derr
	}
	return nil, err
}

func refusedCRL(host string) error {
	return &crlError{problemCRLFetch, fmt.Sprintf("refused: %s is not in probe.allowed_targets", host)}
}
