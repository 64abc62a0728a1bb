package probe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/certs"
)

// CRL cache bounds. Big CAs publish sharded CRLs of a few MB at most.
const (
	DefaultCRLMaxBytes = 10 << 20
	crlFetchTimeout    = 10 * time.Second
	crlMaxAge          = 24 * time.Hour   // even when NextUpdate is further away
	crlStaleRetry      = 10 * time.Minute // a list past its NextUpdate: ask again soon
	crlErrorRetry      = 5 * time.Minute
	crlMaxEntries      = 1000
)

// CRLCache fetches CRLs from distribution points and keeps each until its NextUpdate, so that
// probing a thousand endpoints of one CA fetches its list once. Safe for concurrent use.
type CRLCache struct {
	MaxBytes int64
	now      func() time.Time

	mu      sync.Mutex
	entries map[crlKey]*crlEntry
}

type crlKey struct{ url, issuer string }

type crlEntry struct {
	done  chan struct{}
	crl   *certs.CRL
	err   error
	until time.Time
}

// NewCRLCache returns an empty cache; now is the clock deciding expiry.
func NewCRLCache(now func() time.Time) *CRLCache {
	return &CRLCache{MaxBytes: DefaultCRLMaxBytes, now: now, entries: map[crlKey]*crlEntry{}}
}

// Get returns the CRL at rawURL signed by issuer, from the cache when still fresh. Concurrent
// callers for one list share one fetch.
func (c *CRLCache) Get(ctx context.Context, rawURL string, issuer *x509.Certificate, proxy *url.URL) (*certs.CRL, error) {
	key := crlKey{rawURL, string(issuer.RawSubjectPublicKeyInfo)}
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
		e.crl, e.err = c.fetch(ctx, rawURL, issuer, proxy)
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
		return nil, ctx.Err()
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

func (c *CRLCache) fetch(ctx context.Context, rawURL string, issuer *x509.Certificate, proxy *url.URL) (*certs.CRL, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("CRL distribution point %q: only http(s) is fetched", rawURL)
	}
	ctx, cancel := context.WithTimeout(ctx, crlFetchTimeout)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true, MaxResponseHeaderBytes: 16 << 10}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr, CheckRedirect: limitRedirects}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching CRL: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching CRL %s: %s", rawURL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching CRL %s: %w", rawURL, err)
	}
	if int64(len(data)) > c.MaxBytes {
		return nil, fmt.Errorf("CRL %s is larger than %d bytes", rawURL, c.MaxBytes)
	}
	return certs.ParseCRL(data, issuer)
}

func limitRedirects(_ *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	return nil
}
