package files

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
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
		return len(s.Chains) == 0 && errorsOf(s)[dir+"/*.pem"] == reasonNoMatch
	})
	write(t, dir+"/site.pem", b.PEM())
	pub.Await(t, "directory back", hasSerial(serial(b)))
	pub.Await(t, "error cleared", func(s *source.Snapshot) bool { return len(s.Problems) == 0 })
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
