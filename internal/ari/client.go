package ari

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"time"
)

// Error reasons of the "ari" source (cert_expiry_exporter_errors_total{source="ari"}).
const (
	reasonConnection    = "connection"
	reasonTimeout       = "timeout"
	reasonHTTPStatus    = "http_status"
	reasonParse         = "parse"
	reasonTooLarge      = "too_large"
	reasonNoRenewalInfo = "no_renewal_info"
)

// Reasons lists every error reason, for pre-created counters.
var Reasons = []string{reasonConnection, reasonTimeout, reasonHTTPStatus, reasonParse, reasonTooLarge, reasonNoRenewalInfo}

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
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return reasonTimeout
	}
	return reasonConnection
}
