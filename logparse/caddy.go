package logparse

import (
	"bytes"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// caddyEntry is one line of Caddy's JSON log (zap's JSON encoder), reduced to the fields the
// certificate managers (certmagic, acmez) log.
type caddyEntry struct {
	Time        time.Time
	Logger      string // e.g. tls.obtain, tls.renew, tls.issuance.acme.acme_client
	Msg         string
	Identifier  string        // "identifier"
	Identifiers []string      // "identifiers" (at most MaxProblems kept)
	Error       string        // "error", cut at MaxMessage
	Issuer      string        // "issuer": certmagic's issuer key
	CA          string        // "ca": the ACME directory URL (acmez and the ACME issuer log it)
	RetryingIn  time.Duration // "retrying_in" of "will retry"
	Problem     *Problem      // "problem" object (acmez 1.x, v3) or "problem_type" + "error" (acmez 0.1)
}

// caddyLine is the wire form: zap writes "ts" as float seconds by default, or as a string
// with a time encoder configured; durations as float seconds, or strings.
type caddyLine struct {
	TS          json.RawMessage `json:"ts"`
	Logger      string          `json:"logger"`
	Msg         string          `json:"msg"`
	Identifier  string          `json:"identifier"`
	Identifiers []string        `json:"identifiers"`
	Error       json.RawMessage `json:"error"`
	Issuer      string          `json:"issuer"`
	CA          string          `json:"ca"`
	RetryingIn  json.RawMessage `json:"retrying_in"`
	ProblemType string          `json:"problem_type"`
	Problem     *struct {
		Type       string `json:"type"`
		Detail     string `json:"detail"`
		Identifier struct {
			Value string `json:"value"`
		} `json:"identifier"`
	} `json:"problem"`
}

// parseCaddyLine decodes one log line. ok is false for anything that is not a JSON object
// with a message and a time.
func parseCaddyLine(line []byte) (e caddyEntry, ok bool) {
	var w caddyLine
	if err := json.Unmarshal(line, &w); err != nil || w.Msg == "" {
		return caddyEntry{}, false
	}
	t, ok := zapTime(w.TS)
	if !ok {
		return caddyEntry{}, false // zap stamps every entry; without a time it says nothing
	}
	e = caddyEntry{Time: t, Logger: w.Logger, Msg: cut(w.Msg, MaxMessage), Identifier: w.Identifier,
		Issuer: cut(w.Issuer, MaxName), CA: cut(w.CA, maxURL)}
	e.RetryingIn, _ = zapDuration(w.RetryingIn)
	e.Identifiers = w.Identifiers[:min(len(w.Identifiers), MaxProblems)]
	if len(w.Error) > 0 {
		var s string
		if json.Unmarshal(w.Error, &s) != nil {
			s = string(w.Error) // an error that marshals itself as an object
		}
		e.Error = cut(s, MaxMessage)
	}
	switch {
	case w.Problem != nil:
		e.Problem = &Problem{Identifier: w.Problem.Identifier.Value, Type: acmeProblemType(w.Problem.Type), Detail: w.Problem.Detail}
	case w.ProblemType != "":
		e.Problem = &Problem{Type: acmeProblemType(w.ProblemType), Detail: e.Error}
	}
	if e.Problem != nil && e.Problem.Identifier == "" {
		e.Problem.Identifier = e.Identifier
	}
	return e, true
}

// zapTime reads "ts": float seconds since the epoch (zap's default) or an RFC 3339 string.
func zapTime(raw json.RawMessage) (time.Time, bool) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	// Parse the decimal text: a float64 would round the nanoseconds differently per platform.
	s := string(raw)
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec < 0 || sec > 1<<36 || len(frac) > 0 && strings.ContainsAny(frac, "eE+-") {
		return time.Time{}, false
	}
	frac = (frac + "000000000")[:9]
	ns, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, ns).UTC(), true
}

// zapDuration reads a duration: float seconds (zap's default) or Go's string form.
func zapDuration(raw json.RawMessage) (time.Duration, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		d, err := time.ParseDuration(s)
		return d, err == nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > float64(math.MaxInt64/int64(time.Second)) {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// CaddyFolder folds Caddy's log into per-certificate outcomes. Caddy manages one certificate
// per name, so the name is the certificate. Feed lines in order with Line.
type CaddyFolder struct {
	acmeFold
	// Garbage counts lines that are not JSON log entries; Huge counts lines over MaxLogLine.
	Garbage uint64
	Huge    uint64
}

// tlsLogger is the prefix every certificate-management line's logger has in Caddy ("tls",
// "tls.obtain", "tls.renew", "tls.issuance.acme…", "tls.cache.maintenance").
var tlsLogger = []byte(`"logger":"tls`)

// Line folds one line (without its newline). Lines of other loggers (access logs, the HTTP
// app) are skipped without being decoded.
func (f *CaddyFolder) Line(line []byte) {
	if len(line) > MaxLogLine {
		f.Huge++
		return
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	if line[0] != '{' {
		f.Garbage++
		return
	}
	if !bytes.Contains(line, tlsLogger) {
		return
	}
	e, ok := parseCaddyLine(line)
	if !ok {
		f.Garbage++
		return
	}
	f.add(e)
}

// add folds one decoded entry.
func (f *CaddyFolder) add(e caddyEntry) {
	if e.Logger != "tls" && !strings.HasPrefix(e.Logger, "tls.") {
		return
	}
	t := e.Time
	switch e.Msg {
	case "acquiring lock":
		// The obtain/renew lock: another instance sharing the storage may hold it for long,
		// and Caddy logs nothing while it waits.
		if o := f.get(e.Identifier, t); o != nil && o.LockWait.IsZero() {
			o.LockWait = t
		}
	case "lock acquired":
		if o := f.get(e.Identifier, t); o != nil {
			o.LockWait = time.Time{}
		}
	case "obtaining certificate":
		f.attempt(e.Identifier, t, false)
	case "renewing certificate":
		f.attempt(e.Identifier, t, true)
	case "certificate obtained successfully", "certificate renewed successfully":
		if o := f.success(e.Identifier, t); o != nil && e.Issuer != "" {
			f.issuer(o, e.Issuer)
		}
	case "certificate already exists in storage", "certificate appears to have been renewed already":
		f.notDue(e.Identifier, t)
	case "trying to solve challenge", "waiting on internal rate limiter":
		// The CA of the attempt under way (Caddy 2.6's success line names no issuer).
		if e.CA == "" {
			return
		}
		names := e.Identifiers
		if e.Identifier != "" {
			names = []string{e.Identifier}
		}
		for _, n := range names {
			if o := f.byName[n]; o != nil {
				f.issuer(o, caddyIssuerKey(e.CA))
			}
		}
	case "challenge failed":
		if e.Problem != nil {
			f.problem(e.Identifier, t, *e.Problem)
		}
	case "could not get certificate from issuer":
		if o := f.fail(e.Identifier, t, e.Error); o != nil && e.Issuer != "" {
			f.issuer(o, e.Issuer)
		}
	case "will retry", "final attempt; giving up", "job failed",
		"final attempt; giving up until next scheduled renewal check finds the certificate still needs renewal":
		if strings.HasSuffix(e.Error, "context canceled") {
			return // Caddy stopping or reloading: the attempt was cut short, not failed
		}
		for _, n := range f.errorNames(e) {
			o := f.fail(n, t, e.Error)
			if o == nil {
				continue
			}
			if e.Msg == "will retry" && e.RetryingIn > 0 {
				o.NextRetry = t.Add(e.RetryingIn)
			} else {
				o.NextRetry = time.Time{}
			}
		}
	}
}

// errorNames: the names a retry-loop or job error is about. The retry loop's errors start
// with "[name] Obtain: " or "[name] Renew: ", the maintenance job's with "[name] [name] Renew: "
// (certmagic 0.17) or "[name] …", the start-up job's with "name: renewing certificate: "; the
// newest give up with "identifiers". The "name: " form is trusted only for names already seen.
func (f *CaddyFolder) errorNames(e caddyEntry) []string {
	if len(e.Identifiers) > 0 {
		return e.Identifiers
	}
	if rest, ok := strings.CutPrefix(e.Error, "["); ok {
		if list, _, ok := strings.Cut(rest, "]"); ok {
			names := strings.Fields(list)
			return names[:min(len(names), MaxProblems)]
		}
		return nil
	}
	if name, _, ok := strings.Cut(e.Error, ": "); ok && f.byName[name] != nil {
		return []string{name}
	}
	return nil
}

func (f *CaddyFolder) issuer(o *acmeEntry, key string) {
	o.Issuer = cut(key, MaxName)
}

// caddyIssuerKey is certmagic's ACMEIssuer.issuerKey (acmeissuer.go): the directory URL's
// host, then its path with slashes as hyphens ("127.0.0.1:14000-dir",
// "acme-v02.api.letsencrypt.org-directory"), the form the "issuer" field has.
func caddyIssuerKey(ca string) string {
	u, err := url.Parse(ca)
	if err != nil {
		return ca
	}
	key := u.Host
	if p := strings.Trim(strings.NewReplacer("/", "-", "\\", "-").Replace(u.Path), "-"); p != "" {
		key += "-" + p
	}
	return key
}
