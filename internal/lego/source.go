// Package lego is the `lego:` source: the certificates in lego's --path (certificates/<name>.crt,
// read through the files source, the domain from <name>.json) and, from the file lego's
// output is captured to, each certificate's renewal outcome and lego's runs.
package lego

import (
	"context"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/acmestate"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/acmestore"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/logtail"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

const (
	// client is the source's name in Location.Source, Renewal.Client and Client.Name.
	client = certs.SourceLego
	// logPoll is how often the logs are looked at (a stat each).
	logPoll = time.Second
	// runIdle is how long a quiet log means lego has exited, completing its last run.
	runIdle = 2 * time.Minute
)

// LogErrorReasons are the fixed reasons of the lego_log error counters, pre-created at 0.
var LogErrorReasons = []string{"not_found", "permission", "io", "line_too_long", "limit_exceeded"}

// Source follows the configured lego installations. Run owns all state.
type Source struct {
	log   *slog.Logger
	clock clockwork.Clock
	store *acmestore.Store
	logs  []*follower
	// meta reads each installation's <name>.json, by its path.
	meta      map[string]*acmestore.Meta[logparse.LegoMeta]
	storeSnap *source.Snapshot
}

// follower reads one installation's captured output.
type follower struct {
	cfg    config.Lego
	tail   *logtail.Tail
	fold   *logparse.LegoFolder
	health logtail.Health
	// newest is the last completed run in the log; seen says there is one.
	newest logparse.LegoRun
	seen   bool
	// runFail is the last completed run that failed before naming its certificate (nil: none),
	// and since the lineages whose own runs completed after it.
	runFail *logparse.LegoRun
	since   map[string]bool
	// dropped is the part of the folder's bounds already counted and logged.
	dropped uint64
}

func newSource(cfgs []config.Lego, logger *slog.Logger, clock clockwork.Clock) *Source {
	s := &Source{log: logger, clock: clock, meta: map[string]*acmestore.Meta[logparse.LegoMeta]{}}
	var entries []acmestore.Entry
	for _, c := range cfgs {
		s.meta[c.Path] = acmestore.NewMeta(logparse.MaxLegoMeta, logparse.ParseLegoMeta)
		entries = append(entries, acmestore.Entry{Name: c.Path, Files: c.Files()})
		if c.LogFile == "" {
			continue
		}
		f := &follower{cfg: c, fold: logparse.NewLegoFolder(c.Location()),
			health: logtail.Health{Status: source.Status{Source: "lego_log", Name: c.LogFile, Errors: source.NewErrors(LogErrorReasons...)}}}
		f.tail = logtail.New(c.LogFile, logparse.MaxLogLine, f.line)
		s.logs = append(s.logs, f)
	}
	s.store = acmestore.New(client, entries, lineageOf, logger, clock)
	return s
}

// lineageOf is the name lego stores a certificate under: certificates/<name>.crt (the glob
// excludes <name>.issuer.crt).
func lineageOf(path string) (string, bool) {
	f, ok := logparse.LegoStorageFile("certificates/" + filepath.Base(path))
	return f.Name, ok && f.Kind == logparse.StorageCert
}

// Once reads the certificates and replays the logs: the state `check` reports.
func (s *Source) Once(ctx context.Context) *source.Snapshot {
	defer s.close()
	s.storeSnap = s.store.Once(ctx)
	s.replay()
	return s.current()
}

func (s *Source) close() {
	for _, f := range s.logs {
		f.tail.Close()
	}
}

// Run reads the store and replays the logs, publishes, then follows both until ctx ends.
func (s *Source) Run(ctx context.Context, publish func(*source.Snapshot)) {
	defer s.close()
	replayed := false
	s.store.Follow(ctx, s.clock, logPoll, nil,
		func(snap *source.Snapshot) {
			s.storeSnap = snap
			if !replayed { // the history once, before the first publish
				replayed = true
				s.replay()
			}
		},
		s.pollLogs,
		func() { publish(s.current()) })
}

// replay reads each log's rotated history (within history_max_age), then the log itself.
func (s *Source) replay() {
	for _, f := range s.logs {
		err := f.tail.Replay(s.clock.Now().Add(-time.Duration(f.cfg.HistoryMaxAge)), func(path string, err error) {
			if err != nil {
				s.log.Warn("reading rotated lego log", "path", path, "err", err)
				f.health.Errors["io"]++
			}
			s.settle(f, true) // a rotated file's last run is over
		})
		s.setLogError(f, err)
		s.settle(f, true)
	}
}

// pollLogs reads what is new; it reports whether anything changed.
func (s *Source) pollLogs() bool {
	changed := false
	for _, f := range s.logs {
		before, wasUp := f.tail.Bytes(), f.health.Up
		s.setLogError(f, f.tail.Poll())
		quiet := f.tail.Bytes() == before
		if s.settle(f, quiet) || !quiet || wasUp != f.health.Up {
			changed = true
		}
	}
	return changed
}

// settle completes the runs the folder completed, and, once the log has been quiet for longer
// than lego takes between records, the run in progress: lego has exited. It reports whether
// a record was folded or a run completed.
func (s *Source) settle(f *follower, quiet bool) bool {
	// A record gets no more lines once a read found nothing new.
	folded := quiet && f.fold.Settle()
	completed := f.take(f.fold.Runs())
	if cur := f.fold.Current(); quiet && cur != nil && s.clock.Now().Sub(later(cur.End, cur.SleepUntil)) > runIdle {
		completed = f.take(f.fold.Flush()) || completed
	}
	if d := f.fold.Dropped + f.fold.Cut; d > f.dropped {
		f.health.Errors["limit_exceeded"] += d - f.dropped
		s.log.Warn("lego log exceeds a bound; the excess is ignored", "path", f.cfg.LogFile, "dropped", d-f.dropped,
			"max_outcomes", logparse.MaxOutcomes, "max_problems", logparse.MaxProblems, "max_record_bytes", logparse.MaxMessage)
		f.dropped = d
	}
	return folded || completed
}

// line folds one line of the log, taking the runs it completes at once: a long history does
// not pile them up in the folder (whose bound would count them as lost).
func (f *follower) line(b []byte) {
	f.fold.Line(b)
	f.take(f.fold.Runs())
}

// take keeps the last of completed runs: the log is appended to (and replayed oldest file
// first), so the last is the newest even when local time stepped back. It reports whether
// there were any.
func (f *follower) take(runs []logparse.LegoRun) bool {
	if len(runs) == 0 {
		return false
	}
	for i := range runs {
		f.note(&runs[i])
	}
	f.newest, f.seen = runs[len(runs)-1], true
	return true
}

// note follows, in log order, which run-level failure stands for which lineage.
func (f *follower) note(run *logparse.LegoRun) {
	switch {
	case run.Name == "" && run.Result == logparse.Failed:
		r := *run
		f.runFail, f.since = &r, map[string]bool{}
	case run.Name != "" && f.runFail != nil:
		f.since[logparse.LegoFileName(run.Name)] = true
	}
}

// runFailure is the run-level failure that stands for the lineage, or nil: the last run that
// failed before naming its certificate (the completed one, or the one under way once it has
// failed), unless a run of the lineage itself completed after it.
func (f *follower) runFailure(lineage string) *logparse.LegoRun {
	cur := f.fold.Current()
	if cur != nil && cur.Result == logparse.Failed && cur.Name == "" {
		return cur
	}
	if f.runFail == nil || f.since[lineage] {
		return nil
	}
	if cur != nil && cur.Result != logparse.Attempted && logparse.LegoFileName(cur.Name) == lineage {
		return nil // the lineage's own run, saved or failed, though a hook failure may still follow
	}
	return f.runFail
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (s *Source) setLogError(f *follower, err error) { f.health.Set(err, s.clock.Now(), s.log, client) }

// current is the store's certificates with their metadata, and the logs' renewal state.
func (s *Source) current() *source.Snapshot {
	store := s.storeSnap
	out := &source.Snapshot{Chains: slices.Clone(store.Chains), Problems: slices.Clone(store.Problems)}
	var fileErrs []files.FileError
	for _, p := range store.Problems {
		fileErrs = append(fileErrs, files.FileError{Path: p.Where, Reason: p.Reason, Message: p.Message})
	}
	stored := map[string]string{} // lineage → domain
	at := map[string]string{}     // lineage → the installation's path
	for i := range out.Chains {
		c := &out.Chains[i]
		domain := ""
		if len(c.Certs) > 0 {
			domain = c.Certs[0].Domain
		}
		inst := filepath.Dir(filepath.Dir(c.Path)) // <path>/certificates/<name>.crt
		meta := s.meta[inst]
		if meta == nil {
			continue
		}
		if m, fe := meta.Read(strings.TrimSuffix(c.Path, ".crt") + ".json"); fe != nil {
			fileErrs = append(fileErrs, *fe)
			out.Problems = append(out.Problems, source.Problem{Source: client, Where: fe.Path, Reason: fe.Reason, Message: fe.Message})
		} else if m.Domain != "" && len(c.Certs) > 0 {
			// The name lego was asked for, which the series are named by, whatever the
			// certificate's subject says.
			c.Certs = slices.Clone(c.Certs)
			c.Certs[0].Domain, domain = m.Domain, m.Domain
		}
		stored[c.Lineage], at[c.Lineage] = domain, inst
	}
	for _, m := range s.meta {
		m.Settle(s.log, client)
	}

	// The store read: names it does not hold (a failed first issue, a certificate since
	// removed) are no lineage to watch, as certbot's certonly for a new name.
	storeUp := len(store.Status) > 0
	for _, st := range store.Status {
		storeUp = storeUp && st.Up
	}
	byPath := make(map[string]*follower, len(s.logs)) // the config refuses two entries with one path
	for _, f := range s.logs {
		byPath[f.cfg.Path] = f
	}
	var names []acmestate.Name
	add := func(n acmestate.Name) {
		if f := byPath[at[n.Lineage]]; f != nil {
			if run := f.runFailure(n.Lineage); run != nil {
				// lego stopped before naming the certificate it was run for (CA unreachable,
				// account not registered, a bad flag): it renewed none, so every stored
				// certificate of the installation carries that run's reason until its own
				// next run, as certbot's lineages do. One page per certificate, through
				// CertificateRenewalFailed; no attempt is counted.
				n.Reason, n.Message, n.Problems = run.Reason, run.Error, nil
			}
		}
		names = append(names, n)
	}
	have := map[string]bool{}
	for _, f := range s.logs {
		for _, o := range f.fold.Outcomes() {
			lineage := logparse.LegoFileName(o.Name)
			if _, ok := stored[lineage]; (storeUp && !ok) || have[lineage] {
				continue
			}
			have[lineage] = true
			n := acmestate.Fold(client, lineage, "", o)
			if o.Hook != "" && !n.Failed() {
				// Saved, but lego exited 1 in its renew hook: the new certificate is probably
				// not installed. One page, CertificateRenewalFailed with reason hook, until a
				// renewal whose hook works; a later failure's own reason comes first.
				n.Reason, n.Message = "hook", o.Hook
			}
			add(n)
		}
		out.Clients = append(out.Clients, f.client())
		out.Status = append(out.Status, f.status())
	}
	for _, lineage := range slices.Sorted(maps.Keys(stored)) {
		if !have[lineage] {
			add(acmestate.Stored(client, lineage, stored[lineage], ""))
		}
	}
	slices.SortFunc(names, func(a, b acmestate.Name) int { return strings.Compare(a.Lineage, b.Lineage) })
	out.Renewals = acmestate.Renewals(names)
	storeStatus := slices.Clone(store.Status)
	for i := range storeStatus {
		if m := s.meta[storeStatus[i].Name]; m != nil && len(m.Errors) > 0 {
			st := &storeStatus[i]
			st.Errors = maps.Clone(st.Errors)
			for r, n := range m.Errors {
				st.Errors[r] += n
			}
		}
	}
	out.Status = append(storeStatus, out.Status...)
	out.Metrics = acmestate.Metrics(names, fileErrs)
	return out
}

// client is the installation's run history: the newest run, completed or under way.
func (f *follower) client() source.Client {
	c := source.Client{Name: client, Log: f.cfg.LogFile}
	run, ok := f.newest, f.seen
	if cur := f.fold.Current(); cur != nil {
		run, ok = *cur, true // after every completed run in the log
	}
	if ok {
		// lego exits 1 for a fatal error and for a failed hook.
		c.Seen, c.LastRun, c.LastRunSuccess = true, run.Start, run.Result != logparse.Failed && run.Hook == ""
	}
	return c
}

func (f *follower) status() source.Status {
	st := f.health.Status
	st.Errors = maps.Clone(st.Errors)
	st.Errors["line_too_long"] = f.tail.TooLong()
	return st
}
