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
	ReasonConnection    = "connection"
	ReasonTimeout       = "timeout"
	ReasonHTTPStatus    = "http_status"
	ReasonParse         = "parse"
	ReasonTooLarge      = "too_large"
	ReasonNoRenewalInfo = "no_renewal_info"
)

// Reasons lists every error reason, for pre-created counters.
var Reasons = []string{ReasonConnection, ReasonTimeout, ReasonHTTPStatus, ReasonParse, ReasonTooLarge, ReasonNoRenewalInfo}

// maxBody bounds every response read: a directory or renewalInfo object is a few hundred bytes.
const maxBody = 64 << 10

// DefaultTimeout bounds one request.
const DefaultTimeout = 10 * time.Second

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
	return ReasonConnection
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
		return nil, 0, &fetchError{reason: ReasonConnection, err: err}
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
	retryAfter, _ := ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	fail := func(reason string, err error) ([]byte, time.Duration, error) {
		return nil, retryAfter, &fetchError{reason: reason, err: fmt.Errorf("GET %s: %w", redact(url), err)}
	}
	if resp.StatusCode != http.StatusOK {
		return fail(ReasonHTTPStatus, fmt.Errorf("HTTP %d", resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fail(netReason(err), fmt.Errorf("reading body: %w", err))
	}
	if len(body) > maxBody {
		return fail(ReasonTooLarge, fmt.Errorf("response larger than %d bytes", maxBody))
	}
	return body, retryAfter, nil
}

func netReason(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return ReasonTimeout
	}
	return ReasonConnection
}
