package ari

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// suggested is a CA's suggested renewal window for one certificate.
type suggested struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// ExplanationURL is empty when the CA gave none or gave something that is not an http(s) URL.
	ExplanationURL string `json:"explanation_url,omitempty"`
}

// maxExplanationURL bounds the URL kept for the cert_ari_info label.
const maxExplanationURL = 1024

// parseRenewalInfo decodes a renewalInfo response body (RFC 9773 §4.2).
func parseRenewalInfo(body []byte) (suggested, error) {
	var r struct {
		SuggestedWindow *struct {
			Start *time.Time `json:"start"`
			End   *time.Time `json:"end"`
		} `json:"suggestedWindow"`
		ExplanationURL string `json:"explanationURL"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return suggested{}, fmt.Errorf("renewalInfo: %w", err)
	}
	if r.SuggestedWindow == nil || r.SuggestedWindow.Start == nil || r.SuggestedWindow.End == nil {
		return suggested{}, errors.New("renewalInfo: suggestedWindow with start and end is required")
	}
	w := suggested{Start: r.SuggestedWindow.Start.UTC(), End: r.SuggestedWindow.End.UTC()}
	// RFC 9773 §4.2: a window whose end does not follow its start is invalid.
	if !w.End.After(w.Start) {
		return suggested{}, fmt.Errorf("renewalInfo: window end %s does not follow start %s", w.End.Format(time.RFC3339), w.Start.Format(time.RFC3339))
	}
	w.ExplanationURL = cleanURL(r.ExplanationURL)
	return w, nil
}

// cleanURL keeps only absolute http(s) URLs of bounded length: the value becomes a label and a
// link in an alert, so anything else from the server is dropped.
func cleanURL(s string) string {
	if s == "" || len(s) > maxExplanationURL {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return s
}

// parseDirectory returns the renewalInfo URL of an ACME directory object, resolved against the
// directory URL.
func parseDirectory(directoryURL string, body []byte) (string, error) {
	var d struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return "", fmt.Errorf("directory: %w", err)
	}
	if d.RenewalInfo == "" {
		return "", errNoRenewalInfo
	}
	base, err := url.Parse(directoryURL)
	if err != nil {
		return "", fmt.Errorf("directory URL: %w", err)
	}
	ri, err := base.Parse(d.RenewalInfo)
	if err != nil || (ri.Scheme != "https" && ri.Scheme != "http") {
		return "", fmt.Errorf("directory: bad renewalInfo URL %q", d.RenewalInfo)
	}
	return strings.TrimRight(ri.String(), "/"), nil
}

var errNoRenewalInfo = errors.New("directory has no renewalInfo endpoint (the CA does not support ARI)")

// Bounds of Retry-After: the CA's value is obeyed within them so that a broken or hostile
// server can neither make the exporter poll in a loop nor silence it for weeks.
const (
	minRetryAfter     = time.Minute
	maxRetryAfter     = 24 * time.Hour
	defaultRetryAfter = 6 * time.Hour
)

// parseRetryAfter reads a Retry-After value (delay-seconds or HTTP-date, RFC 9110 §10.2.3)
// relative to now and clamps it to [MinRetryAfter, MaxRetryAfter]; ok is false when the value
// is absent or malformed.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		if n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return clamp(time.Duration(n) * time.Second), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return clamp(t.Sub(now)), true
}

// clamp bounds a retry delay to [MinRetryAfter, MaxRetryAfter].
func clamp(d time.Duration) time.Duration {
	return min(max(d, minRetryAfter), maxRetryAfter)
}
