package certbot

import (
	"cmp"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

// Snapshot is the certbot source's state at one moment. It is never modified once published.
type Snapshot struct {
	Lineages       []Lineage // sorted by name
	HasRun         bool      // a certbot run was seen
	LastRun        time.Time // start of the newest run
	LastRunSuccess bool
	Log            string            // the log followed
	Runs           map[string]uint64 // by result: success, failure (completed runs)
	LogLines       uint64
	LogBytes       uint64
	LogUnparsed    uint64 // lines that started no record and continued none, and records outside any run
	Status         []source.Status
}

// Lineage is one certificate lineage's renewal state.
type Lineage struct {
	Name   string
	Domain string
	// Zero times mean "never seen in the log".
	LastAttempt, LastSuccess, LastRenewal time.Time
	// FailureReason is "" before any attempt, "none" after a success, else a logparse.Reasons value.
	FailureReason  string
	FailureMessage string
	Problems       []logparse.Problem
	// HookFailures that stand: the deploy hook's until a renewal deploys cleanly, pre/post until
	// the next attempt that runs them.
	HookFailures []logparse.HookFailure
	Attempts     map[string]uint64 // renewed, not_due, failed
	// Failures counts the failed attempts since the last one that did not fail.
	Failures int
	// Conf is nil when renewal/<name>.conf is missing or unreadable.
	Conf *RenewalConf
}

type lineageState struct {
	lastAttempt, lastSuccess, lastRenewal time.Time
	reason, message                       string
	problems                              []logparse.Problem
	hooks                                 []logparse.HookFailure
	attempts                              map[string]uint64
	failures                              int
}

type state struct {
	lineages       map[string]*lineageState
	hasRun         bool
	lastRun        time.Time
	lastRunSuccess bool
	runs           map[string]uint64
}

func newState() state {
	return state{lineages: map[string]*lineageState{}, runs: map[string]uint64{"success": 0, "failure": 0}}
}

func (s *state) clone() state {
	c := *s
	c.runs = maps.Clone(s.runs)
	c.lineages = make(map[string]*lineageState, len(s.lineages))
	for k, v := range s.lineages {
		l := *v
		l.attempts = maps.Clone(v.attempts)
		c.lineages[k] = &l
	}
	return c
}

// bound forgets lineages past limit (all lineages count), oldest attempt first then by name,
// keeping those in keep: the lineages with a renewal conf, exported whatever the log says. It
// returns how many were forgotten.
func (s *state) bound(limit int, keep map[string]bool) int {
	if len(s.lineages) <= limit {
		return 0
	}
	var gone []string
	for name := range s.lineages {
		if !keep[name] {
			gone = append(gone, name)
		}
	}
	slices.SortFunc(gone, func(a, b string) int {
		return cmp.Or(s.lineages[a].lastAttempt.Compare(s.lineages[b].lastAttempt), strings.Compare(a, b))
	})
	gone = gone[:min(len(gone), len(s.lineages)-limit)]
	for _, name := range gone {
		delete(s.lineages, name)
	}
	return len(gone)
}

func (s *state) lineage(name string) *lineageState {
	l := s.lineages[name]
	if l == nil {
		l = &lineageState{attempts: map[string]uint64{}}
		s.lineages[name] = l
	}
	return l
}

// applyRun folds one run into the state. complete says the run is over: only then are its
// counters added and are lineages left without an outcome judged by the run's result.
// Dry runs change no lineage: nothing was issued and the real certificate is untouched.
func (s *state) applyRun(r *logparse.Run, confLineages []string, complete bool) {
	failed := r.Failed
	reason := ""
	if failed {
		reason = r.Classify()
	}
	s.hasRun, s.lastRun, s.lastRunSuccess = true, r.Start, !failed
	if complete {
		if failed {
			s.runs["failure"]++
		} else {
			s.runs["success"]++
		}
	}
	if r.DryRun {
		return
	}
	for _, o := range r.Outcomes {
		l := s.lineage(o.Lineage)
		l.lastAttempt = o.Time
		res := o.Result
		if res == logparse.Attempted {
			if !complete || !failed {
				continue // still running, or no outcome logged
			}
			res = logparse.Failed
			o.Reason, o.Error = reason, r.Error
		}
		hooks := o.Hooks
		if res != logparse.NotDue {
			hooks = append(slices.Clone(hooks), r.Hooks...) // renew's post hooks cover every attempt
		}
		var ran []string
		if complete {
			ran = ranHooks(res, o.Reason) // only a finished run shows that a hook did not fail
		}
		l.hooks, l.problems = mergeHooks(l.hooks, hooks, ran), nil
		switch res {
		case logparse.Failed:
			l.reason, l.message, l.problems = o.Reason, o.Error, o.Problems
		case logparse.Renewed:
			l.lastRenewal = o.Time
			fallthrough
		default:
			// The renewal (or the not-due check) worked. A hook that failed around it stands
			// on its own (certbot_hook_failure, CertbotHookFailed): one fault, one page.
			l.reason, l.message = "none", ""
			l.lastSuccess = o.Time
		}
		if complete {
			l.attempts[string(res)]++
			if res == logparse.Failed {
				l.failures++
			} else {
				l.failures = 0
			}
		}
	}
	if failed && len(r.Outcomes) == 0 && (len(r.Names) > 0 || len(r.Problems) == 0) {
		// certbot stopped before any lineage (locked, CA unreachable): none was renewed, and
		// no hook ran, so earlier hook failures stand. A run that asked for some names (a
		// certonly, renew --cert-name) failed only those lineages; one for a new name fails
		// none. A run about no name whose challenges failed was a certonly for a new one.
		for _, name := range confLineages {
			if len(r.Names) > 0 && !slices.Contains(r.Names, name) {
				continue
			}
			l := s.lineage(name)
			l.reason, l.message, l.problems = reason, r.Error, nil
		}
	}
}

// hookKinds is the order hook failures are kept in.
var hookKinds = []string{"pre", "post", "deploy", "manual-auth", "manual-cleanup"}

// attemptHooks are the hooks every attempt that gets past reading its conf runs: all but deploy.
var attemptHooks = []string{"pre", "post", "manual-auth", "manual-cleanup"}

// ranHooks says which hooks a finished attempt ran: renew runs pre and post hooks around
// every attempt (not for a broken renewal conf), deploy hooks only after an issuance, and no
// hook for a not-due check.
func ranHooks(res logparse.Result, reason string) []string {
	switch {
	case res == logparse.Renewed:
		return hookKinds
	case res == logparse.Failed && reason != "config":
		return attemptHooks
	}
	return nil
}

// mergeHooks returns the attempt's hook failures plus the earlier failures of the hooks it did
// not run. A failed deploy hook thus stands until an issuance whose deploy hook does not
// fail: until then the server may still use the previous certificate.
func mergeHooks(prev, cur []logparse.HookFailure, ran []string) []logparse.HookFailure {
	var out []logparse.HookFailure
	for _, kind := range hookKinds {
		n := len(out)
		for _, h := range cur {
			if h.Hook == kind {
				out = append(out, h)
			}
		}
		if len(out) == n && !slices.Contains(ran, kind) {
			for _, h := range prev {
				if h.Hook == kind {
					out = append(out, h)
				}
			}
		}
	}
	for _, h := range cur {
		if !slices.Contains(hookKinds, h.Hook) {
			out = append(out, h) // a kind certbot's message did not name: keep it, unmerged
		}
	}
	return out
}

// confNames are the lineages with a renewal conf, readable or broken.
func (s *Source) confNames() map[string]bool {
	names := map[string]bool{}
	for n := range s.confs {
		names[n] = true
	}
	for p := range s.badConfs {
		names[strings.TrimSuffix(filepath.Base(p), ".conf")] = true
	}
	return names
}

func (s *Source) snapshot(st state) *Snapshot {
	names := s.confNames()
	if !s.confsOK {
		// Without the renewal directory, keep every lineage the log knows.
		for n := range st.lineages {
			names[n] = true
		}
	}
	snap := &Snapshot{
		HasRun: st.hasRun, LastRun: st.lastRun, LastRunSuccess: st.lastRunSuccess,
		Runs: maps.Clone(st.runs), Log: s.cfg.LogFile,
		LogLines: s.tail.Lines(), LogBytes: s.tail.Bytes(),
		LogUnparsed: s.asm.Orphans + s.fold.Unknown,
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		l := Lineage{Name: name, Domain: s.domains[name]}
		if l.Domain == "" {
			l.Domain = name // certbot names a lineage after its first domain
		}
		if c, ok := s.confs[name]; ok {
			l.Conf = &c
		}
		ls := st.lineages[name]
		if ls == nil {
			ls = st.lineage(name)
		}
		l.LastAttempt, l.LastSuccess, l.LastRenewal = ls.lastAttempt, ls.lastSuccess, ls.lastRenewal
		l.FailureReason, l.FailureMessage = ls.reason, ls.message
		l.Problems, l.HookFailures = slices.Clone(ls.problems), slices.Clone(ls.hooks)
		if b, broken := s.badConfs[filepath.Join(s.cfg.ConfigDir, "renewal", name+".conf")]; broken {
			// certbot skips a conf it cannot read: the next renewal fails, whatever the last
			// one did. Said now, not after the next run.
			l.FailureReason, l.FailureMessage, l.Problems = "config", "renewal conf unreadable: "+b.err, nil
		}
		l.Attempts, l.Failures = maps.Clone(ls.attempts), ls.failures
		snap.Lineages = append(snap.Lineages, l)
	}
	lh, rh := s.logHealth.Status, s.renewalHealth
	lh.Errors, rh.Errors = maps.Clone(lh.Errors), maps.Clone(rh.Errors)
	lh.Errors["line_too_long"] = s.tail.TooLong()
	lh.Errors["limit_exceeded"] = s.fold.Dropped + s.asm.Cut + s.forgotten
	snap.Status = []source.Status{lh, rh}
	return snap
}
