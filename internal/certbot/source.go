package certbot

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/fsread"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/logtail"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

const (
	// maxLine bounds one log line; longer lines are cut and counted.
	maxLine = 1 << 20
	// logPoll is the fallback when fsnotify says nothing (NFS, missed events).
	logPoll = time.Second
	// runIdle is how long a quiet log means certbot has exited, completing its last run.
	runIdle = 2 * time.Minute
	// maxLineages bounds the lineages learnt from the log (those with a renewal conf are
	// always kept): a log naming endless lineages cannot grow memory.
	maxLineages = logparse.MaxOutcomes
)

// reasonWatch counts a failed attempt to watch the log's directory or renewal/ (the inotify
// limits): their changes are then seen by polling, the log's within logPoll, the confs' within
// rescan_interval.
const reasonWatch = "watch"

// Error reasons, pre-created at 0.
var (
	LogErrorReasons     = []string{"not_found", "permission", "io", "line_too_long", "limit_exceeded", reasonWatch}
	RenewalErrorReasons = []string{"not_found", "permission", "io", "parse", reasonWatch}
)

// Source follows one certbot installation. Run owns all state; publish receives immutable
// snapshots, so a scrape never waits on the log.
type Source struct {
	cfg   config.Certbot
	log   *slog.Logger
	clock clockwork.Clock
	now   func() time.Time

	asm      *logparse.Assembler
	fold     logparse.Folder
	tail     *logtail.Tail
	state    state
	confs    map[string]RenewalConf
	confsOK  bool               // renewal dir was read: lineages without a conf are gone
	badConfs map[string]badConf // conf path → the broken version, counted and logged once
	// confSettle: an unparsable conf younger than this may be being written (tests lengthen it).
	confSettle time.Duration
	domains    map[string]string
	// forgotten counts lineages dropped by the maxLineages bound; droppedSeen is the part of
	// fold.Dropped + asm.Cut already logged.
	forgotten, droppedSeen uint64

	logHealth     logtail.Health
	renewalHealth source.Status
	renewalErr    string // current error reason, to count and log state changes once
	// unwatched are the directories whose watch is missing, with why (logged once per change).
	// openWatcher and addWatch are the tests' seams: the inotify limits cannot be lowered
	// without root.
	unwatched   map[string]string
	openWatcher func() (*fsnotify.Watcher, error)
	addWatch    func(w *fsnotify.Watcher, dir string) error
}

// newSource prepares a Source; Run starts it.
func newSource(cfg config.Certbot, logger *slog.Logger, clock clockwork.Clock) *Source {
	s := &Source{
		cfg: cfg, log: logger, clock: clock, now: clock.Now,
		asm:        logparse.NewAssembler(cfg.Location(), maxLine),
		state:      newState(),
		confs:      map[string]RenewalConf{},
		badConfs:   map[string]badConf{},
		confSettle: confSettle,
		domains:    map[string]string{},
		logHealth: logtail.Health{Status: source.Status{Source: "certbot_log", Name: cfg.LogFile,
			Errors: source.NewErrors(LogErrorReasons...)}},
		renewalHealth: source.Status{Source: "certbot_renewal", Name: filepath.Join(cfg.ConfigDir, "renewal"),
			Errors: source.NewErrors(RenewalErrorReasons...)},
		openWatcher: fsnotify.NewWatcher,
		addWatch:    (*fsnotify.Watcher).Add,
	}
	s.tail = logtail.New(cfg.LogFile, maxLine, s.line)
	return s
}

// Once reads the renewal confs and replays the log history: the state `check` reports.
func (s *Source) Once(context.Context) *source.Snapshot {
	defer s.tail.Close()
	s.start()
	return s.current()
}

// start reads the renewal confs and replays the log history.
func (s *Source) start() {
	s.readRenewal()
	s.replay()
	s.settle(true)
}

// Run replays the log history, then follows the log and the renewal confs until ctx ends.
func (s *Source) Run(ctx context.Context, publish func(*source.Snapshot)) {
	defer s.tail.Close()
	// The watcher and tickers exist before the replay, so nothing written or no tick due
	// while it runs is missed: both queue until the loop reads them.
	renewalDir := filepath.Join(s.cfg.ConfigDir, "renewal")
	var (
		w         *fsnotify.Watcher
		events    <-chan fsnotify.Event
		watchErrs <-chan error
	)
	defer func() {
		if w != nil {
			_ = w.Close()
		}
	}()
	// watch adds the missing watches, at the start and at every rescan: a directory created
	// later (the log's, at certbot's first run) or a watch refused at the limit is retried.
	watch := func() {
		if w == nil {
			nw, err := s.openWatcher()
			if err != nil {
				s.setUnwatched(map[string]string{filepath.Dir(s.cfg.LogFile): files.WatchError(err), renewalDir: files.WatchError(err)})
				return
			}
			w, events, watchErrs = nw, nw.Events, nw.Errors
		}
		failed := map[string]string{}
		for _, d := range []string{filepath.Dir(s.cfg.LogFile), renewalDir} {
			if slices.Contains(w.WatchList(), d) {
				continue
			}
			// A directory that does not exist yet is no failure: the log's not_found says it.
			if err := s.addWatch(w, d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				failed[d] = files.WatchError(err)
			}
		}
		s.setUnwatched(failed)
	}
	watch()
	poll := s.clock.NewTicker(logPoll)
	defer poll.Stop()
	rescan := s.clock.NewTicker(max(time.Duration(s.cfg.RescanInterval), logPoll))
	defer rescan.Stop()
	s.start()
	publish(s.current())
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if filepath.Dir(ev.Name) == renewalDir {
				s.readRenewal()
			}
			s.pollLog()
		case err := <-watchErrs:
			s.log.Debug("fsnotify", "err", err) // an overflow only means polling catches up
			continue
		case <-poll.Chan():
			s.pollLog()
		case <-rescan.Chan():
			watch()
			s.readRenewal()
			s.pollLog()
		}
		publish(s.current())
	}
}

// setUnwatched counts every failed attempt against the health of what the directory holds
// (CertExpiryExporterErrors pages while it lasts) and logs a change of the unwatched set.
func (s *Source) setUnwatched(failed map[string]string) {
	renewalDir := filepath.Join(s.cfg.ConfigDir, "renewal")
	for d := range failed {
		if d == renewalDir {
			s.renewalHealth.Errors[reasonWatch]++
		} else {
			s.logHealth.Errors[reasonWatch]++
		}
	}
	if maps.Equal(failed, s.unwatched) {
		return
	}
	for d, why := range failed {
		if s.unwatched[d] != why {
			s.log.Warn("cannot watch certbot directory for changes; polling it", "path", d, "err", why,
				"log_poll", logPoll, "rescan_interval", time.Duration(s.cfg.RescanInterval))
		}
	}
	for d := range s.unwatched {
		if _, ok := failed[d]; !ok {
			s.log.Info("certbot directory watched again", "path", d)
		}
	}
	s.unwatched = failed
}

func (s *Source) pollLog() {
	before := s.tail.Bytes()
	err := s.tail.Poll()
	s.setLogError(err)
	s.settle(s.tail.Bytes() == before)
}

// settle completes what the log's silence completes: a record cannot get more continuation
// lines once a poll found nothing new, and a run is over once certbot has been quiet.
func (s *Source) settle(quiet bool) {
	if !quiet {
		return
	}
	if r, ok := s.asm.Flush(); ok {
		s.record(r)
	}
	if cur := s.fold.Current(); cur != nil {
		last := cur.End
		if cur.SleepUntil.After(last) {
			last = cur.SleepUntil
		}
		if s.now().Sub(last) > runIdle {
			s.complete(s.fold.Flush())
		}
	}
}

// replay reads the rotated logs (oldest first, within history_max_age) and then the current
// log, which the tail keeps following.
func (s *Source) replay() {
	before := s.tail.Bytes()
	err := s.tail.Replay(s.now().Add(-time.Duration(s.cfg.HistoryMaxAge)), func(path string, err error) {
		if err != nil {
			s.log.Warn("reading rotated certbot log", "path", path, "err", err)
			s.logHealth.Errors["io"]++
		}
		s.settle(true)
	})
	s.setLogError(err)
	s.settle(s.tail.Bytes() == before)
}

func (s *Source) line(b []byte) {
	if r, ok := s.asm.Line(b); ok {
		s.record(r)
	}
}

func (s *Source) record(r logparse.Record) {
	if done := s.fold.Add(r); done != nil {
		s.complete(done)
	}
}

// complete applies a finished run, then the bounds: one warning per run that hit them.
func (s *Source) complete(r *logparse.Run) {
	s.state.applyRun(r, s.confLineages(), true)
	forgotten := s.state.bound(maxLineages, s.confNames())
	s.forgotten += uint64(forgotten)
	if dropped := s.fold.Dropped + s.asm.Cut - s.droppedSeen; dropped > 0 || forgotten > 0 {
		s.droppedSeen = s.fold.Dropped + s.asm.Cut
		s.log.Warn("certbot log exceeds a bound; the excess is ignored", "path", s.cfg.LogFile,
			"run_start", r.Start, "dropped_from_run", dropped, "lineages_forgotten", forgotten,
			"max_lineages", maxLineages, "max_problems", logparse.MaxProblems, "max_hooks", logparse.MaxHooks,
			"max_record_bytes", maxLine)
	}
}

func (s *Source) setLogError(err error) { s.logHealth.Set(err, s.now(), s.log, "certbot") }

// confSettle is how long after its last change an unreadable renewal conf may still be one
// being written, rather than broken.
const confSettle = 2 * time.Second

// badConf is a renewal conf that cannot be used: its version and why.
type badConf struct {
	mtime time.Time
	err   string
}

// readRenewal rereads <config_dir>/renewal/*.conf. Nothing in them is ever executed.
func (s *Source) readRenewal() {
	dir := filepath.Join(s.cfg.ConfigDir, "renewal")
	paths, err := filepath.Glob(filepath.Join(dir, "*.conf"))
	if err == nil {
		_, err = os.Stat(dir)
	}
	reason := logtail.Reason(err)
	if reason != "" {
		if reason != s.renewalErr {
			s.renewalHealth.Errors[reason]++
			s.log.Warn("certbot renewal directory unreadable", "path", dir, "reason", reason, "err", err)
		}
		s.renewalErr, s.confsOK, s.renewalHealth.Up, s.renewalHealth.Error = reason, false, false, err.Error()
		return
	}
	confs := map[string]RenewalConf{}
	// A conf removed since the last read is gone, broken or not.
	maps.DeleteFunc(s.badConfs, func(p string, _ badConf) bool { return !slices.Contains(paths, p) })
	for _, p := range paths {
		lineage := strings.TrimSuffix(filepath.Base(p), ".conf")
		info, err := os.Stat(p)
		if err != nil {
			continue // removed meanwhile
		}
		data, err := fsread.ReadFile(p, maxConfBytes)
		var c RenewalConf
		reason := logtail.Reason(err)
		if err == nil {
			c, err = parseRenewalConf(lineage, data)
			reason = "parse"
		}
		if err != nil {
			if age := time.Since(info.ModTime()); age >= 0 && age < s.confSettle && !errors.Is(err, fsread.ErrNotRegular) {
				// Perhaps caught while certbot writes it (it writes a new lineage's conf in
				// place): looked at again at the next event or rescan. Wall clock: file times
				// are the kernel's.
				if old, ok := s.confs[lineage]; ok {
					confs[lineage] = old
				}
				continue
			}
			if b := s.badConfs[p]; !b.mtime.Equal(info.ModTime()) {
				s.badConfs[p] = badConf{mtime: info.ModTime(), err: err.Error()}
				s.renewalHealth.Errors[reason]++
				s.log.Warn("certbot renewal conf unreadable; certbot cannot renew the lineage", "path", p, "reason", reason, "err", err)
			}
			continue
		}
		delete(s.badConfs, p)
		confs[lineage] = c
		if _, ok := s.domains[lineage]; !ok || s.confs[lineage].Cert != c.Cert {
			s.domains[lineage] = certDomain(certPath(s.cfg.ConfigDir, c))
		}
	}
	maps.DeleteFunc(s.domains, func(lineage, _ string) bool { _, ok := confs[lineage]; return !ok })
	s.confs, s.confsOK, s.renewalErr = confs, true, ""
	s.renewalHealth.Up, s.renewalHealth.LastSuccess, s.renewalHealth.Error = true, s.now(), ""
}

func certPath(configDir string, c RenewalConf) string {
	if c.Cert != "" {
		return c.Cert
	}
	return filepath.Join(configDir, "live", c.Lineage, "cert.pem")
}

// certDomain names a lineage the way the certificate series do (subject CN, else the first
// DNS SAN); "" when the certificate cannot be read.
func certDomain(path string) string {
	data, err := fsread.ReadFile(path, 1<<20)
	if err != nil {
		return ""
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return ""
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return ""
	}
	if cert.Subject.CommonName != "" {
		return cert.Subject.CommonName
	}
	if len(cert.DNSNames) > 0 {
		return cert.DNSNames[0]
	}
	return ""
}

// confLineages are the lineages with a readable renewal conf, sorted: those a run that stops
// before any lineage kept from renewing. A lineage whose conf is broken keeps the reason
// certbot gave it (config): certbot could not have renewed it anyway.
func (s *Source) confLineages() []string {
	return slices.Sorted(maps.Keys(s.confs))
}

// current is the state with the run in progress applied (its lineage gauges show at once; its
// counters wait until it is complete).
func (s *Source) current() *source.Snapshot {
	st := s.state.clone()
	if cur := s.fold.Current(); cur != nil {
		st.applyRun(cur, s.confLineages(), false)
	}
	return s.snapshot(st).source()
}
