package files

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

func TestRunWatchesChanges(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Watch", now)
	root := t.TempDir()
	dir := root + "/certs"
	a, b := pki.Leaf(testcerts.Options{Now: now}), pki.Leaf(testcerts.Options{Now: now})
	write(t, dir+"/site.pem", a.PEM())

	var pub testwait.Latest[*source.Snapshot]
	e := fileEntry(dir + "/*.pem")
	e.RescanInterval = model.Duration(time.Hour) // only events can explain what follows
	// Real time: this is about fsnotify's events and the real debounce (TestDebounce has it exactly).
	s := New([]config.Files{e}, "", slog.New(slog.DiscardHandler), clockwork.NewRealClock())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, pub.Set); close(done) }()
	defer func() { cancel(); <-done }()

	hasSerial := func(want string) func(*source.Snapshot) bool {
		return func(s *source.Snapshot) bool {
			c := chainByPath(s, dir+"/site.pem")
			return c != nil && c.Certs[0].Serial == want
		}
	}
	pub.Await(t, "first scan", hasSerial(serial(a)))

	// Replaced by rename, as most deploy tools do.
	write(t, dir+"/.site.tmp", b.PEM())
	if err := os.Rename(dir+"/.site.tmp", dir+"/site.pem"); err != nil {
		t.Fatal(err)
	}
	pub.Await(t, "renamed file", hasSerial(serial(b)))

	// Rewritten in place.
	write(t, dir+"/site.pem", a.PEM())
	pub.Await(t, "rewritten file", hasSerial(serial(a)))

	// The directory disappears (a no_match error), then comes back.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	pub.Await(t, "directory gone", func(s *source.Snapshot) bool {
		return len(s.Chains) == 0 && errorsOf(s)[dir+"/*.pem"] == reasonNoMatch &&
			!s.Status[0].Up && s.Status[0].Error == dir+"/*.pem: no file matches"
	})
	write(t, dir+"/site.pem", b.PEM())
	pub.Await(t, "directory back", hasSerial(serial(b)))
	pub.Await(t, "error cleared", func(s *source.Snapshot) bool {
		return len(s.Problems) == 0 && s.Status[0].Up && s.Status[0].Error == ""
	})
}

// runFake runs s on a fake clock until the test ends and returns the published snapshots.
func runFake(t *testing.T, s *Source) *testwait.Latest[*source.Snapshot] {
	t.Helper()
	var pub testwait.Latest[*source.Snapshot]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, pub.Set); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	pub.Await(t, "first scan", func(*source.Snapshot) bool { return true })
	return &pub
}

// blockUntil waits until n timers of fc are armed (immediately when the code under test is
// right; only a wrong one makes it wait, and then fail).
func blockUntil(t *testing.T, fc *clockwork.FakeClock, n int, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testwait.Deadline)
	defer cancel()
	if err := fc.BlockUntilContext(ctx, n); err != nil {
		t.Fatalf("%s: %d timers never armed: %v", what, n, err)
	}
}

// TestDebounce: a change is scanned exactly debounce after its last event, on the injected
// clock: the scan's time (the entry's last success) says when it ran.
func TestDebounce(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Debounce", t0)
	dir := t.TempDir()
	a, b := pki.Leaf(testcerts.Options{Now: t0}), pki.Leaf(testcerts.Options{Now: t0})
	write(t, dir+"/site.pem", a.PEM())
	e := fileEntry(dir + "/*.pem")
	e.RescanInterval = model.Duration(time.Hour)
	fc := clockwork.NewFakeClockAt(t0)
	pub := runFake(t, New([]config.Files{e}, "", slog.New(slog.DiscardHandler), fc))
	blockUntil(t, fc, 1, "rescan after the first scan")

	// One event: the new version is written elsewhere and renamed into place, as deploy tools
	// do (a write in place would make several, whose arrival the test cannot wait for).
	tmp := t.TempDir() + "/site.pem"
	write(t, tmp, b.PEM())
	if err := os.Rename(tmp, dir+"/site.pem"); err != nil {
		t.Fatal(err)
	}
	blockUntil(t, fc, 3, "debounce and its bound after the event") // rescan, quiet, deadline
	fc.Advance(debounce - time.Millisecond)
	blockUntil(t, fc, 3, "nothing fired before the debounce")
	fc.Advance(time.Millisecond)
	snap := pub.Await(t, "the change", func(s *source.Snapshot) bool {
		c := chainByPath(s, dir+"/site.pem")
		return c != nil && c.Certs[0].Serial == serial(b)
	})
	if got := snap.Status[0].LastSuccess; !got.Equal(t0.Add(debounce)) {
		t.Errorf("scanned at %s, want t0 + debounce (%s)", got, t0.Add(debounce))
	}
}

// TestRescan: what fsnotify cannot see (the target of a symlink, in a directory no glob
// reads) is caught by the periodic rescan, on the injected clock.
func TestRescan(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Rescan", t0)
	watched, elsewhere := t.TempDir(), t.TempDir()
	a, b := pki.Leaf(testcerts.Options{Now: t0}), pki.Leaf(testcerts.Options{Now: t0})
	write(t, elsewhere+"/site.pem", a.PEM())
	if err := os.Symlink(elsewhere+"/site.pem", watched+"/site.pem"); err != nil {
		t.Fatal(err)
	}
	e := fileEntry(watched + "/*.pem")
	e.RescanInterval = model.Duration(time.Hour)
	fc := clockwork.NewFakeClockAt(t0)
	pub := runFake(t, New([]config.Files{e}, "", slog.New(slog.DiscardHandler), fc))
	blockUntil(t, fc, 1, "rescan after the first scan")

	write(t, elsewhere+"/site.pem", b.PEM())
	fc.Advance(time.Hour * 11 / 10) // the interval + its largest jitter
	snap := pub.Await(t, "the rescan", func(s *source.Snapshot) bool {
		c := chainByPath(s, watched+"/site.pem")
		return c != nil && c.Certs[0].Serial == serial(b)
	})
	if got := snap.Status[0].LastSuccess; !got.Equal(t0.Add(time.Hour * 11 / 10)) {
		t.Errorf("scanned at %s, want after the rescan interval", got)
	}
}

// failingWatcher is a real fsnotify watcher whose Add fails with ENOSPC, as inotify_add_watch
// does past fs.inotify.max_user_watches, for the directories in fail. The kernel's limit cannot
// be lowered without root, so the failure is injected at this seam; everything else (events,
// the watch list) is the real watcher's.
type failingWatcher struct {
	*fsnotify.Watcher
	mu   sync.Mutex
	fail map[string]bool
}

func (f *failingWatcher) Add(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[dir] {
		return syscall.ENOSPC
	}
	return f.Watcher.Add(dir)
}

func (f *failingWatcher) allow(dir string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.fail, dir)
}

// errorsExposition is the files source's error counters, as /metrics renders them, with n
// failed watch attempts.
func errorsExposition(watch int) string {
	return fmt.Sprintf(`
# HELP cert_expiry_exporter_errors_total Errors by source and fixed reason.
# TYPE cert_expiry_exporter_errors_total counter
cert_expiry_exporter_errors_total{reason="dangling_symlink",source="files"} 0
cert_expiry_exporter_errors_total{reason="empty",source="files"} 0
cert_expiry_exporter_errors_total{reason="io",source="files"} 0
cert_expiry_exporter_errors_total{reason="no_match",source="files"} 0
cert_expiry_exporter_errors_total{reason="not_found",source="files"} 0
cert_expiry_exporter_errors_total{reason="parse",source="files"} 0
cert_expiry_exporter_errors_total{reason="password",source="files"} 0
cert_expiry_exporter_errors_total{reason="permission",source="files"} 0
cert_expiry_exporter_errors_total{reason="too_large",source="files"} 0
cert_expiry_exporter_errors_total{reason="watch",source="files"} %d
`, watch)
}

func checkErrorSeries(t *testing.T, snap *source.Snapshot, want string) {
	t.Helper()
	store := inventory.New(Factory.Name)
	store.Restart(Factory.Name, true)(snap)
	if err := testutil.CollectAndCompare(collector.New(store, time.Now), strings.NewReader(want), "cert_expiry_exporter_errors_total"); err != nil {
		t.Error(err)
	}
}

// TestUnwatchedDirectory: a directory whose watch cannot be added is counted (reason watch, at
// every failed attempt), logged once, shown as one problem with the source still up, looked at
// again every unwatchedRescan (a change there is seen then, not at the full rescan) with its
// watch retried, and cleared once the watch succeeds; from then on its events are seen.
func TestUnwatchedDirectory(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Unwatched", t0)
	root := t.TempDir()
	watched, full := root+"/watched", root+"/full"
	a, b := pki.Leaf(testcerts.Options{Now: t0}), pki.Leaf(testcerts.Options{Now: t0})
	write(t, watched+"/site.pem", a.PEM())
	write(t, full+"/site.pem", a.PEM())
	age(t, full+"/site.pem") // trusted by the cache: only a pass that stats it sees the change below
	e := fileEntry(root + "/*/*.pem")
	e.RescanInterval = model.Duration(10 * time.Minute)
	fc := clockwork.NewFakeClockAt(t0)
	logs := &testwait.Buffer{}
	s := New([]config.Files{e}, "", slog.New(slog.NewTextHandler(logs, nil)), fc)
	fw := &failingWatcher{fail: map[string]bool{full: true}}
	s.wrapWatcher = func(w *fsnotify.Watcher) dirWatcher { fw.Watcher = w; return fw }
	pub := runFake(t, s)
	fast := s.unwatchedRescan()
	if fast != time.Minute {
		t.Fatalf("unwatched directories rescanned every %s, want a tenth of the rescan interval", fast)
	}
	blockUntil(t, fc, 2, "rescan and the pass over the unwatched directory")

	snap := pub.Await(t, "first scan", func(*source.Snapshot) bool { return true })
	want := []source.Problem{{Source: certs.SourceFile, Where: full, Reason: reasonWatch,
		Message: "not watched for changes: no space left on device (the inotify watch limit, sysctl fs.inotify.max_user_watches); rescanned every 1m0s"}}
	if !slices.Equal(snap.Problems, want) || !snap.Status[0].Up {
		t.Errorf("problems %+v, up %v; want %+v, up", snap.Problems, snap.Status[0].Up, want)
	}
	checkErrorSeries(t, snap, errorsExposition(1))

	// Replaced by rename: no event, since the directory is not watched.
	replace := func(path string, c *testcerts.Cert) {
		t.Helper()
		tmp := t.TempDir() + "/site.pem"
		write(t, tmp, c.PEM())
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	replace(full+"/site.pem", b)
	fc.Advance(fast)
	snap = pub.Await(t, "the pass over the unwatched directory", func(s *source.Snapshot) bool {
		c := chainByPath(s, full+"/site.pem")
		return c != nil && c.Certs[0].Serial == serial(b)
	})
	if got := snap.Status[0].LastSuccess; !got.Equal(t0.Add(fast)) {
		t.Errorf("scanned at %s, want t0 + %s", got, fast)
	}
	if !slices.Equal(snap.Problems, want) {
		t.Errorf("problems %+v, want %+v", snap.Problems, want)
	}
	checkErrorSeries(t, snap, errorsExposition(2)) // the retry failed too

	// The watch succeeds at the next pass: the problem clears, the counter stays.
	fw.allow(full)
	blockUntil(t, fc, 2, "rescan and the next pass")
	fc.Advance(fast)
	snap = pub.Await(t, "the watch added", func(s *source.Snapshot) bool { return len(s.Problems) == 0 })
	checkErrorSeries(t, snap, errorsExposition(2))
	if n := logLines(logs, "level=WARN", "cannot watch certificate directories", "count=1", "first="+full); n != 1 {
		t.Errorf("%d warnings about the unwatched directory, want 1 for its three scans:\n%s", n, logs)
	}
	if n := logLines(logs, "level=INFO", "every certificate directory is watched again"); n != 1 {
		t.Errorf("%d lines saying the watch is back, want 1:\n%s", n, logs)
	}

	// Watched now: a change is seen by its event, and no more fast passes are due.
	blockUntil(t, fc, 1, "the rescan alone")
	replace(full+"/site.pem", a)
	blockUntil(t, fc, 3, "debounce and its bound after the event")
	fc.Advance(debounce)
	pub.Await(t, "the change seen by its event", func(s *source.Snapshot) bool {
		c := chainByPath(s, full+"/site.pem")
		return c != nil && c.Certs[0].Serial == serial(a)
	})
}

func TestUnwatchedRescan(t *testing.T) {
	for _, c := range []struct{ rescan, want time.Duration }{
		{time.Second, time.Second},          // never faster than a second
		{5 * time.Minute, 30 * time.Second}, // the default: a tenth
		{2 * time.Hour, 5 * time.Minute},    // at most 5m, so that CertExpiryExporterErrors sees every window rise
	} {
		e := fileEntry("/x/*.pem")
		e.RescanInterval = model.Duration(c.rescan)
		if got := New([]config.Files{e}, "", slog.New(slog.DiscardHandler), clockwork.NewFakeClock()).unwatchedRescan(); got != c.want {
			t.Errorf("rescan_interval %s: unwatched directories every %s, want %s", c.rescan, got, c.want)
		}
	}
}

// TestNoWatcher: when no inotify instance can be opened (fs.inotify.max_user_instances, which
// cannot be lowered without root either: the failure is injected at openWatcher), every
// directory read is unwatched for that reason; the pass over them opens a watcher again, and
// from then on their events are seen.
func TestNoWatcher(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("NoWatcher", t0)
	root := t.TempDir()
	dir := root + "/certs"
	a, b := pki.Leaf(testcerts.Options{Now: t0}), pki.Leaf(testcerts.Options{Now: t0})
	write(t, dir+"/site.pem", a.PEM())
	e := fileEntry(root + "/*/*.pem")
	e.RescanInterval = model.Duration(10 * time.Minute)
	fc := clockwork.NewFakeClockAt(t0)
	s := New([]config.Files{e}, "", slog.New(slog.DiscardHandler), fc)
	opened := 0
	s.openWatcher = func() (*fsnotify.Watcher, error) {
		if opened++; opened == 1 {
			return nil, fmt.Errorf("couldn't initialize inotify: %w", syscall.EMFILE) // as fsnotify says it
		}
		return fsnotify.NewWatcher()
	}
	pub := runFake(t, s)
	blockUntil(t, fc, 2, "rescan and the pass over the unwatched directories")
	snap := pub.Await(t, "first scan", func(*source.Snapshot) bool { return true })
	want := []source.Problem{{Source: certs.SourceFile, Where: root, Reason: reasonWatch,
		Message: "2 directories not watched for changes, this one first: couldn't initialize inotify: too many open files (the inotify instance limit, sysctl fs.inotify.max_user_instances); rescanned every 1m0s"}}
	if !slices.Equal(snap.Problems, want) {
		t.Errorf("problems %+v, want %+v", snap.Problems, want)
	}
	checkErrorSeries(t, snap, errorsExposition(2))

	fc.Advance(s.unwatchedRescan())
	snap = pub.Await(t, "the watcher opened", func(s *source.Snapshot) bool { return len(s.Problems) == 0 })
	checkErrorSeries(t, snap, errorsExposition(2))
	blockUntil(t, fc, 1, "the rescan alone")
	tmp := t.TempDir() + "/site.pem"
	write(t, tmp, b.PEM())
	if err := os.Rename(tmp, dir+"/site.pem"); err != nil {
		t.Fatal(err)
	}
	blockUntil(t, fc, 3, "debounce and its bound after the event")
	fc.Advance(debounce)
	pub.Await(t, "the change seen by its event", func(s *source.Snapshot) bool {
		c := chainByPath(s, dir+"/site.pem")
		return c != nil && c.Certs[0].Serial == serial(b)
	})
}
