package logparse

import (
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// ACMEOutcome is what a long-running or cron-run ACME client's log (Caddy, lego) says about
// one certificate, named by its first name: the latest attempt and how it ended, and what the
// failures since the last success were. Result uses the certbot vocabulary: Attempted while an
// attempt is under way (or the log ends before it does), Renewed, Failed, NotDue.
type ACMEOutcome struct {
	Name        string
	Time        time.Time // of the last record about the name
	Result      Result
	Renewal     bool // the last attempt renews an existing certificate (not a first issue)
	LastAttempt time.Time
	LastSuccess time.Time // zero when the log shows none
	LastFailure time.Time
	// Attempts counts attempts seen; Failures counts failed attempts since the last success
	// (the retries a success would end). Error, Reason and Problems describe the last failure
	// and are cleared by a success: Reason is set exactly when Failures > 0.
	Attempts int
	Failures int
	Error    string
	Reason   string
	Problems []Problem
	// NextRetry is when the client said it would try again (Caddy's "will retry").
	NextRetry time.Time
	// LockWait is set while the client waits for a lock held by another instance.
	LockWait time.Time
	// Issuer is Caddy's issuer key (e.g. acme-v02.api.letsencrypt.org-directory); whether it
	// is a staging CA is the inventory's one staging rule to say, not the parser's.
	Issuer string
	Hook   string // lego: the renew/deploy hook's error after a renewal, if it failed
}

// MaxMessage bounds the error text kept per outcome; MaxName bounds a certificate name;
// MaxLogLine bounds one log line: Caddy's longer lines are counted in CaddyFolder.Huge and
// skipped, lego's are cut (a reader may pass only the first MaxLogLine+1 bytes of a line).
const (
	MaxMessage = 4096
	MaxName    = 255
	MaxLogLine = 64 << 10
)

// acmeFold holds the per-name outcomes shared by the Caddy and lego folders.
type acmeFold struct {
	byName map[string]*acmeEntry
	// Dropped counts records about names past MaxOutcomes or longer than MaxName, problems
	// past MaxProblems (or past MaxMessage bytes of details), and, for lego, runs not
	// collected with Runs past maxRuns.
	Dropped uint64
}

type acmeEntry struct {
	ACMEOutcome
	counted bool // the current attempt's failure is counted in Failures
	stale   bool // Problems are the previous attempt's: the next problem replaces them
}

// Outcomes returns every name's outcome, sorted by name. The slice is the caller's.
func (f *acmeFold) Outcomes() []ACMEOutcome {
	out := make([]ACMEOutcome, 0, len(f.byName))
	for _, e := range f.byName {
		out = append(out, e.copy())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Outcome returns a copy of the name's outcome, or false.
func (f *acmeFold) Outcome(name string) (ACMEOutcome, bool) {
	e, ok := f.byName[name]
	if !ok {
		return ACMEOutcome{}, false
	}
	return e.copy(), true
}

func (e *acmeEntry) copy() ACMEOutcome {
	c := e.ACMEOutcome
	c.Problems = append([]Problem(nil), e.Problems...)
	return c
}

// get returns the name's entry, creating it; nil for an empty or overlong name and for a new
// one past MaxOutcomes.
func (f *acmeFold) get(name string, t time.Time) *acmeEntry {
	if name == "" {
		return nil
	}
	e := f.byName[name]
	if e == nil {
		if len(name) > MaxName || len(f.byName) >= MaxOutcomes {
			f.Dropped++
			return nil
		}
		if f.byName == nil {
			f.byName = map[string]*acmeEntry{}
		}
		e = &acmeEntry{ACMEOutcome: ACMEOutcome{Name: name, Result: Attempted}}
		f.byName[name] = e
	}
	if t.After(e.Time) {
		e.Time = t
	}
	return e
}

func (f *acmeFold) attempt(name string, t time.Time, renewal bool) *acmeEntry {
	e := f.get(name, t)
	if e == nil {
		return nil
	}
	e.Result, e.Renewal, e.LastAttempt, e.LockWait, e.NextRetry = Attempted, renewal, t, time.Time{}, time.Time{}
	e.Attempts++
	e.counted, e.stale = false, true
	return e
}

func (f *acmeFold) success(name string, t time.Time) *acmeEntry {
	e := f.get(name, t)
	if e == nil {
		return nil
	}
	e.Result, e.LastSuccess, e.Failures, e.Error, e.Reason, e.Problems = Renewed, t, 0, "", "", nil
	e.NextRetry, e.LockWait, e.Hook, e.counted = time.Time{}, time.Time{}, "", false
	return e
}

// notDue records that no attempt was needed (not due, or already renewed by another instance).
func (f *acmeFold) notDue(name string, t time.Time) {
	if e := f.get(name, t); e != nil {
		e.Result, e.Failures, e.Error, e.Reason, e.Problems = NotDue, 0, "", "", nil
		e.NextRetry, e.LockWait, e.counted = time.Time{}, time.Time{}, false
	}
}

// problem adds a challenge problem to the name's current attempt.
func (f *acmeFold) problem(name string, t time.Time, p Problem) {
	e := f.get(name, t)
	if e == nil {
		return
	}
	if e.stale {
		e.Problems, e.stale = nil, false
	}
	// The details of one name's problems share MaxMessage, like its error text: a hostile log
	// with MaxOutcomes names then holds a few tens of MB at most.
	room := MaxMessage
	for _, q := range e.Problems {
		room -= len(q.Detail)
	}
	if len(e.Problems) >= MaxProblems || room <= 0 && p.Detail != "" {
		f.Dropped++
		return
	}
	p.Identifier, p.Detail = cut(p.Identifier, MaxName), cut(p.Detail, room)
	e.Problems = append(e.Problems, p)
	if e.counted {
		e.Reason = clientProblemsReason(e.Problems, e.Error)
	}
}

// fail ends the name's current attempt as failed. Caddy reports one failure at several
// levels (issuer, retry loop, job): later reports of the same attempt count once and only
// fill in an error the first left empty.
func (f *acmeFold) fail(name string, t time.Time, msg string) *acmeEntry {
	e := f.get(name, t)
	if e == nil {
		return nil
	}
	if !e.counted {
		e.counted = true
		e.Failures++
		e.LastFailure, e.Error = t, cut(msg, MaxMessage)
		if e.stale {
			e.Problems, e.stale = nil, false // the previous attempt's problems would mislead
		}
	} else if e.Error == "" {
		e.Error = cut(msg, MaxMessage)
	}
	e.Result = Failed
	e.Reason = clientProblemsReason(e.Problems, e.Error)
	return e
}

// problemsReason: the most actionable reason among the challenge problems, else the error's.
func clientProblemsReason(problems []Problem, err string) string {
	if len(problems) == 0 {
		return clientReason(err)
	}
	reason := classifyClientProblem(problems[0])
	for _, p := range problems[1:] {
		if r := classifyClientProblem(p); rank(r) < rank(reason) {
			reason = r
		}
	}
	return reason
}

// classifyClientProblem is ClassifyProblem that also reads Pebble's "could not resolve URL"
// (a name without addresses, or SERVFAIL), reported as a connection problem, as DNS trouble.
func classifyClientProblem(p Problem) string {
	r := ClassifyProblem(p)
	if (r == "connection" || r == "unauthorized") && strings.Contains(strings.ToLower(p.Detail), "could not resolve") {
		return "dns"
	}
	return r
}

// goNetHints are Go's net/http and crypto/tls wordings for failing to reach the CA.
var goNetHints = []string{"dial tcp", "dial udp", "i/o timeout", "tls handshake timeout",
	"connection refused", "no route to host", "context deadline exceeded", "x509: ",
	"tls: failed to verify certificate", "server gave http response to https client"}

// clientReason is Classify for a Go ACME client's error: an error without an ACME problem
// type that shows the CA unreachable is "network".
func clientReason(text string) string {
	r := Classify(text)
	if r == "unknown" && containsAny(strings.ToLower(text), goNetHints) {
		return "network"
	}
	return r
}

// acmeProblemType reads an ACME problem type ("urn:ietf:params:acme:error:connection" or the
// bare "connection") into Problem's form.
func acmeProblemType(s string) string {
	for _, prefix := range []string{"urn:ietf:params:acme:error:", "urn:acme:error:"} {
		if t, ok := strings.CutPrefix(s, prefix); ok {
			return t
		}
	}
	return s
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
