package logparse

import (
	"strings"
	"testing"
	"time"
)

// TestCaddyRateLimited: a CA's rate limit in the exact lines Caddy writes, per version, is
// rate_limited. Pebble has no rate limits, so these are the captured issue-rejected lines with
// the CA's problem swapped for Let's Encrypt's 429 (its detail since the 2025 limits, with
// "retry after"). The versions differ in how acmez wraps the problem: 0.1.3 (Debian's Caddy
// 2.6.2) "request to <url> failed after 1 attempts: ", 1.x and v3 (Caddy 2.11.9) "attempt 1:
// <url>: "; the problem itself is "HTTP 429 <type> - <detail>" in all (acme/problem.go Error).
// A Retry-After header acmez cannot read (0.1.3 and 1.x read only seconds, and Pebble sends an
// HTTP date) is acmez's own failure, not the CA limiting: it is no rate limit.
func TestCaddyRateLimited(t *testing.T) {
	const (
		t0       = `"ts":1796197360.0136058`
		t1       = `"ts":1796197360.0136604`
		problem  = `HTTP 429 urn:ietf:params:acme:error:rateLimited - too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-12-04 07:51:52 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers`
		fromCA   = `{"level":"error",` + t0 + `,"logger":"tls.obtain","msg":"could not get certificate from issuer","identifier":"a.example.test","issuer":"acme-v02.api.letsencrypt.org-directory","error":"` + problem + `"}`
		willTry  = `{"level":"error",` + t1 + `,"logger":"tls.obtain","msg":"will retry","error":"[a.example.test] Obtain: [a.example.test] creating new order: %s` + problem + ` (ca=https://acme-v02.api.letsencrypt.org/directory)","attempt":1,"retrying_in":60,"elapsed":0.012188125,"max_duration":2592000}`
		obtain   = `{"level":"info","ts":1796197360.001,"logger":"tls.obtain","msg":"obtaining certificate","identifier":"a.example.test"}`
		badRetry = `{"level":"error",` + t1 + `,"logger":"tls.obtain","msg":"will retry","error":"[a.example.test] Obtain: [a.example.test] finalizing order https://127.0.0.1:14000/my-order/LzRrWtyh988noNSy8AJrblZIDE7g2jvDWEx6Jg_JByM: response had invalid Retry-After header: Wed, 02 Dec 2026 07:51:52 GMT (ca=https://127.0.0.1:14000/dir)","attempt":1,"retrying_in":60,"elapsed":0.282178264,"max_duration":2592000}`
	)
	tests := []struct {
		name   string
		log    string
		reason string
	}{
		{"caddy 2.6.2, acmez 0.1.3", obtain + "\n" + fromCA + "\n" + strings.Replace(willTry, "%s", "request to https://acme-v02.api.letsencrypt.org/acme/new-order failed after 1 attempts: ", 1), "rate_limited"},
		{"caddy 2.11.9, acmez v3", obtain + "\n" + fromCA + "\n" + strings.Replace(willTry, "%s", "attempt 1: https://acme-v02.api.letsencrypt.org/acme/new-order: ", 1), "rate_limited"},
		{"retry line alone", obtain + "\n" + strings.Replace(willTry, "%s", "request to https://acme-v02.api.letsencrypt.org/acme/new-order failed after 1 attempts: ", 1), "rate_limited"},
		{"caddy 2.6.2, unreadable Retry-After", obtain + "\n" + badRetry, "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := foldCaddy(tc.log)
			if got.Garbage != 0 || len(got.Outcomes) != 1 {
				t.Fatalf("%d garbage lines, outcomes %+v", got.Garbage, got.Outcomes)
			}
			o := got.Outcomes[0]
			checkOutcome(t, o)
			if o.Name != "a.example.test" || o.Result != Failed || o.Failures != 1 || o.Reason != tc.reason ||
				!o.NextRetry.Equal(time.Unix(1796197360, 13660400).UTC().Add(time.Minute)) {
				t.Errorf("outcome %+v, want a.example.test failed once with %s, retry in 1m", o, tc.reason)
			}
		})
	}
}
