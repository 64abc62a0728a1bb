// Package acmestore reads an ACME client's certificate store (lego's certificates/, Caddy's
// certificates/<issuer>/<name>/) through the files source: the same cache, fsnotify watching,
// bounded non-blocking reads, symlink handling, file error series and key check. It names
// the chains after the client and its store's lineages; each client reads its metadata itself.
package acmestore

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Entry is one store: the files entry that reads it, and its name in the health series (the
// store's directory).
type Entry struct {
	Name  string
	Files config.Files
}

// Store reads one client's stores.
type Store struct {
	log     *slog.Logger
	client  string
	entries []Entry
	lineage func(path string) (string, bool)
	files   *files.Source
}

// New reads the entries' certificates as the client's: lineage names the lineage a certificate
// file belongs to (the name the client stores it under); false drops the file's chain (a file
// the globs match that is no certificate of the store).
func New(client string, entries []Entry, lineage func(path string) (string, bool), logger *slog.Logger, clock clockwork.Clock) *Store {
	fs := make([]config.Files, len(entries))
	for i, e := range entries {
		fs[i] = e.Files
	}
	return &Store{log: logger, client: client, entries: entries, lineage: lineage, files: files.New(fs, "", logger, clock)}
}

// Run publishes the store's snapshots (see files.Source.Run) until ctx ends.
func (s *Store) Run(ctx context.Context, publish func(*source.Snapshot)) {
	s.files.Run(ctx, func(snap *source.Snapshot) { publish(s.rename(snap)) })
}

// Once reads the stores once.
func (s *Store) Once(ctx context.Context) *source.Snapshot { return s.rename(s.files.Once(ctx)) }

// rename makes the files source's snapshot the client's: chains of source and lineage, problems
// of the client, health as <client>_store named by the store's directory.
func (s *Store) rename(in *source.Snapshot) *source.Snapshot {
	out := *in
	out.Chains = make([]certs.Chain, 0, len(in.Chains))
	for _, c := range in.Chains {
		if l, ok := s.lineage(c.Path); ok {
			c.Source, c.Lineage = s.client, l
			out.Chains = append(out.Chains, c)
		}
	}
	out.Problems = slices.Clone(in.Problems)
	for i := range out.Problems {
		out.Problems[i].Source = s.client
	}
	out.Status = slices.Clone(in.Status)
	for i := range out.Status {
		out.Status[i].Source = s.client + "_store"
		if i < len(s.entries) {
			out.Status[i].Name = s.entries[i].Name
		}
	}
	return &out
}

// Follow is a client source's loop: the store runs in a goroutine of its own and each of its
// snapshots is handed to stored; the client's logs are read by poll on every tick of every
// and on every event of watch (fsnotify on the log's directory; nil: ticks only), poll
// reporting whether they changed. publish renders the client's state: after the store's first
// snapshot, after each later one and after each poll that changed something. Follow returns
// when ctx ends, once the store has stopped.
func (s *Store) Follow(ctx context.Context, clock clockwork.Clock, every time.Duration, watch *fsnotify.Watcher,
	stored func(*source.Snapshot), poll func() bool, publish func()) {
	snaps := make(chan *source.Snapshot, 1)
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		s.Run(ctx, func(snap *source.Snapshot) {
			select { // only the newest matters
			case <-snaps:
			default:
			}
			snaps <- snap
		})
	}()
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	if watch != nil {
		events, watchErrs = watch.Events, watch.Errors
	}
	// Ticking from the start: a tick due before the store's first snapshot waits for the loop.
	tick := clock.NewTicker(every)
	defer tick.Stop()
	select {
	case <-ctx.Done():
		return
	case snap := <-snaps:
		stored(snap)
	}
	publish()
	for {
		select {
		case <-ctx.Done():
			return
		case snap := <-snaps:
			stored(snap)
		case err := <-watchErrs:
			s.log.Debug("fsnotify", "err", err) // an overflow only means the ticks catch up
			continue
		case <-events:
			if !poll() {
				continue
			}
		case <-tick.Chan():
			if !poll() {
				continue
			}
		}
		publish()
	}
}

// WatchDir watches dir for Follow. Best effort: without inotify (NFS, the watch limit) it is
// nil and Follow's ticks do the work.
func WatchDir(dir string, logger *slog.Logger) *fsnotify.Watcher {
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(dir)
	}
	if err != nil {
		logger.Debug("fsnotify", "path", dir, "err", err)
		if w != nil {
			_ = w.Close()
		}
		return nil
	}
	return w
}
