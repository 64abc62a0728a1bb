package logparse

import (
	"bytes"
	"strings"
	"time"
)

// legoRecord is one record of lego's log. lego logs through Go's log package with its default
// flags: "2006/01/02 15:04:05 " in local time, then "[INFO] " or "[WARN] " for its Infof and
// Warnf, nothing for Printf and Fatal; most messages then name the domains as "[a, b] ".
// Lines without a timestamp continue the record (multi-line errors, and what lego prints on
// stdout: the account banner, hook output, urfave/cli's "exit status N").
type legoRecord struct {
	Time    time.Time
	Level   string   // INFO, WARN, or "" (Printf, and every fatal error)
	Domains []string // the leading "[a, b]" list, at most MaxProblems names
	Message string   // the rest, continuation lines joined by "\n"
}

const legoStamp = "2006/01/02 15:04:05"

// maxRuns bounds the completed runs kept until the caller collects them with Runs.
const maxRuns = 1000

// parseLegoLine parses a line that starts a record; false for anything else (a continuation).
// Timestamps carry no zone; loc says which zone lego wrote them in.
func parseLegoLine(line string, loc *time.Location) (legoRecord, bool) {
	if len(line) < len(legoStamp)+1 || line[4] != '/' || line[len(legoStamp)] != ' ' {
		return legoRecord{}, false
	}
	t, err := time.ParseInLocation(legoStamp, line[:len(legoStamp)], loc)
	if err != nil {
		return legoRecord{}, false
	}
	r := legoRecord{Time: t}
	msg := line[len(legoStamp)+1:]
	for _, l := range []string{"INFO", "WARN"} {
		if m, ok := strings.CutPrefix(msg, "["+l+"] "); ok {
			r.Level, msg = l, m
		}
	}
	if rest, ok := strings.CutPrefix(msg, "["); ok {
		if list, m, ok := strings.Cut(rest, "] "); ok && !strings.Contains(list, "[") {
			for d := range strings.SplitSeq(list, ", ") {
				if len(r.Domains) == MaxProblems {
					break
				}
				r.Domains = append(r.Domains, d)
			}
			msg = m
		}
	}
	r.Message = cut(msg, MaxMessage)
	return r, true
}

// LegoRun is one lego invocation (run or renew): lego handles one certificate per invocation.
// Its log has no start line: a run ends with its outcome (saved, not due, or a fatal error)
// and the next record starts the next run.
type LegoRun struct {
	Start, End time.Time
	Name       string // the certificate: its first domain; "" when lego stopped before naming it
	Renewal    bool   // renew (lego named the hours remaining) rather than a first issue
	Result     Result // Attempted when the log ends (or lego was killed) mid-run
	Error      string
	Reason     string
	Problems   []Problem
	Hook       string    // the renew/deploy hook's error: the certificate was saved, the hook failed
	SleepUntil time.Time // lego waits out a random delay or an ARI renewal time
}

// LegoFolder folds lego's log lines into runs and per-certificate outcomes. Feed lines in
// order with Line; Flush when the log ends or went quiet (lego exited).
type LegoFolder struct {
	acmeFold
	loc     *time.Location
	pending legoRecord
	has     bool
	// settled: the last record was folded by Settle; a hook's "exit status N" may still follow.
	settled bool
	cur     *LegoRun
	started bool // cur logged "Obtaining … certificate": another one starts another run
	done    bool // cur has its outcome; only a hook failure may still follow
	runs    []LegoRun
	// Orphans counts continuation lines with no record to attach to; Cut counts records
	// longer than MaxMessage.
	Orphans uint64
	Cut     uint64
}

// NewLegoFolder reads timestamps in loc (lego writes local time).
func NewLegoFolder(loc *time.Location) *LegoFolder { return &LegoFolder{loc: loc} }

// Line feeds one line (without its newline).
func (f *LegoFolder) Line(line []byte) {
	if len(line) > MaxLogLine {
		line = line[:MaxLogLine]
	}
	if r, ok := parseLegoLine(string(line), f.loc); ok {
		f.flushRecord()
		f.pending, f.has, f.settled = r, true, false
		return
	}
	if !f.has && f.settled && f.cur != nil {
		if hook := legoHookError("\n" + string(line)); hook != "" {
			// ≤4.9: urfave/cli prints the failed renew hook's exit status after lego's last
			// record, which Settle already folded.
			f.settled = false
			f.hookFailed(f.cur.End, hook)
			return
		}
	}
	if !f.has {
		if len(bytes.TrimSpace(line)) > 0 {
			f.Orphans++
		}
		return
	}
	if len(f.pending.Message)+1+len(line) > MaxMessage {
		if len(f.pending.Message) < MaxMessage {
			f.Cut++
			f.pending.Message = cut(f.pending.Message+"\n"+string(line), MaxMessage)
		}
		return
	}
	f.pending.Message += "\n" + string(line)
}

// Flush folds the record being assembled and completes the run in progress; it returns the
// runs completed since the last call. Call it when lego has exited (a record may continue
// until then), not while the run waits out Current().SleepUntil.
func (f *LegoFolder) Flush() []LegoRun {
	f.flushRecord()
	f.endRun()
	return f.Runs()
}

// Settle folds the record being assembled, as when the log has gone quiet: its outcome counts
// now rather than when the next record starts. A hook's exit status printed after it still
// applies. Call it whenever a read of the log found nothing new; it reports whether it
// folded a record.
func (f *LegoFolder) Settle() bool {
	if !f.has {
		return false
	}
	f.flushRecord()
	f.settled = true
	return true
}

// Runs returns the runs completed since the last call (the run in progress is not among
// them: a hook failure may still follow a saved certificate).
func (f *LegoFolder) Runs() []LegoRun {
	r := f.runs
	f.runs = nil
	return r
}

// Current returns the run in progress, or nil. Callers must not keep it across Line calls.
func (f *LegoFolder) Current() *LegoRun { return f.cur }

func (f *LegoFolder) flushRecord() {
	if f.has {
		f.has = false
		f.add(f.pending)
	}
}

func (f *LegoFolder) endRun() {
	if f.cur != nil {
		f.runs = append(f.runs, *f.cur)
		if len(f.runs) > maxRuns {
			f.runs = f.runs[1:]
			f.Dropped++
		}
	}
	f.cur, f.started, f.done = nil, false, false
}

// add folds one record.
func (f *LegoFolder) add(r legoRecord) {
	msg, t := r.Message, r.Time
	first := ""
	if len(r.Domains) > 0 {
		first = r.Domains[0]
	}
	hook := legoHookError(msg)
	if f.done && hook == "" {
		f.endRun()
	}
	if f.cur == nil {
		f.cur = &LegoRun{Start: t, Result: Attempted}
	}
	run := f.cur
	if t.After(run.End) {
		run.End = t // local time can step back (DST, clock fixes): End is the latest
	}
	switch {
	case r.Level != "" && strings.HasPrefix(msg, "acme: Trying renewal with "):
		// renew: "[%s] acme: Trying renewal with %d hours remaining"
		if run.Renewal || f.started || run.Name != "" && run.Name != first {
			f.restart(t)
			run = f.cur
		}
		run.Name, run.Renewal = first, true
	case r.Level != "" && strings.HasPrefix(msg, "acme: Obtaining ") && strings.Contains(msg, "SAN certificate"):
		// "[%s] acme: Obtaining bundled SAN certificate" (also "SAN certificate", "… given a CSR")
		if f.started || run.Name != "" && run.Name != first {
			f.restart(t)
			run = f.cur
		}
		if run.Name == "" {
			run.Name = first
		}
		f.started = true
		f.attempt(run.Name, t, run.Renewal)
	case r.Level != "" && strings.HasPrefix(msg, "Server responded with a certificate"):
		// "[%s] Server responded with a certificate." (and "… for the preferred certificate chains %q.")
		if run.Name == "" {
			run.Name = first
		}
		run.Result, run.Error, run.Reason, run.Problems = Renewed, "", "", nil
		f.success(run.Name, t)
		f.done = true
		if hook != "" {
			f.hookFailed(t, hook) // ≤4.9: urfave/cli's "exit status N" continues this record
		}
	case strings.Contains(msg, ": no renewal."):
		// "[%s] The certificate expires in %d days, the number of days defined to perform the
		// renewal is %d: no renewal." and 4.30's "[%s] The certificate expires at %s, the
		// renewal can be performed in %s: no renewal."
		run.Name, run.Result = first, NotDue
		f.notDue(first, t)
		f.done = true
	case r.Level != "" && strings.HasPrefix(msg, "renewal: random delay of "):
		if d, err := time.ParseDuration(strings.TrimSpace(msg[len("renewal: random delay of "):])); err == nil && d > 0 && d < 24*time.Hour {
			run.SleepUntil = t.Add(d)
		}
	case r.Level != "" && strings.HasPrefix(msg, "Sleeping ") && strings.Contains(msg, " until renewal time "):
		// ARI (4.x with renewalInfo): "[%s] Sleeping %s until renewal time %s"
		d, _, _ := strings.Cut(msg[len("Sleeping "):], " ")
		if d, err := time.ParseDuration(d); err == nil && d > 0 {
			run.SleepUntil = t.Add(d)
		}
		if run.Name == "" {
			run.Name = first
		}
	case r.Level != "":
		// progress (solvers, authorizations, ARI answers), warnings about clean-up
	case hook != "":
		f.hookFailed(t, hook)
		f.done = true
	case isLegoInfo(msg):
	default:
		// Every other unlevelled record is one of lego's fatal errors: lego exits.
		f.failRun(t, msg, "")
		f.done = true
	}
}

// hookFailed records the hook's error: after a saved certificate the renewal stands (as
// certbot's deploy hooks), otherwise the run failed in its hook.
func (f *LegoFolder) hookFailed(t time.Time, msg string) {
	run := f.cur
	run.Hook = msg
	if run.Result != Renewed {
		f.failRun(t, msg, "hook")
	} else if e := f.get(run.Name, t); e != nil {
		e.Hook = msg
	}
}

// restart completes a run that logged no outcome (lego killed, or two runs interleaved) and
// starts the next at t.
func (f *LegoFolder) restart(t time.Time) {
	f.endRun()
	f.cur = &LegoRun{Start: t, End: t, Result: Attempted}
}

func (f *LegoFolder) failRun(t time.Time, msg, reason string) {
	run := f.cur
	run.Result, run.Error = Failed, msg
	run.Problems = legoProblems(msg)
	switch {
	case reason != "":
		run.Reason = reason
	case len(run.Problems) > 0:
		run.Reason = clientProblemsReason(run.Problems, msg)
	default:
		run.Reason = legoReason(msg)
	}
	if run.Name == "" {
		return
	}
	e := f.fail(run.Name, t, msg)
	if e == nil {
		return
	}
	e.Problems = nil
	for _, p := range run.Problems {
		f.problem(run.Name, t, p)
	}
	e.Reason = run.Reason
}

// legoHookError returns the hook's failure as lego reports it, "" for anything else: ≤4.9
// through urfave/cli ("exit status 1", no timestamp, so it continues the last record), later
// through log.Fatal ("wait command: exit status 1", "start command: …", "hook timed out").
func legoHookError(msg string) string {
	if strings.HasPrefix(msg, "wait command: ") || strings.HasPrefix(msg, "start command: ") ||
		strings.HasPrefix(msg, "create pipe: ") || msg == "hook timed out" {
		return msg
	}
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		if last := msg[i+1:]; strings.HasPrefix(last, "exit status ") || strings.HasPrefix(last, "signal: ") {
			return last
		}
	}
	return ""
}

// isLegoInfo: lego's unlevelled Printf messages that are not errors.
func isLegoInfo(msg string) bool {
	for _, p := range []string{"No key found for account ", "Saved key to ", "Please review the TOS at ",
		"Trying to revoke certificate for domain ", "Certificate was revoked.", "Certificate was archived"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// legoProblems reads the per-domain errors of "error: one or more domains had a problem:",
// one a line: "[d] acme: error: 400 :: urn:…:connection :: detail" (≤4.9) or
// "d: acme: error: 400 :: …" (errors.Join, later); and a single order-level problem
// ("acme: error: 400 :: POST :: <url> :: urn:…:rejectedIdentifier :: detail").
func legoProblems(msg string) []Problem {
	var out []Problem
	for line := range strings.SplitSeq(msg, "\n") {
		line = strings.TrimSpace(line)
		var domain string
		if rest, ok := strings.CutPrefix(line, "["); ok {
			domain, line, _ = strings.Cut(rest, "] ")
		} else if d, rest, ok := strings.Cut(line, ": acme: "); ok && !strings.ContainsAny(d, " \t") {
			domain, line = d, "acme: "+rest
		}
		i := strings.Index(line, "urn:ietf:params:acme:error:")
		if i < 0 || len(out) == MaxProblems {
			continue
		}
		typ, detail, _ := strings.Cut(line[i:], " :: ")
		out = append(out, Problem{Identifier: cut(domain, MaxName), Type: acmeProblemType(typ), Detail: detail})
	}
	return out
}

// legoReason classifies a fatal error without ACME problems; lego's own wordings first.
func legoReason(msg string) string {
	switch {
	case strings.HasPrefix(msg, "Account ") && strings.Contains(msg, " is not registered"),
		strings.HasPrefix(msg, "Could not complete registration"),
		strings.HasPrefix(msg, "Server requires External Account Binding"):
		return "account"
	case strings.HasPrefix(msg, "Could not create client: get directory at "):
		return "network" // lego could not fetch the CA's directory
	case strings.HasPrefix(msg, "Error while loading the certificate for domain "),
		strings.HasPrefix(msg, "Please specify "), strings.HasPrefix(msg, "No challenge selected"),
		strings.HasPrefix(msg, "Could not check/create path"), strings.HasPrefix(msg, "Unable to save "):
		return "config"
	}
	return clientReason(msg)
}
