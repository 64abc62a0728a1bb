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
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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

// Reasons lists every FileError reason, for pre-created error counters.
var Reasons = []string{reasonPermission, reasonNotFound, reasonDanglingSymlink, reasonEmpty,
	reasonParse, reasonTooLarge, reasonNoMatch, reasonPassword, reasonIO}

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
	gen        uint64
	failing    map[errKey]string // path+reason → message currently reported (log once per change)
	unsettled  map[string]time.Time
	lastByLine map[string]lineageResult
	errCounts  []map[string]uint64
	lastOK     []time.Time
}

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
		logger:     logger,
		clock:      clock,
		now:        clock.Now,
		settle:     settleLimit,
		workers:    2 * runtime.GOMAXPROCS(0),
		cache:      map[string]*parsed{},
		keys:       map[fileKey]keyEntry{},
		failing:    map[errKey]string{},
		unsettled:  map[string]time.Time{},
		lastByLine: map[string]lineageResult{},
	}
	if certbotConfigDir != "" {
		s.liveDir = filepath.Join(filepath.Clean(certbotConfigDir), "live")
	}
	for _, e := range entries {
		s.entries = append(s.entries, entry{Files: e, name: strings.Join(e.Paths, ","), labels: certs.NewLabels(e.Labels)})
		s.errCounts = append(s.errCounts, source.NewErrors(Reasons...))
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
	w, err := fsnotify.NewWatcher()
	var (
		events <-chan fsnotify.Event
		werrs  <-chan error
	)
	if err != nil {
		s.logger.Error("cannot watch certificate directories; relying on periodic rescans", "err", err)
	} else {
		defer w.Close()
		events, werrs = w.Events, w.Errors
	}
	// quiet fires once events stopped for debounce (or a held lineage is due another look);
	// deadline bounds the wait when events keep coming.
	rescan, quiet, deadline := s.stoppedTimer(), s.stoppedTimer(), s.stoppedTimer()
	defer rescan.Stop()
	defer quiet.Stop()
	defer deadline.Stop()
	pending := false
	// Events name the directories that changed; only their files are looked at again (a stat
	// each) until the periodic rescan, or lost events, make the next scan a full one.
	changed, full := map[string]struct{}{}, true
	run := func() {
		var only map[string]struct{}
		if !full {
			only = changed
		}
		var watch func(map[string]struct{})
		if w != nil {
			watch = func(dirs map[string]struct{}) { s.syncWatches(w, dirs) }
		}
		snap, retry := s.scan(ctx, only, watch)
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
		}
	}
}

func (s *Source) stoppedTimer() clockwork.Timer {
	t := s.clock.NewTimer(time.Hour)
	t.Stop()
	return t
}

// jitter spreads periodic rescans by ±10% so that many exporters sharing storage don't align.
func (s *Source) jitter() time.Duration {
	d := 5 * time.Minute // no entries: nothing to rescan, but keep the loop simple
	for i, e := range s.entries {
		if r := time.Duration(e.RescanInterval); r > 0 && (i == 0 || r < d) {
			d = r
		}
	}
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// syncWatches makes the watched set equal dirs: directories come and go (a lineage is added,
// a mount disappears and comes back). The watcher's own list is the truth because the kernel
// drops the watch of a deleted directory by itself.
func (s *Source) syncWatches(w *fsnotify.Watcher, dirs map[string]struct{}) {
	watched := map[string]struct{}{}
	for _, d := range w.WatchList() {
		watched[d] = struct{}{}
		if _, ok := dirs[d]; !ok {
			_ = w.Remove(d) // fails only when the directory is already gone
		}
	}
	for d := range dirs {
		if _, ok := watched[d]; ok {
			continue
		}
		if err := w.Add(d); err != nil {
			s.logger.Warn("cannot watch directory; changes will be seen at the next rescan", "dir", d, "err", err)
		}
	}
}
