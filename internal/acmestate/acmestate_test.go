package acmestate

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

// fold feeds captured Caddy logs (logparse/testdata, from real runs against Pebble) in order,
// as one host's history, and folds every name.
func fold(t *testing.T, logs ...string) []Name {
	t.Helper()
	var f logparse.CaddyFolder
	for _, l := range logs {
		data, err := os.ReadFile("../../logparse/testdata/caddy-2.6.2/" + l + ".log")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			f.Line(line)
		}
	}
	var out []Name
	for _, o := range f.Outcomes() {
		out = append(out, Fold("caddy", logparse.CaddyStorageKey(o.Name), logparse.CaddyIssuerDirectory(o.Issuer), o))
	}
	return out
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestFoldRealHistory: issued, renewed, then renewals failing (the challenge port closed) and
// retried: the failure with its reason stands through the retries, and the last success
// stays the renewal's.
func TestFoldRealHistory(t *testing.T) {
	names := fold(t, "issue", "renew", "renew-connection")
	if len(names) != 2 {
		t.Fatalf("%d names, want 2", len(names))
	}
	a := names[0]
	want := source.Renewal{Client: "caddy", Lineage: "a.example.test", Domain: "a.example.test",
		LastAttempt: ts("2026-12-02T07:43:47.3837314Z"), LastSuccess: ts("2026-12-02T07:42:45.722587Z"), LastRenewal: ts("2026-12-02T07:42:45.722587Z"),
		Reason: "connection", Server: "https://127.0.0.1:14000/dir"}
	got := a.Renewal
	if len(got.Problems) != 1 || got.Problems[0].Type != "connection" || !strings.Contains(got.Problems[0].Detail, "connection refused") {
		t.Errorf("problems %+v", got.Problems)
	}
	if !strings.Contains(got.Message, "no solvers available") {
		t.Errorf("message %q", got.Message)
	}
	got.Problems, got.Message = nil, ""
	if !equal(got, want) {
		t.Errorf("renewal\n got %+v\nwant %+v", got, want)
	}
	if a.Attempts != 4 || a.Failures != 2 || !a.NextRetry.Equal(ts("2026-12-02T07:45:48.6529038Z")) {
		t.Errorf("attempts %d failures %d next retry %v", a.Attempts, a.Failures, a.NextRetry)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) { Collect(ch, names[:1]) }))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP cert_renewal_attempts_total Attempts to obtain or renew the certificate seen in the client's log (history replay included).
# TYPE cert_renewal_attempts_total counter
cert_renewal_attempts_total{client="caddy",lineage="a.example.test"} 4
# HELP cert_renewal_consecutive_failures Failed attempts since the last success: the retries a success ends.
# TYPE cert_renewal_consecutive_failures gauge
cert_renewal_consecutive_failures{client="caddy",lineage="a.example.test"} 2
# HELP cert_renewal_last_attempt_timestamp_seconds Last time the ACME client tried to obtain or renew the certificate, or checked it and kept it.
# TYPE cert_renewal_last_attempt_timestamp_seconds gauge
cert_renewal_last_attempt_timestamp_seconds{client="caddy",lineage="a.example.test"} 1.7961974273837314e+09
# HELP cert_renewal_last_success_timestamp_seconds Last attempt on the certificate that did not fail.
# TYPE cert_renewal_last_success_timestamp_seconds gauge
cert_renewal_last_success_timestamp_seconds{client="caddy",lineage="a.example.test"} 1.7961973657225869e+09
# HELP cert_renewal_next_retry_timestamp_seconds When the client said it would try again after a failure.
# TYPE cert_renewal_next_retry_timestamp_seconds gauge
cert_renewal_next_retry_timestamp_seconds{client="caddy",lineage="a.example.test"} 1.7961975486529038e+09
`)); err != nil {
		t.Error(err)
	}
}

// TestFoldStates: before any attempt nothing is said; a success or a kept certificate is
// reason none; a failed first issue is its reason; a certificate only in the store is no
// attempt but keeps its directory (the staging rule reads it).
func TestFoldStates(t *testing.T) {
	for _, tc := range []struct {
		logs          []string
		name          string
		reason        string
		failures      int
		attemptIsLast bool
	}{
		{[]string{"issue"}, "a.example.test", "none", 0, false},
		{[]string{"issue-ca-down"}, "b.example.test", "network", 1, false},
		{[]string{"issue-rejected"}, "blocked-domain.example", "acme_server", 1, false},
	} {
		names := fold(t, tc.logs...)
		if len(names) == 0 || names[0].Domain != tc.name {
			t.Fatalf("%v: %+v", tc.logs, names)
		}
		if n := names[0]; n.Reason != tc.reason || n.Failures != tc.failures || n.Failed() != (tc.reason != "none") {
			t.Errorf("%v: reason %q failures %d, want %q %d", tc.logs, n.Reason, n.Failures, tc.reason, tc.failures)
		}
	}
	kept := Fold("caddy", "a", "", logparse.ACMEOutcome{Name: "a", Result: logparse.NotDue, Time: ts("2026-01-02T00:00:00Z")})
	if kept.Reason != "none" || !kept.LastAttempt.Equal(ts("2026-01-02T00:00:00Z")) || !kept.LastSuccess.Equal(kept.LastAttempt) || !kept.LastRenewal.IsZero() {
		t.Errorf("kept: %+v", kept)
	}
	waiting := Fold("caddy", "a", "", logparse.ACMEOutcome{Name: "a", Result: logparse.Attempted, Attempts: 1, LastAttempt: ts("2026-01-02T00:00:00Z")})
	if waiting.Reason != "" {
		t.Errorf("first attempt under way: reason %q, want none yet", waiting.Reason)
	}
	stored := Stored("caddy", "wildcard_.example.com", "*.example.com", "https://acme-staging-v02.api.letsencrypt.org/directory")
	if stored.Reason != "" || stored.Server == "" || stored.Domain != "*.example.com" {
		t.Errorf("stored: %+v", stored)
	}
	ch := make(chan prometheus.Metric, 10)
	Collect(ch, []Name{stored, waiting})
	if len(ch) != 0 {
		t.Errorf("%d series for names without a finished attempt", len(ch))
	}
}

func equal(a, b source.Renewal) bool {
	return a.Client == b.Client && a.Lineage == b.Lineage && a.Domain == b.Domain && a.LastAttempt.Equal(b.LastAttempt) &&
		a.LastSuccess.Equal(b.LastSuccess) && a.LastRenewal.Equal(b.LastRenewal) && a.Reason == b.Reason && a.Server == b.Server &&
		a.Message == b.Message && len(a.Problems) == len(b.Problems) && len(a.Hooks) == len(b.Hooks)
}

type collectFunc func(chan<- prometheus.Metric)

func (f collectFunc) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }
func (f collectFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
