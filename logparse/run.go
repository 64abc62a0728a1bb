package logparse

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Result is what happened to a lineage in one run.
type Result string

// Results of a lineage in a run.
const (
	Attempted Result = "attempted" // renewal started, no outcome logged (yet)
	NotDue    Result = "not_due"
	Renewed   Result = "renewed" // a certificate was issued (or, in a dry run, would have been)
	Failed    Result = "failed"
)

// Problem is one failed challenge as the CA reported it.
type Problem struct {
	Identifier string // the domain (or IP)
	Type       string // ACME problem type without prefix, e.g. "connection"
	Detail     string
}

// HookFailure is a hook that exited non-zero.
type HookFailure struct {
	Hook    string // pre, post, deploy, manual-auth, manual-cleanup
	Command string // empty when certbot's message does not name it
	Code    int
}

// Outcome is one lineage's fate in one run.
type Outcome struct {
	Lineage  string
	Time     time.Time // of the last record about the lineage
	Result   Result
	Error    string // certbot's error text when Result is Failed
	Reason   string // Classify(Error, Problems) when Result is Failed
	Problems []Problem
	Hooks    []HookFailure
}

// Run is one certbot invocation, from "certbot version:" to the next one.
type Run struct {
	Start   time.Time
	End     time.Time // time of its last record
	Version string
	Verb    string // renew, certonly, run, … ("run" when none is given, as certbot does)
	DryRun  bool
	// Names are the names the run asked for (-d/--domains, --cert-name); none for a renew of
	// every lineage. certbot does not log the verb, so this tells a run about some names from
	// one about all.
	Names []string
	// Failed is set when certbot exited with an error; Error/Reason say why.
	Failed bool
	Error  string
	Reason string
	// Problems are failed challenges reported while certbot named no lineage: a certonly (or
	// run) for a certificate that is not saved yet.
	Problems []Problem
	// SleepUntil is set while certbot waits out its random pre-renewal delay (a silent log).
	SleepUntil time.Time
	Outcomes   []Outcome
	// Hooks holds failures of hooks that belong to no single lineage (post hooks of `renew`).
	Hooks []HookFailure
	// causes holds the exceptions of certbot's final traceback, raised first first: when
	// certbot fails while handling an error (certbot 2.1 on Python 3.11 turns every ACME error
	// of a certonly into "AttributeError: can't set attribute"), the first is the real one.
	causes []string
}

// Outcome returns the lineage's outcome in the run, or nil.
func (r *Run) Outcome(lineage string) *Outcome {
	for i := range r.Outcomes {
		if r.Outcomes[i].Lineage == lineage {
			return &r.Outcomes[i]
		}
	}
	return nil
}

// Bounds on what one run may hold: a certbot host has at most a few thousand lineages, a
// certificate at most 100 names (Let's Encrypt's limit), each with one failed challenge, and
// an attempt runs three kinds of hook.
const (
	MaxOutcomes = 10000
	MaxProblems = 100
	MaxHooks    = 16
)

// Folder folds records into runs. Feed records in order with Add; a run is complete when the
// next one starts (Add returns it) or when the caller decides the log went quiet (Flush).
type Folder struct {
	cur      *Run
	lineage  string          // lineage being processed
	problems []Problem       // challenge problems reported since the lineage started
	hookKind string          // kind of the last hook started (0.x names no kind in its failure line)
	hookCmd  string          // and its command (1.16+ names no command in its failure line)
	index    map[string]int  // lineage → position in cur.Outcomes
	dropped  map[string]bool // lineages past MaxOutcomes, counted in Dropped
	// Unknown counts records seen outside any run (the log began mid-run).
	Unknown uint64
	// Dropped counts lineages, challenge problems and hook failures past the bounds above.
	Dropped uint64
}

// Current returns the run in progress (nil before the first run). Callers must not keep it
// across Add calls.
func (f *Folder) Current() *Run { return f.cur }

// Flush completes the run in progress and returns it.
func (f *Folder) Flush() *Run {
	r := f.cur
	if r != nil {
		f.finish()
	}
	f.cur, f.lineage, f.problems, f.hookKind, f.hookCmd, f.index, f.dropped = nil, "", nil, "", "", nil, nil
	return r
}

// Add folds one record and returns the previous run when this record starts a new one.
func (f *Folder) Add(rec Record) *Run {
	msg := rec.Message
	if v, ok := strings.CutPrefix(msg, "certbot version: "); ok && strings.HasSuffix(rec.Logger, "main") {
		done := f.Flush()
		f.cur = &Run{Start: rec.Time, End: rec.Time, Version: strings.TrimSpace(v), Verb: "run"}
		return done
	}
	if f.cur == nil {
		f.Unknown++
		return nil
	}
	f.cur.End = rec.Time
	if ignoredLogger(rec.Logger) { // the Assembler keeps no message for them
		return nil
	}
	if !f.cur.SleepUntil.IsZero() && !rec.Time.Before(f.cur.SleepUntil) {
		f.cur.SleepUntil = time.Time{}
	}
	// Since 1.10 display notifications are logged as "Notifying user: …"; 0.x–1.9 logged
	// reporter messages as "Reporting to user: …".
	if m, ok := strings.CutPrefix(msg, "Notifying user: "); ok {
		msg = m
	} else if m, ok := strings.CutPrefix(msg, "Reporting to user: "); ok {
		msg = m
	}
	f.message(rec, msg)
	return nil
}

func (f *Folder) message(rec Record, msg string) {
	r := f.cur
	marks := summaryMarks(msg)
	switch {
	case strings.HasPrefix(msg, "Hook '"):
		// 1.16+: "Hook '%s' reported error code %d" with %s = pre-hook, post-hook, deploy-hook,
		// and "Hook '--manual-auth-hook' for %s reported error code %d" (also cleanup). The
		// hook's output ("Hook '…' ran with output: …") is the hook's text, not certbot's: it
		// must not reach the cases below.
		name, rest, _ := strings.Cut(msg[len("Hook '"):], "'")
		if _, code, ok := strings.Cut(rest, " reported error code "); ok && name != "" {
			f.hook(HookFailure{Hook: strings.TrimSuffix(strings.TrimPrefix(name, "--"), "-hook"), Code: atoi(code)})
		}
	case strings.HasPrefix(msg, "Output from ") || strings.HasPrefix(msg, "Error output from "):
		// ≤1.15: a hook's output (after its failure line), not certbot's text.
	case strings.HasPrefix(msg, "Arguments: ") && strings.HasSuffix(rec.Logger, "main"):
		f.arguments(msg[len("Arguments: "):])
	case strings.HasPrefix(msg, "Processing ") && strings.HasSuffix(msg, ".conf"):
		// certbot drops the verb from the logged arguments; only `renew` processes confs.
		r.Verb = "renew"
		f.startLineage(lineageOfConf(msg[len("Processing "):]), rec.Time)
	case msg == "Cert not yet due for renewal" || msg == "Certificate not yet due for renewal":
		f.set(f.lineage, rec.Time, NotDue)
	case strings.HasPrefix(msg, "Cert is due for renewal") || strings.HasPrefix(msg, "Certificate is due for renewal") ||
		strings.HasPrefix(msg, "Auto-renewal forced") ||
		strings.HasPrefix(msg, "Cert") && strings.Contains(msg, "not due for renewal, but simulating renewal for dry run"):
		f.set(f.lineage, rec.Time, Attempted)
	case strings.HasPrefix(msg, "Non-interactive renewal: random delay of "):
		if secs, err := strconv.ParseFloat(strings.TrimSuffix(msg[len("Non-interactive renewal: random delay of "):], " seconds"), 64); err == nil && secs > 0 && secs < 86400 {
			r.SleepUntil = rec.Time.Add(time.Duration(secs * float64(time.Second)))
		}
	case strings.HasPrefix(msg, "Writing new config "):
		// "<config>/renewal/<lineage>.conf." for a new lineage, ".conf.new." on renewal.
		p := strings.TrimSuffix(strings.TrimSuffix(msg[len("Writing new config "):], "."), ".new")
		f.set(lineageOfConf(p), rec.Time, Renewed)
	case strings.HasPrefix(msg, "Dry run: skipping updating lineage at "):
		f.set(path.Base(strings.TrimSpace(msg[len("Dry run: skipping updating lineage at "):])), rec.Time, Renewed)
	case strings.HasPrefix(msg, "Failed to renew certificate "):
		// 1.11+: "Failed to renew certificate %s with error: %s"
		name, err, _ := strings.Cut(msg[len("Failed to renew certificate "):], " with error: ")
		f.fail(name, rec.Time, err, "")
	case strings.HasPrefix(msg, "Attempting to renew cert ("):
		// ≤1.10: "Attempting to renew cert (%s) from %s produced an unexpected error: %s. Skipping."
		rest := msg[len("Attempting to renew cert ("):]
		name, rest, _ := strings.Cut(rest, ") from ")
		_, err, _ := strings.Cut(rest, " produced an unexpected error: ")
		f.fail(name, rec.Time, strings.TrimSuffix(err, ". Skipping."), "")
	case strings.HasPrefix(msg, "Renewal configuration file "):
		f.confFailure(rec, msg)
	case strings.HasPrefix(msg, "An error occurred while parsing ") && strings.Contains(msg, "renewal"):
		p, _, _ := strings.Cut(msg[len("An error occurred while parsing "):], ". The error was ")
		f.fail(lineageOfConf(p), rec.Time, msg, "config")
	case strings.HasPrefix(msg, "The error was: ") && rec.Level == "ERROR":
		// 2.x splits "Renewal configuration file %s is broken." and "The error was: %s\nSkipping."
		if o := f.find(f.lineage); o != nil && o.Reason == "config" {
			o.Error += " " + strings.TrimSuffix(msg, "\nSkipping.")
		}
	case marks&markParsefail != 0:
		for _, p := range summaryPaths(msg, "(parsefail)") {
			if o := f.find(lineageOfConf(p)); o == nil || o.Result != Failed {
				f.fail(lineageOfConf(p), rec.Time, "renewal configuration is invalid", "config")
			}
		}
	case marks&markFailure != 0:
		for _, p := range summaryPaths(msg, "(failure)") {
			name := lineageOfLive(p)
			if o := f.find(name); o == nil || o.Result != Failed {
				f.fail(name, rec.Time, "renewal failed", "")
			}
		}
	case marks&markSuccess != 0:
		for _, p := range summaryPaths(msg, "(success)") {
			f.set(lineageOfLive(p), rec.Time, Renewed)
		}
	case marks&markSkipped != 0:
		for _, p := range summaryPaths(msg, "(skipped)") {
			p, _, _ = strings.Cut(p, " expires on ")
			f.set(lineageOfLive(p), rec.Time, NotDue)
		}
	case strings.Contains(msg, "Type:") && strings.Contains(msg, "Detail:"):
		if f.lineage == "" {
			r.Problems = appendBounded(f, r.Problems, MaxProblems, parseProblems(msg)...)
		} else {
			f.problems = appendBounded(f, f.problems, MaxProblems, parseProblems(msg)...)
		}
	case strings.HasPrefix(msg, "Running ") && strings.Contains(msg, "-hook command"):
		// "Running pre-hook command: %s" (0.x), "Running %s command: %s" with %s = deploy-hook (1.x+)
		var cmd string
		f.hookKind, cmd, _ = strings.Cut(msg[len("Running "):], "-hook command: ")
		f.hookCmd = strings.TrimSpace(cmd)
	case strings.HasPrefix(msg, "Hook command \""):
		// 0.x: 'Hook command "%s" returned error code %d'
		cmd, code := cutCode(msg[len("Hook command \""):], "\" returned error code ")
		f.hook(HookFailure{Hook: f.hookKind, Command: cmd, Code: code})
	case strings.Contains(msg, "-hook command \"") && strings.Contains(msg, "\" returned error code "):
		// 1.0–1.15: '%s command "%s" returned error code %d' with %s = pre-hook, …
		kind, rest, _ := strings.Cut(msg, "-hook command \"")
		cmd, code := cutCode(rest, "\" returned error code ")
		f.hook(HookFailure{Hook: kind, Command: cmd, Code: code})
	case isExitLogger(rec.Logger) && strings.HasPrefix(msg, "Exiting abnormally:"):
		r.Failed = true
		r.causes = tracebackExceptions(msg)
	case isExitLogger(rec.Logger) && (rec.Level == "ERROR" || rec.Level == "CRITICAL"):
		r.Failed = true
		if msg != "An unexpected error occurred:" {
			r.Error = msg
		}
	case msg == "Another instance of Certbot is already running.":
		r.Failed, r.Error = true, msg
	}
}

// ignoredLogger: ACME and HTTP traffic dumps are most of the log and carry no outcome
// (certbot reports every failure through its own loggers).
func ignoredLogger(name string) bool {
	return strings.HasPrefix(name, "acme.") || strings.HasPrefix(name, "urllib3.")
}

// isExitLogger: certbot's final error goes through log.py's except hook.
func isExitLogger(name string) bool {
	return name == "certbot.log" || name == "certbot._internal.log"
}

func (f *Folder) arguments(list string) {
	r := f.cur
	args := pyList(list)
	for i, a := range args {
		flag, val, inline := strings.Cut(a, "=")
		if !inline && i+1 < len(args) {
			val = args[i+1]
		}
		switch {
		case a == "--dry-run":
			r.DryRun = true
		case verbs[a] && r.Verb == "run":
			r.Verb = a
		case flag == "-d" || flag == "--domains" || flag == "--domain" || flag == "--cert-name":
			for _, n := range strings.Split(val, ",") {
				if n = strings.ToLower(strings.TrimSpace(n)); n != "" && len(r.Names) < MaxProblems && !slices.Contains(r.Names, n) {
					r.Names = append(r.Names, n)
				}
			}
		}
	}
}

var verbs = map[string]bool{"renew": true, "certonly": true, "run": true, "certificates": true,
	"delete": true, "revoke": true, "register": true, "unregister": true, "update_account": true,
	"install": true, "rollback": true, "config_changes": true, "plugins": true, "update_symlinks": true,
	"enhance": true, "show_account": true, "reconfigure": true, "reregister": true}

// pyList splits Python's repr of a list of strings: ['renew', '--dry-run'].
func pyList(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		q := s[i]
		if q != '\'' && q != '"' {
			continue
		}
		var b strings.Builder
		for i++; i < len(s) && s[i] != q; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		out = append(out, b.String())
	}
	return out
}

func (f *Folder) startLineage(name string, t time.Time) {
	f.lineage, f.problems = name, nil
	if f.find(name) == nil {
		if o := f.outcome(name); o != nil {
			o.Time = t
		}
	}
}

// outcome returns the lineage's outcome, creating it; nil for an unknown lineage and for a
// new one past MaxOutcomes.
func (f *Folder) outcome(name string) *Outcome {
	if name == "" {
		return nil
	}
	if o := f.find(name); o != nil {
		return o
	}
	if len(f.cur.Outcomes) >= MaxOutcomes {
		// Once per lineage: the run's summary names each lineage again. The set of names
		// counted is bounded like the outcomes; past that, every record counts.
		if !f.dropped[name] {
			f.Dropped++
			if len(f.dropped) < MaxOutcomes {
				if f.dropped == nil {
					f.dropped = map[string]bool{}
				}
				f.dropped[name] = true
			}
		}
		return nil
	}
	if f.index == nil {
		f.index = map[string]int{}
	}
	f.index[name] = len(f.cur.Outcomes)
	f.cur.Outcomes = append(f.cur.Outcomes, Outcome{Lineage: name, Result: Attempted})
	return &f.cur.Outcomes[len(f.cur.Outcomes)-1]
}

// find is Run.Outcome through the index, so a run with many lineages folds in linear time.
func (f *Folder) find(name string) *Outcome {
	if i, ok := f.index[name]; ok {
		return &f.cur.Outcomes[i]
	}
	return nil
}

// appendBounded appends what fits under limit and counts the rest as dropped.
func appendBounded[T any](f *Folder, list []T, limit int, items ...T) []T {
	n := min(len(items), max(limit-len(list), 0))
	f.Dropped += uint64(len(items) - n)
	return append(list, items[:n]...)
}

func (f *Folder) set(name string, t time.Time, res Result) {
	o := f.outcome(name)
	if o == nil {
		return
	}
	o.Time = t
	if o.Result != Failed {
		o.Result = res
		if f.lineage == "" {
			f.lineage = name // certonly names its lineage only when saving it
		}
	}
}

func (f *Folder) fail(name string, t time.Time, err, reason string) {
	o := f.outcome(name)
	if o == nil {
		return
	}
	o.Time, o.Result, o.Error = t, Failed, err
	switch {
	case name == f.lineage:
		o.Problems = append(o.Problems[:0:0], f.problems...)
	case f.lineage == "":
		// ≤1.9 names the lineage only now: the problems reported so far are its own.
		o.Problems, f.cur.Problems = f.cur.Problems, nil
	}
	switch {
	case reason != "":
		o.Reason = reason
	case len(o.Problems) > 0:
		o.Reason = hookCaused(problemsReason(o.Problems), o.Hooks)
	default:
		o.Reason = hookCaused(Classify(err), o.Hooks)
	}
}

func (f *Folder) confFailure(rec Record, msg string) {
	// "Renewal configuration file %s is broken." / "… lacks renewalparams. Skipping." /
	// "… does not specify an authenticator. Skipping." / "… references a cert(ificate) that
	// contains an invalid domain name. …" / "%s (cert: %s) produced an unexpected error: %s. Skipping."
	rest := msg[len("Renewal configuration file "):]
	end := strings.IndexByte(rest, ' ')
	if end < 0 {
		return
	}
	name := lineageOfConf(strings.TrimSuffix(rest[:end], "."))
	f.lineage = name
	f.fail(name, rec.Time, msg, "config")
}

func (f *Folder) hook(h HookFailure) {
	if h.Command == "" && h.Hook == f.hookKind {
		h.Command = f.hookCmd
	}
	switch {
	case h.Hook == "post" && f.cur.Verb == "renew", f.lineage == "":
		// renew runs post hooks once, after all lineages.
		f.cur.Hooks = appendBounded(f, f.cur.Hooks, MaxHooks, h)
	default:
		if o := f.outcome(f.lineage); o != nil {
			o.Time = f.cur.End
			o.Hooks = appendBounded(f, o.Hooks, MaxHooks, h)
		}
	}
}

// finish gives run-level results once the run is over.
func (f *Folder) finish() {
	r := f.cur
	if !r.Failed {
		return
	}
	switch {
	case len(r.causes) > 1 && (r.Error == "" || Classify(r.Error) == "unknown"):
		r.Error = r.causes[0] // the error certbot failed on, not the one it raised handling it
	case r.Error == "" && len(r.causes) > 0:
		r.Error = r.causes[len(r.causes)-1] // --debug logs the traceback at ERROR, no error line
	case r.Error == "":
		r.Error = "certbot exited with an error"
	}
	r.Reason = classifyRun(r)
}

// classifyRun says why a failed run failed: its lineages' reasons first, else the challenges
// it reported, else its final error and the exceptions behind it.
func classifyRun(r *Run) string {
	for _, o := range r.Outcomes {
		if o.Result == Failed {
			return o.Reason
		}
	}
	if strings.HasSuffix(r.Error, " parse failure(s)") && !strings.HasSuffix(r.Error, ", 0 parse failure(s)") {
		return "config"
	}
	reason := problemsReason(r.Problems)
	if reason == "" {
		reason = Classify(strings.Join(append([]string{r.Error}, r.causes...), "\n"))
	}
	return hookCaused(reason, r.Hooks)
}

// Classify gives the run's failure reason as it stands (also while in progress).
func (r *Run) Classify() string { return classifyRun(r) }

func cutCode(s, sep string) (string, int) {
	head, tail, ok := strings.Cut(s, sep)
	if !ok {
		return "", 0
	}
	return head, atoi(tail)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// Bounds on what a traceback contributes: certbot's chains are two or three exceptions deep.
const (
	maxCauses     = 4
	maxCauseBytes = 4096
)

// tracebackExceptions returns the exception lines of the Python traceback(s) in text (each
// with the rest of its message), raised first first.
func tracebackExceptions(text string) []string {
	var out []string
	var cur strings.Builder
	inTrace, inExc := false, false
	end := func() {
		if inExc && len(out) < maxCauses {
			out = append(out, strings.TrimSpace(cur.String()))
		}
		cur.Reset()
		inExc = false
	}
	for _, line := range strings.Split(text, "\n") {
		switch {
		case line == "Traceback (most recent call last):":
			end()
			inTrace = true
		case line == "During handling of the above exception, another exception occurred:" ||
			line == "The above exception was the direct cause of the following exception:":
			end()
			inTrace = false
		case inExc:
			if cur.Len()+len(line) < maxCauseBytes {
				cur.WriteString("\n" + line)
			}
		case inTrace && line != "" && line[0] != ' ':
			inExc = true
			cur.WriteString(line[:min(len(line), maxCauseBytes)])
		}
	}
	end()
	return out
}

// summaryPaths extracts "<path> (category)" entries of a renewal summary.
// The categories of certbot's end-of-run summary, as marks of the one pass over a message
// that finds them: most messages carry none, and four searches of every message were a
// sixth of a replay.
const (
	markParsefail = 1 << iota
	markFailure
	markSuccess
	markSkipped
)

func summaryMarks(msg string) int {
	marks := 0
	for i := strings.IndexByte(msg, '('); i >= 0; i = strings.IndexByte(msg, '(') {
		msg = msg[i+1:]
		switch {
		case strings.HasPrefix(msg, "parsefail)"):
			marks |= markParsefail
		case strings.HasPrefix(msg, "failure)"):
			marks |= markFailure
		case strings.HasPrefix(msg, "success)"):
			marks |= markSuccess
		case strings.HasPrefix(msg, "skipped)"):
			marks |= markSkipped
		}
	}
	return marks
}

func summaryPaths(msg, category string) []string {
	var out []string
	for _, line := range strings.Split(msg, "\n") {
		if p, ok := strings.CutSuffix(strings.TrimSpace(line), " "+category); ok && p != "" {
			out = append(out, p)
		}
	}
	return out
}

// lineageOfConf: <config>/renewal/<lineage>.conf → <lineage>.
func lineageOfConf(p string) string {
	return strings.TrimSuffix(path.Base(strings.TrimSpace(p)), ".conf")
}

// lineageOfLive: <config>/live/<lineage>/fullchain.pem → <lineage>.
func lineageOfLive(p string) string {
	return path.Base(path.Dir(strings.TrimSpace(p)))
}

// parseProblems reads certbot's failed-challenge report: blocks of "Domain:" (≤4.x) or
// "Identifier:" (5.x), "Type:" and "Detail:" lines.
func parseProblems(msg string) []Problem {
	var out []Problem
	var p Problem
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Domain:") || strings.HasPrefix(line, "Identifier:"):
			_, v, _ := strings.Cut(line, ":")
			p = Problem{Identifier: strings.TrimSpace(v)}
		case strings.HasPrefix(line, "Type:"):
			p.Type = strings.TrimSpace(line[len("Type:"):])
			for _, prefix := range []string{"urn:ietf:params:acme:error:", "urn:acme:error:"} {
				p.Type = strings.TrimPrefix(p.Type, prefix)
			}
		case strings.HasPrefix(line, "Detail:"):
			p.Detail = strings.TrimSpace(line[len("Detail:"):])
			out = append(out, p)
			p = Problem{}
		}
	}
	return out
}
