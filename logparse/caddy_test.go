package logparse

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type caddyFold struct {
	Outcomes []ACMEOutcome
	Garbage  uint64
	Huge     uint64
	Dropped  uint64
}

func foldCaddy(text string) caddyFold {
	var f CaddyFolder
	lines(text, f.Line)
	return caddyFold{f.Outcomes(), f.Garbage, f.Huge, f.Dropped}
}

// TestCaddyRealLogs folds logs captured from real Caddy runs against Pebble
// (testdata/capture-caddy.sh) and compares with golden JSON (go test -update rewrites them).
func TestCaddyRealLogs(t *testing.T) {
	for _, path := range captured(t, "testdata/caddy-*/*.log") {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := foldCaddy(string(data))
			for _, o := range got.Outcomes {
				checkOutcome(t, o)
			}
			if got.Garbage != 0 || got.Huge != 0 || got.Dropped != 0 {
				t.Errorf("real log: %d garbage, %d huge, %d dropped", got.Garbage, got.Huge, got.Dropped)
			}
			golden(t, strings.TrimSuffix(path, ".log")+".golden.json", got)
		})
	}
}

// TestCaddyRealLogsMeaning pins what the golden files must say, per version, so that
// regenerating them cannot silently accept a wrong result.
func TestCaddyRealLogsMeaning(t *testing.T) {
	type want struct {
		name               string
		result             Result
		renewal            bool
		attempts, failures int
		reason             string
		problems           int    // challenge problems of the last failure
		retry              bool   // a retry is scheduled
		lockWait           bool   // waiting on another instance's lock
		issuer             string // when the log names it
	}
	const prod = "127.0.0.1:14000-dir"
	tests := map[string][]want{
		"issue": {
			{"a.example.test", Renewed, false, 1, 0, "", 0, false, false, ""},
			{"www.a.example.test", Renewed, false, 1, 0, "", 0, false, false, ""},
		},
		"renew": {
			{"a.example.test", Renewed, true, 1, 0, "", 0, false, false, ""},
			{"www.a.example.test", Renewed, true, 1, 0, "", 0, false, false, ""},
		},
		"not-due": nil,
		// Two attempts a minute apart, both refused; Caddy retries in 2 minutes.
		"renew-connection": {
			{"a.example.test", Failed, true, 2, 2, "connection", 1, true, false, prod},
			{"www.a.example.test", Failed, true, 2, 2, "connection", 1, true, false, prod},
		},
		"renew-dns-wrong-address": {{"a.example.test", Failed, true, 1, 1, "connection", 1, true, false, prod}},
		// Pebble reports a name without addresses, or SERVFAIL, as a connection problem
		// "could not resolve URL": DNS trouble.
		"renew-dns-no-address": {{"a.example.test", Failed, true, 1, 1, "dns", 1, true, false, prod}},
		"renew-dns-servfail":   {{"www.a.example.test", Failed, true, 1, 1, "dns", 1, true, false, prod}},
		"issue-rejected":       {{"blocked-domain.example", Failed, false, 1, 1, "acme_server", 0, true, false, prod}},
		"issue-ca-down":        {{"b.example.test", Failed, false, 1, 1, "network", 0, true, false, "127.0.0.1:14009-dir"}},
		"issue-lock-held":      {{"c.example.test", Attempted, false, 0, 0, "", 0, false, true, ""}},
		"issue-staging":        {{"s.example.test", Renewed, false, 1, 0, "", 0, false, false, "127.0.0.1:14001-staging-dir"}},
	}
	// What differs per version, from the captures.
	perVersion := map[string][]want{
		// Caddy 2.6.2 (acmez 0.1.3) cannot read Pebble's HTTP-date Retry-After: the order of
		// www.a.example.test fails, then its retries (1 and 2 minutes later) fail with
		// "malformed - JWS verification error"; a.example.test got the seconds form.
		"caddy-2.6.2/issue-bad-retry-after": {
			{"a.example.test", Renewed, false, 1, 0, "", 0, false, false, ""},
			{"www.a.example.test", Failed, false, 3, 3, "acme_server", 0, true, false, prod},
		},
		// acmez 1.x retried the failed authorization and got through once; the renewal at
		// the next maintenance tick failed.
		"caddy-2.6.2/renew-dns-servfail": {{"www.a.example.test", Failed, true, 2, 1, "dns", 1, true, false, prod}},
	}
	for _, dir := range []string{"caddy-2.6.2", "caddy-2.11.9"} {
		files := map[string][]want{}
		for file, outcomes := range tests {
			files[file] = outcomes
		}
		for key, outcomes := range perVersion {
			if d, file, _ := strings.Cut(key, "/"); d == dir {
				files[file] = outcomes
			}
		}
		for file, outcomes := range files {
			path := filepath.Join("testdata", dir, file+".log")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := foldCaddy(string(data)).Outcomes
			if len(got) != len(outcomes) {
				t.Errorf("%s: %d outcomes, want %d: %+v", path, len(got), len(outcomes), got)
				continue
			}
			for i, w := range outcomes {
				o := got[i]
				g := want{o.Name, o.Result, o.Renewal, o.Attempts, o.Failures, o.Reason, len(o.Problems),
					!o.NextRetry.IsZero(), !o.LockWait.IsZero(), o.Issuer}
				if w.issuer == "" {
					g.issuer = ""
				}
				if g != w {
					t.Errorf("%s: %s\n got %+v\nwant %+v", path, w.name, g, w)
				}
			}
		}
	}
}

func TestParseCaddyLine(t *testing.T) {
	// zap's default float "ts" and durations, and the string forms a custom encoder writes.
	e, ok := parseCaddyLine([]byte(`{"level":"error","ts":1796196969.5216699,"logger":"tls.renew","msg":"will retry","error":"[a.example.test] Renew: x","attempt":1,"retrying_in":60,"elapsed":1.39,"max_duration":2592000}`))
	if !ok || !e.Time.Equal(time.Unix(1796196969, 521669900)) || e.RetryingIn != time.Minute || e.Logger != "tls.renew" {
		t.Errorf("float form: %+v %v", e, ok)
	}
	e, ok = parseCaddyLine([]byte(`{"level":"error","ts":"2026-12-02T07:33:44.5Z","logger":"tls.renew","msg":"will retry","retrying_in":"2m0s"}`))
	if !ok || !e.Time.Equal(time.Date(2026, 12, 2, 7, 33, 44, 5e8, time.UTC)) || e.RetryingIn != 2*time.Minute {
		t.Errorf("string form: %+v %v", e, ok)
	}
	// acmez 1.x and v3 log the problem as an object, 0.1 as problem_type + error.
	e, _ = parseCaddyLine([]byte(`{"ts":1,"logger":"tls.issuance.acme.acme_client","msg":"challenge failed","identifier":"a.example.test","problem":{"type":"urn:ietf:params:acme:error:dns","detail":"NXDOMAIN"}}`))
	if e.Problem == nil || *e.Problem != (Problem{"a.example.test", "dns", "NXDOMAIN"}) {
		t.Errorf("problem object: %+v", e.Problem)
	}
	e, _ = parseCaddyLine([]byte(`{"ts":1,"logger":"tls.issuance.acme.acme_client","msg":"challenge failed","identifier":"a.example.test","problem_type":"urn:ietf:params:acme:error:caa","error":"CAA record prevents issuance"}`))
	if e.Problem == nil || *e.Problem != (Problem{"a.example.test", "caa", "CAA record prevents issuance"}) {
		t.Errorf("problem_type: %+v", e.Problem)
	}
	for _, bad := range []string{``, `{`, `[]`, `{"msg":""}`, `{"ts":"x"`, `null`, `"msg"`} {
		if _, ok := parseCaddyLine([]byte(bad)); ok {
			t.Errorf("parseCaddyLine(%q) accepted", bad)
		}
	}
	for _, ts := range []string{`null`, `-1`, `1e9`, `"yesterday"`, `99999999999999999999`, `"1.5"`} {
		if e, ok := parseCaddyLine([]byte(`{"msg":"m","ts":` + ts + `}`)); ok {
			t.Errorf("ts %s accepted: %v", ts, e.Time)
		}
	}
}

// Garbage, huge lines and foreign loggers are counted or skipped, never fatal, and leave
// the outcomes of the good lines alone.
func TestCaddyFolderBadInput(t *testing.T) {
	good := `{"level":"info","ts":1,"logger":"tls.obtain","msg":"obtaining certificate","identifier":"a.example"}`
	text := strings.Join([]string{
		"not json at all",
		`{"level":"info","ts":1,"logger":"tls.obtain","msg":`, // cut short
		`{"level":"info","logger":"http.log.access","msg":"handled request","request":{"uri":"/` + strings.Repeat("a", 100) + `"}}`,
		`{"ts":1,"logger":"tls.obtain","msg":"obtaining certificate","identifier":"` + strings.Repeat("x", MaxLogLine) + `"}`,
		`{"logger":"tls.obtain","msg":"certificate obtained successfully","identifier":"a.example"}`, // no time
		"\x00\xff\xfe",
		good,
		"",
		`{"level":"info","ts":2,"logger":"tls.obtain","msg":"certificate obtained successfully","identifier":"a.example"}`,
	}, "\n")
	got := foldCaddy(text)
	if got.Garbage != 4 || got.Huge != 1 || len(got.Outcomes) != 1 || got.Outcomes[0].Result != Renewed {
		t.Errorf("garbage %d huge %d outcomes %+v", got.Garbage, got.Huge, got.Outcomes)
	}
}

// A failure reported by the issuer, then the retry loop, then the job queue is one failure;
// the next attempt's problems replace the last one's; a success clears the failure.
func TestCaddyFolderAttempts(t *testing.T) {
	var f CaddyFolder
	t0 := time.Unix(1796196864, 0).UTC()
	add := func(sec int, msg string, e caddyEntry) {
		e.Time, e.Msg = t0.Add(time.Duration(sec)*time.Second), msg
		if e.Logger == "" {
			e.Logger = "tls.renew"
		}
		f.add(e)
	}
	add(0, "acquiring lock", caddyEntry{Identifier: "a.example"})
	if o, _ := f.Outcome("a.example"); o.LockWait.IsZero() {
		t.Error("no lock wait while the lock is not acquired")
	}
	add(0, "lock acquired", caddyEntry{Identifier: "a.example"})
	add(0, "renewing certificate", caddyEntry{Identifier: "a.example"})
	add(1, "challenge failed", caddyEntry{Logger: "tls.issuance.acme.acme_client", Identifier: "a.example", Problem: &Problem{"a.example", "dns", "SERVFAIL"}})
	add(1, "could not get certificate from issuer", caddyEntry{Identifier: "a.example", Error: "no solvers available"})
	add(1, "will retry", caddyEntry{Error: "[a.example] Renew: no solvers available", RetryingIn: time.Minute})
	o, _ := f.Outcome("a.example")
	if o.Failures != 1 || o.Attempts != 1 || o.Reason != "dns" || !o.NextRetry.Equal(t0.Add(61*time.Second)) || !o.LockWait.IsZero() {
		t.Errorf("after the first failure: %+v", o)
	}
	// The job queue reports the failure again when the retry loop ends: no retry is due.
	add(1, "job failed", caddyEntry{Logger: "tls", Error: "[a.example] [a.example] Renew: no solvers available"})
	if o, _ := f.Outcome("a.example"); o.Failures != 1 || !o.NextRetry.IsZero() {
		t.Errorf("after the job's report: %+v", o)
	}
	add(61, "renewing certificate", caddyEntry{Identifier: "a.example"})
	if o, _ := f.Outcome("a.example"); o.Result != Attempted || o.Reason != "dns" || o.Failures != 1 || !o.NextRetry.IsZero() {
		t.Errorf("retrying keeps the last failure: %+v", o)
	}
	add(62, "challenge failed", caddyEntry{Logger: "tls.issuance.acme.acme_client", Identifier: "a.example", Problem: &Problem{"a.example", "unauthorized", "404"}})
	add(62, "could not get certificate from issuer", caddyEntry{Identifier: "a.example", Error: "HTTP 403 urn:ietf:params:acme:error:unauthorized - 404"})
	add(62, "job failed", caddyEntry{Logger: "tls", Error: "a.example: renewing certificate: context canceled"})
	o, _ = f.Outcome("a.example")
	if o.Failures != 2 || len(o.Problems) != 1 || o.Reason != "unauthorized" || o.Result != Failed {
		t.Errorf("after the second failure: %+v", o)
	}
	add(200, "renewing certificate", caddyEntry{Identifier: "a.example"})
	add(201, "certificate renewed successfully", caddyEntry{Identifier: "a.example", Issuer: "acme-staging-v02.api.letsencrypt.org-directory"})
	o, _ = f.Outcome("a.example")
	checkOutcome(t, o)
	if o.Result != Renewed || o.Failures != 0 || o.Reason != "" || o.Attempts != 3 || !o.LastFailure.Equal(t0.Add(62*time.Second)) {
		t.Errorf("after the success: %+v", o)
	}
	// A name another instance renewed meanwhile, and a start-up job error for an unseen name.
	add(300, "certificate appears to have been renewed already", caddyEntry{Identifier: "b.example"})
	add(300, "job failed", caddyEntry{Logger: "tls", Error: "x509: certificate has expired"})
	if all := f.Outcomes(); len(all) != 2 || all[1].Result != NotDue {
		t.Errorf("outcomes %+v", all)
	}
}

func TestACMEFoldBounds(t *testing.T) {
	var f CaddyFolder
	t0 := time.Unix(1796196864, 0).UTC()
	for i := range MaxOutcomes + 5 {
		f.add(caddyEntry{Time: t0, Logger: "tls.obtain", Msg: "obtaining certificate", Identifier: "n" + strconv.Itoa(i) + ".example"})
	}
	f.add(caddyEntry{Time: t0, Logger: "tls.obtain", Msg: "obtaining certificate", Identifier: strings.Repeat("a", MaxName+1)})
	if n := len(f.Outcomes()); n != MaxOutcomes || f.Dropped != 6 {
		t.Errorf("%d outcomes, %d dropped; want %d, 6", n, f.Dropped, MaxOutcomes)
	}
	var g CaddyFolder
	for range MaxProblems + 3 {
		g.add(caddyEntry{Time: t0, Logger: "tls.issuance.acme.acme_client", Msg: "challenge failed", Identifier: "a.example",
			Problem: &Problem{Type: "dns", Detail: strings.Repeat("é", MaxMessage)}})
	}
	g.add(caddyEntry{Time: t0, Logger: "tls.obtain", Msg: "could not get certificate from issuer", Identifier: "a.example", Error: strings.Repeat("x", 2*MaxMessage)})
	o, _ := g.Outcome("a.example")
	checkOutcome(t, o)
	details := 0
	for _, p := range o.Problems {
		details += len(p.Detail)
	}
	// The first problem's detail fills the name's MaxMessage; the other 102 are dropped.
	if len(o.Problems) != 1 || g.Dropped != MaxProblems+2 || details > MaxMessage || o.Reason != "dns" {
		t.Errorf("%d problems (details %d bytes), %d dropped, reason %q", len(o.Problems), details, g.Dropped, o.Reason)
	}
	var h CaddyFolder
	for range MaxProblems + 5 {
		h.add(caddyEntry{Time: t0, Logger: "tls.issuance.acme.acme_client", Msg: "challenge failed", Identifier: "b.example",
			Problem: &Problem{Type: "connection", Detail: "refused"}})
	}
	if o, _ := h.Outcome("b.example"); len(o.Problems) != MaxProblems || h.Dropped != 5 {
		t.Errorf("%d problems, %d dropped", len(o.Problems), h.Dropped)
	}
}

func FuzzCaddyFolder(f *testing.F) {
	// Small captures: the fuzzer mutates faster, and these hold every kind of line folded.
	for _, name := range []string{"caddy-2.6.2/renew-dns-wrong-address", "caddy-2.11.9/renew-dns-wrong-address", "caddy-2.6.2/issue-lock-held", "caddy-2.11.9/issue-staging"} {
		data, err := readTestdata("testdata/" + name + ".log")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(`{"logger":"tls.renew","msg":"will retry","error":"[a b c]","retrying_in":1e308,"ts":1.99999999999}`)
	f.Fuzz(func(t *testing.T, text string) {
		got := foldCaddy(text)
		for _, o := range got.Outcomes {
			checkOutcome(t, o)
		}
	})
}
