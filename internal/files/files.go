// Package files is the `files:` source: it finds certificate files on local disk, keeps them
// parsed and checked, and publishes a snapshot whenever something changes: at start, within a second of a
// change seen by fsnotify, and at a jittered periodic rescan that catches missed events.
//
// It knows certbot's layout (<config_dir>/live/<lineage>/*.pem symlinks into archive/) and never
// publishes a lineage whose links are caught halfway through a renewal.
package files

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Reasons of FileError, the `reason` label of cert_expiry_exporter_file_error.
const (
	reasonPermission      = "permission"
	reasonNotFound        = "not_found"
	reasonDanglingSymlink = "dangling_symlink"
	reasonEmpty           = "empty"
	reasonParse           = "parse"
	reasonTooLarge        = "too_large"
	reasonNoMatch         = "no_match"
	reasonPassword        = "password"
	reasonIO              = "io"
)

// Reasons lists every FileError reason.
var Reasons = []string{reasonPermission, reasonNotFound, reasonDanglingSymlink, reasonEmpty,
	reasonParse, reasonTooLarge, reasonNoMatch, reasonPassword, reasonIO}

// reasonWatch counts a failed attempt to watch a directory the globs read. It is no FileError:
// the directory is still read, only its changes are seen later (see unwatchedRescan).
const reasonWatch = "watch"

// ErrorReasons lists the reasons of the source's error counters, pre-created at 0.
var ErrorReasons = append(slices.Clone(Reasons), reasonWatch)

// healthSource is source.Status.Source for file entries.
const healthSource = "files"

// FileError is a file (or a glob, or a directory) that currently cannot be read.
type FileError struct {
	Path    string `json:"path"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Timing of the watcher. A change is published within debounce (at most maxDebounce when events
// keep coming) plus one incremental scan; a lineage caught mid-renewal is looked at again after
// settleRetry and published as it is after settleLimit even if it stays inconsistent.
const (
	debounce    = 150 * time.Millisecond
	maxDebounce = 500 * time.Millisecond
	settleRetry = 200 * time.Millisecond
	settleLimit = 30 * time.Second
)

// Source scans the configured files. Create it with New, then call Run (or Once). Its
// snapshots have one Status per configured `files:` entry, in config order.
type Source struct {
	entries    []entry
	liveDir    string // <certbot config_dir>/live, empty when certbot is not configured
	logger     *slog.Logger
	clock      clockwork.Clock
	now        func() time.Time
	settle     time.Duration
	workers    int
	mu         sync.Mutex         // one scan at a time; guards everything below
	cacheMu    sync.Mutex         // guards cache and keys against the scan's workers
	cache      map[string]*parsed // by path, as the glob spelled it
	keys       map[fileKey]keyEntry
	gen        uint32            // scans so far (wraps harmlessly: only compared for equality)
	failing    map[errKey]string // path+reason → message currently reported (log once per change)
	unsettled  map[string]time.Time
	lastByLine map[string]lineageResult
	// crlPaths are the files that held CRLs at the last scan: one that cannot be read now is
	// still listed as a CRL file (in error) on /certificates, not only as a file error.
	crlPaths  map[string]bool
	errCounts []map[string]uint64
	lastOK    []time.Time
	// unwatched are the directories the last scan read but could not watch, with why. Run
	// rescans them every unwatchedRescan and every scan tries to watch them again. Only scans
	// replace it, and only Run's scans (Once watches nothing).
	unwatched map[string]string
	// openWatcher opens Run's watcher, and wrapWatcher, when set, wraps it: the tests' seams to
	// make them fail, since the kernel's limits (fs.inotify.max_user_instances and
	// max_user_watches) cannot be lowered without root.
	openWatcher func() (*fsnotify.Watcher, error)
	wrapWatcher func(*fsnotify.Watcher) dirWatcher
}

// dirWatcher is what syncWatches needs of an fsnotify.Watcher.
type dirWatcher interface {
	Add(name string) error
	Remove(name string) error
	WatchList() []string
}

// noWatcher stands for a watcher that could not be opened: every directory is then unwatched,
// for that reason, until a pass over them opens one.
type noWatcher struct{ err error }

func (n noWatcher) Add(string) error  { return n.err }
func (noWatcher) Remove(string) error { return nil }
func (noWatcher) WatchList() []string { return nil }

type entry struct {
	config.Files
	name     string
	roots    *x509.CertPool // from ca_file; nil: the system roots
	password string
	labels   certs.Labels // owner labels, sorted once
}

type errKey struct{ path, reason string }

// New prepares a source for the given entries. certbotConfigDir may be empty.
func New(entries []config.Files, certbotConfigDir string, logger *slog.Logger, clock clockwork.Clock) *Source {
	s := &Source{
		logger:      logger,
		clock:       clock,
		now:         clock.Now,
		settle:      settleLimit,
		workers:     2 * runtime.GOMAXPROCS(0),
		cache:       map[string]*parsed{},
		keys:        map[fileKey]keyEntry{},
		failing:     map[errKey]string{},
		unsettled:   map[string]time.Time{},
		lastByLine:  map[string]lineageResult{},
		openWatcher: fsnotify.NewWatcher,
	}
	if certbotConfigDir != "" {
		s.liveDir = filepath.Join(filepath.Clean(certbotConfigDir), "live")
	}
	for _, e := range entries {
		s.entries = append(s.entries, entry{Files: e, name: strings.Join(e.Paths, ","), labels: certs.NewLabels(e.Labels)})
		s.errCounts = append(s.errCounts, source.NewErrors(ErrorReasons...))
		s.lastOK = append(s.lastOK, time.Time{})
	}
	return s
}

// Once scans everything and returns the result. A lineage caught in the middle of a renewal
// is looked at again a few times, as Run would.
func (s *Source) Once(ctx context.Context) *source.Snapshot {
	for {
		snap, retry := s.scan(ctx, nil, nil)
		if !retry {
			return snap
		}
		t := s.clock.NewTimer(settleRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return snap
		case <-t.Chan():
		}
	}
}

// Run publishes a first scan, then rescans after changes and periodically until ctx ends.
func (s *Source) Run(ctx context.Context, publish func(*source.Snapshot)) {
	var (
		w      *fsnotify.Watcher // nil until one could be opened
		events <-chan fsnotify.Event
		werrs  <-chan error
		dw     dirWatcher
	)
	// open is tried again at each pass over the unwatched directories: an inotify instance
	// freed by another process makes the watches possible again.
	open := func() {
		nw, err := s.openWatcher()
		if err != nil {
			dw = noWatcher{err}
			return
		}
		w, events, werrs, dw = nw, nw.Events, nw.Errors, nw
		if s.wrapWatcher != nil {
			dw = s.wrapWatcher(nw)
		}
	}
	open()
	defer func() {
		if w != nil {
			_ = w.Close()
		}
	}()
	// quiet fires once events stopped for debounce (or a held lineage is due another look);
	// deadline bounds the wait when events keep coming; fast brings the pass over the
	// directories that cannot be watched.
	rescan, quiet, deadline, fast := s.stoppedTimer(), s.stoppedTimer(), s.stoppedTimer(), s.stoppedTimer()
	defer rescan.Stop()
	defer quiet.Stop()
	defer deadline.Stop()
	defer fast.Stop()
	pending := false
	// fast is armed only when it is not already: the scans that events bring in between must
	// not postpone it, or changes in unwatched directories would wait while others change.
	fastArmed := false
	// Events name the directories that changed; only their files are looked at again (a stat
	// each) until the periodic rescan, or lost events, make the next scan a full one.
	changed, full := map[string]struct{}{}, true
	run := func() {
		var only map[string]struct{}
		if !full {
			only = changed
		}
		snap, retry := s.scan(ctx, only, func(dirs map[string]int) { s.syncWatches(dw, dirs) })
		if ctx.Err() != nil {
			return
		}
		publish(snap)
		changed, full = map[string]struct{}{}, false
		pending = false
		quiet.Stop()
		deadline.Stop()
		rescan.Reset(s.jitter())
		if retry {
			quiet.Reset(settleRetry)
		}
		switch unwatched := len(s.unwatched) > 0; {
		case unwatched && !fastArmed:
			fast.Reset(s.unwatchedRescan())
		case !unwatched && fastArmed:
			fast.Stop()
		}
		fastArmed = len(s.unwatched) > 0
	}
	run()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// The event's directory, and the entry itself in case it is a directory that
			// appeared or went away.
			changed[filepath.Dir(ev.Name)] = struct{}{}
			changed[filepath.Clean(ev.Name)] = struct{}{}
			quiet.Reset(debounce)
			if !pending {
				pending = true
				deadline.Reset(maxDebounce)
			}
		case err, ok := <-werrs:
			if !ok {
				werrs = nil
				continue
			}
			// An overflow means events were lost: rescan now rather than at the next interval.
			s.logger.Warn("file watcher error; rescanning", "err", err)
			full = true
			quiet.Reset(debounce)
		case <-quiet.Chan():
			run()
		case <-deadline.Chan():
			run()
		case <-rescan.Chan():
			full = true
			run()
		case <-fast.Chan():
			// Their files are looked at as if events had named them; the scan retries their watches.
			fastArmed = false
			if w == nil {
				open()
			}
			for d := range s.unwatched {
				changed[d] = struct{}{}
			}
			run()
		}
	}
}

func (s *Source) stoppedTimer() clockwork.Timer {
	t := s.clock.NewTimer(time.Hour)
	t.Stop()
	return t
}

// rescanInterval is the smallest rescan_interval of the entries: one full rescan serves them all.
func (s *Source) rescanInterval() time.Duration {
	d := 5 * time.Minute // no entries: nothing to rescan, but keep the loop simple
	for i, e := range s.entries {
		if r := time.Duration(e.RescanInterval); r > 0 && (i == 0 || r < d) {
			d = r
		}
	}
	return d
}

// jitter spreads periodic rescans by ±10% so that many exporters sharing storage don't align.
func (s *Source) jitter() time.Duration {
	d := s.rescanInterval()
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// unwatchedRescan is how often the directories that cannot be watched are looked at (and
// their watches tried) again: a tenth of the rescan interval (30s by default), so that a change
// there is seen soon rather than at the next full rescan, for the price of a stat per file in
// them only. At most 5m: each failed retry is counted, and CertExpiryExporterErrors pages for
// a counter that rose in every 15-minute window of an hour.
func (s *Source) unwatchedRescan() time.Duration {
	return min(max(s.rescanInterval()/10, time.Second), 5*time.Minute)
}

// syncWatches makes the watched set equal dirs: directories come and go (a lineage is added,
// a mount disappears and comes back). The watcher's own list is the truth because the kernel
// drops the watch of a deleted directory by itself.
//
// A directory whose watch cannot be added (past the kernel's watch limit, most often, or every
// directory when no watcher could be opened: see noWatcher) goes to
// s.unwatched, and each failed attempt is counted against the entry that read it: every scan
// tries again, so the counter keeps rising for as long as the failure lasts.
func (s *Source) syncWatches(w dirWatcher, dirs map[string]int) {
	watched := map[string]struct{}{}
	for _, d := range w.WatchList() {
		watched[d] = struct{}{}
		if _, ok := dirs[d]; !ok {
			_ = w.Remove(d) // fails only when the directory is already gone
		}
	}
	unwatched := map[string]string{}
	for d, e := range dirs {
		if _, ok := watched[d]; ok {
			continue
		}
		err := w.Add(d)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			continue // a directory removed since the glob read it: the next scan no longer reads it
		}
		unwatched[d] = WatchError(err)
		s.errCounts[e][reasonWatch]++
	}
	s.logUnwatched(unwatched)
	s.unwatched = unwatched
}

// WatchError says why a watch could not be added, naming the sysctl of the inotify limit it hit.
func WatchError(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return err.Error() + " (the inotify watch limit, sysctl fs.inotify.max_user_watches)"
	case errors.Is(err, syscall.EMFILE):
		return err.Error() + " (the inotify instance limit, sysctl fs.inotify.max_user_instances)"
	}
	return err.Error()
}

// logUnwatched logs the unwatched directories when their number changes: one line for all of
// them, since a host past its watch limit may have thousands.
func (s *Source) logUnwatched(now map[string]string) {
	switch {
	case len(now) == len(s.unwatched):
	case len(now) == 0:
		s.logger.Info("every certificate directory is watched again")
	default:
		first := firstDir(now)
		s.logger.Warn("cannot watch certificate directories for changes; rescanning them more often",
			"count", len(now), "first", first, "err", now[first], "every", s.unwatchedRescan())
	}
}

// unwatchedProblem is the unwatched directories as one problem, named by the first of them.
func (s *Source) unwatchedProblem() source.Problem {
	first := firstDir(s.unwatched)
	what := "not watched for changes"
	if n := len(s.unwatched); n > 1 {
		what = fmt.Sprintf("%d directories not watched for changes, this one first", n)
	}
	return source.Problem{Source: certs.SourceFile, Where: first, Reason: reasonWatch,
		Message: fmt.Sprintf("%s: %s; rescanned every %s", what, s.unwatched[first], s.unwatchedRescan())}
}

// firstDir is the smallest directory of a non-empty set, so that logs and pages name the same.
func firstDir(dirs map[string]string) string {
	first := ""
	for d := range dirs {
		if first == "" || d < first {
			first = d
		}
	}
	return first
}

// usage is a chain's certs.Chain.Usage for an entry's usage: only a client's is marked.
func usage(u string) string {
	if u == config.UsageClient {
		return certs.UsageClient
	}
	return ""
}
