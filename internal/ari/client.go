package ari

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"sync"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/tlsfiles"
)

// Error reasons of the "ari" source (cert_expiry_exporter_errors_total{source="ari"}).
const (
	reasonConnection    = "connection"
	reasonTimeout       = "timeout"
	reasonHTTPStatus    = "http_status"
	reasonParse         = "parse"
	reasonTooLarge      = "too_large"
	reasonNoRenewalInfo = "no_renewal_info"
	reasonTLS           = "tls"
)

// Reasons lists every error reason, for pre-created counters.
var Reasons = []string{reasonConnection, reasonTimeout, reasonHTTPStatus, reasonParse, reasonTooLarge, reasonNoRenewalInfo, reasonTLS}

// maxBody bounds every response read: a directory or renewalInfo object is a few hundred bytes.
const maxBody = 64 << 10

// defaultTimeout bounds one request.
const defaultTimeout = 10 * time.Second

// fetchError is a failed request with its reason.
type fetchError struct {
	reason string
	err    error
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// reasonOf classifies err into one of Reasons.
func reasonOf(err error) string {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe.reason
	}
	return reasonConnection
}

// client makes bounded GET requests.
type client struct {
	http    *http.Client
	timeout time.Duration
	now     func() time.Time
}

// get fetches url and returns the body and the server's clamped Retry-After (0 when absent),
// which callers obey after errors too (429, 503).
func (c *client) get(ctx context.Context, url string) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, &fetchError{reason: reasonConnection, err: err}
	}
	req.Header.Set("User-Agent", "cert_expiry_exporter")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// The client's *url.Error repeats the URL unredacted: keep only its cause.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, &fetchError{reason: netReason(err), err: fmt.Errorf("GET %s: %w", redact(url), err)}
	}
	defer resp.Body.Close()
	retryAfter, _ := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	fail := func(reason string, err error) ([]byte, time.Duration, error) {
		return nil, retryAfter, &fetchError{reason: reason, err: fmt.Errorf("GET %s: %w", redact(url), err)}
	}
	if resp.StatusCode != http.StatusOK {
		return fail(reasonHTTPStatus, fmt.Errorf("HTTP %d", resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fail(netReason(err), fmt.Errorf("reading body: %w", err))
	}
	if len(body) > maxBody {
		return fail(reasonTooLarge, fmt.Errorf("response larger than %d bytes", maxBody))
	}
	return body, retryAfter, nil
}

func netReason(err error) string {
	var ne net.Error
	var ve *tls.CertificateVerificationError
	var le *tlsLoadError
	switch {
	case errors.As(err, &ve) || errors.As(err, &le):
		return reasonTLS
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return reasonTimeout
	}
	return reasonConnection
}

// tlsLoadError is an ari.tls_config whose files could not be read.
type tlsLoadError struct{ err error }

func (e *tlsLoadError) Error() string { return "ari.tls_config: " + e.err.Error() }
func (e *tlsLoadError) Unwrap() error { return e.err }

// transport applies ari.tls_config to every request. Its files are read per request through
// tlsfiles' cache, so a rotated CA bundle takes effect without a reload; connections are
// kept while the roots and key pair stay the same.
type transport struct {
	tc promconfig.TLSConfig

	mu    sync.Mutex
	roots *x509.CertPool
	pair  *tls.Certificate
	rt    *http.Transport
}

func newTransport(tc promconfig.TLSConfig) *transport { return &transport{tc: tc} }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	roots, pair, err := tlsfiles.Load(&t.tc)
	if err != nil {
		return nil, &tlsLoadError{err}
	}
	t.mu.Lock()
	if t.rt == nil || roots != t.roots || pair != t.pair {
		if t.rt != nil {
			t.rt.CloseIdleConnections()
		}
		rt := http.DefaultTransport.(*http.Transport).Clone()
		rt.TLSClientConfig = &tls.Config{
			RootCAs:            roots,
			ServerName:         t.tc.ServerName,
			InsecureSkipVerify: t.tc.InsecureSkipVerify, //nolint:gosec // the user's explicit choice, as in Prometheus
			MinVersion:         uint16(t.tc.MinVersion),
			MaxVersion:         uint16(t.tc.MaxVersion),
		}
		if pair != nil {
			rt.TLSClientConfig.Certificates = []tls.Certificate{*pair}
		}
		t.rt, t.roots, t.pair = rt, roots, pair
	}
	rt := t.rt
	t.mu.Unlock()
	return rt.RoundTrip(req)
}
