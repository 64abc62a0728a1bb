package certbot

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

var t0 = time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)

// env is a certbot installation in a temp dir and a Source over it, driven step by step.
type env struct {
	t     testing.TB
	dir   string
	log   string
	now   time.Time
	clock *clockwork.FakeClock // the source's, from source() on; setNow moves it
	mu    sync.Mutex
	snap  *Snapshot
	lines int // lines written to the log so far
	runs  int
}

func newEnv(t testing.TB) *env {
	dir := t.TempDir()
	e := &env{t: t, dir: dir, log: filepath.Join(dir, "logs", "letsencrypt.log"), now: t0}
	for _, d := range []string{"logs", "conf/renewal"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.conf("a.example.test", "[renewalparams]\nauthenticator = standalone\nserver = https://acme-v02.api.letsencrypt.org/directory\n")
	return e
}

// conf writes a renewal conf, dated a minute ago: written and done (confSettle).
func (e *env) conf(lineage, text string) {
	p := filepath.Join(e.dir, "conf/renewal", lineage+".conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(p, old, old); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) source() *Source {
	cfg := config.Certbot{ConfigDir: filepath.Join(e.dir, "conf"), LogFile: e.log, LogTimezone: "UTC",
		HistoryMaxAge: model.Duration(30 * 24 * time.Hour), RescanInterval: model.Duration(time.Minute)}
	e.clock = clockwork.NewFakeClockAt(e.now)
	return newSource(cfg, slog.New(slog.DiscardHandler), e.clock)
}

// setNow moves the test's time, and the source's clock with it (forward only).
func (e *env) setNow(t time.Time) {
	if e.clock != nil {
		if t.Before(e.now) {
			e.t.Fatalf("time goes back: %s before %s", t, e.now)
		}
		e.clock.Advance(t.Sub(e.now))
	}
	e.now = t
}

// publish keeps the certbot snapshot inside a published one.
func (e *env) publish(s *source.Snapshot) { e.mu.Lock(); e.snap = s.State.(*Snapshot); e.mu.Unlock() }

func (e *env) latest() *Snapshot { e.mu.Lock(); defer e.mu.Unlock(); return e.snap }

// run appends one certbot run on a.example.test (3 lines with a traceback when it fails) to path.
func (e *env) run(path string, fail bool) {
	e.setNow(e.now.Add(12 * time.Hour))
	stamp := e.now.Format("2006-01-02 15:04:05,000")
	text := fmt.Sprintf("%s:DEBUG:certbot._internal.main:certbot version: 2.1.0\n"+
		"%s:DEBUG:certbot._internal.display.obj:Notifying user: Processing /etc/letsencrypt/renewal/a.example.test.conf\n", stamp, stamp)
	if fail {
		text += stamp + ":ERROR:certbot._internal.renewal:Failed to renew certificate a.example.test with error: urn:ietf:params:acme:error:rateLimited :: too many certificates\n" +
			"Traceback (most recent call last):\n" +
			stamp + ":ERROR:certbot._internal.log:1 renew failure(s), 0 parse failure(s)\n"
	} else {
		text += stamp + ":DEBUG:certbot._internal.storage:Writing new config /etc/letsencrypt/renewal/a.example.test.conf.new.\n"
	}
	e.append(path, text)
	e.runs++
}

func (e *env) append(path, text string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		e.t.Fatal(err)
	}
	e.lines += strings.Count(text, "\n")
}

// start replays like Run does, without the loop; poll is one loop iteration.
func (e *env) start(s *Source) { s.start(); e.publish(s.current()) }
func (e *env) poll(s *Source)  { s.pollLog(); e.publish(s.current()) }

// check asserts that every line and run written was read exactly once.
func (e *env) check(s *Source) {
	e.t.Helper()
	e.setNow(e.now.Add(runIdle + time.Second)) // the last run is over
	e.poll(s)
	e.poll(s) // a quiet poll completes it
	snap := e.latest()
	if snap.LogLines != uint64(e.lines) || snap.Runs["success"]+snap.Runs["failure"] != uint64(e.runs) {
		e.t.Fatalf("read %d lines and %d runs, wrote %d lines and %d runs", snap.LogLines, snap.Runs["success"]+snap.Runs["failure"], e.lines, e.runs)
	}
	if snap.LogUnparsed != 0 {
		e.t.Errorf("unparsed = %d", snap.LogUnparsed)
	}
}

func mustRename(t testing.TB, from, to string) {
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func gzipFile(t testing.TB, from, to string) {
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Remove(from); err != nil {
		t.Fatal(err)
	}
}

func TestRotationStyles(t *testing.T) {
	tests := []struct {
		name   string
		rotate func(e *env)
	}{
		{"certbot rename chain", func(e *env) { rotateChain(e.t, e.log) }},
		{"logrotate create + gzip (no delaycompress)", func(e *env) {
			if _, err := os.Stat(e.log + ".1.gz"); err == nil {
				mustRename(e.t, e.log+".1.gz", e.log+".2.gz")
			}
			mustRename(e.t, e.log, e.log+".1")
			gzipFile(e.t, e.log+".1", e.log+".1.gz")
		}},
		{"copytruncate", func(e *env) {
			data, err := os.ReadFile(e.log)
			if err != nil {
				e.t.Fatal(err)
			}
			if err := os.WriteFile(e.log+".1", data, 0o644); err != nil {
				e.t.Fatal(err)
			}
			if err := os.Truncate(e.log, 0); err != nil {
				e.t.Fatal(err)
			}
		}},
		{"delete and recreate", func(e *env) {
			if err := os.Remove(e.log); err != nil {
				e.t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.run(e.log, false)
			s := e.source()
			e.start(s)
			for i := 0; i < 3; i++ {
				e.run(e.log, i == 1) // written before the rotation, not yet read
				tt.rotate(e)
				e.run(e.log, false) // the new file
				e.poll(s)
			}
			e.check(s)
			snap := e.latest()
			if l := snap.Lineages[0]; l.FailureReason != "none" || l.Attempts["failed"] != 1 || l.Attempts["renewed"] != 6 {
				t.Errorf("lineage %+v", l)
			}
			// Restarted exporter: replays what is left on disk once.
			e2 := &env{t: t, dir: e.dir, log: e.log, now: e.now, lines: linesOnDisk(t, e.log)}
			s2 := e2.source()
			e2.start(s2)
			if got := e2.latest().LogLines; got != uint64(e2.lines) {
				t.Errorf("restart read %d lines, %d are on disk", got, e2.lines)
			}
			s.tail.Close()
			s2.tail.Close()
		})
	}
}

// linesOnDisk counts lines in the log and its backups (plain or gzip).
func linesOnDisk(t testing.TB, log string) int {
	paths, _ := filepath.Glob(log + "*")
	n := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = f
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		data, err := io.ReadAll(r)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(data), "\n")
	}
	return n
}

func TestRestartMidway(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.run(e.log, false)
		rotateChain(t, e.log)
	}
	e.run(e.log, true)
	s := e.source()
	e.start(s)
	e.check(s)
	if l := e.latest().Lineages[0]; l.FailureReason != "rate_limited" || l.Attempts["renewed"] != 3 || l.Attempts["failed"] != 1 {
		t.Errorf("after replay: %+v", l)
	}
	s.tail.Close()

	// Stopped; certbot rotates and runs twice; a new exporter replays everything once.
	rotateChain(t, e.log)
	e.run(e.log, false)
	s2 := e.source()
	e.start(s2)
	e.run(e.log, false)
	e.check(s2)
	if l := e.latest().Lineages[0]; l.FailureReason != "none" || l.Attempts["renewed"] != 5 || !l.LastSuccess.Equal(e.now.Add(-runIdle-time.Second)) {
		t.Errorf("after restart: %+v", l)
	}
	s2.tail.Close()
}

// rotateChain rotates like certbot: .N → .N+1, …, log → .1.
func rotateChain(t testing.TB, log string) {
	n := 1
	for ; ; n++ {
		if _, err := os.Stat(fmt.Sprintf("%s.%d", log, n)); err != nil {
			break
		}
	}
	for ; n > 1; n-- {
		mustRename(t, fmt.Sprintf("%s.%d", log, n-1), fmt.Sprintf("%s.%d", log, n))
	}
	mustRename(t, log, log+".1")
}

func TestHistoryMaxAge(t *testing.T) {
	e := newEnv(t)
	e.run(e.log, true)
	mustRename(t, e.log, e.log+".1")
	old := t0.Add(-40 * 24 * time.Hour)
	if err := os.Chtimes(e.log+".1", old, old); err != nil {
		t.Fatal(err)
	}
	e.lines, e.runs = 0, 0
	e.run(e.log, false)
	s := e.source()
	e.start(s)
	e.check(s) // the 40-day-old backup is not replayed
	s.tail.Close()
}

func TestMissingLogAndLongLines(t *testing.T) {
	e := newEnv(t)
	s := e.source()
	e.start(s)
	e.poll(s)
	e.poll(s)
	snap := e.latest()
	lh := snap.Status[0]
	if lh.Source != "certbot_log" || lh.Up || lh.Errors["not_found"] != 1 || lh.Error != "stat "+e.log+": no such file or directory" {
		t.Fatalf("missing log: %+v", lh)
	}
	e.run(e.log, false)
	e.append(e.log, "x"+strings.Repeat("y", maxLine+10)+"\n")
	e.poll(s)
	snap = e.latest()
	if lh := snap.Status[0]; !lh.Up || lh.Errors["line_too_long"] != 1 || lh.Errors["not_found"] != 1 || lh.Error != "" {
		t.Fatalf("log back: %+v", lh)
	}
	if snap.LogLines != uint64(e.lines) || snap.LogUnparsed != 0 {
		t.Errorf("lines %d (want %d), unparsed %d", snap.LogLines, e.lines, snap.LogUnparsed)
	}
	if rh := snap.Status[1]; rh.Source != "certbot_renewal" || !rh.Up {
		t.Errorf("renewal health %+v", rh)
	}
	s.tail.Close()
}

// TestLineageBound: a log naming more lineages than maxLineages costs bounded memory; the
// excess is counted, and the lineage with a renewal conf is kept throughout.
func TestLineageBound(t *testing.T) {
	e := newEnv(t)
	e.conf("broken", "[renewalparams\n") // exported although unparsable: never forgotten either
	s := e.source()
	e.start(s)
	runWith := func(names ...string) {
		e.setNow(e.now.Add(time.Hour))
		stamp := e.now.Format("2006-01-02 15:04:05,000")
		var b strings.Builder
		b.WriteString(stamp + ":DEBUG:certbot._internal.main:certbot version: 2.1.0\n")
		for _, n := range names {
			fmt.Fprintf(&b, "%s:DEBUG:certbot._internal.renewal:Processing /etc/letsencrypt/renewal/%s.conf\n", stamp, n)
			fmt.Fprintf(&b, "%s:INFO:certbot._internal.renewal:Certificate not yet due for renewal\n", stamp)
		}
		e.append(e.log, b.String())
		e.poll(s)
		e.setNow(e.now.Add(runIdle + time.Second))
		e.poll(s)
		e.poll(s)
	}
	runWith("broken") // the oldest attempt of all
	names := []string{"a.example.test"}
	for i := range maxLineages + 2 {
		names = append(names, fmt.Sprintf("l%05d", i))
	}
	runWith(names...) // the run keeps maxLineages outcomes: 3 dropped
	runWith("new-1", "new-2")
	if n := len(s.state.lineages); n != maxLineages {
		t.Fatalf("%d lineages kept, want %d", n, maxLineages)
	}
	for _, name := range []string{"a.example.test", "broken", "new-1", "new-2"} {
		if s.state.lineages[name] == nil {
			t.Errorf("%s was forgotten", name)
		}
	}
	if got := e.latest().Status[0].Errors["limit_exceeded"]; got != 3+3 {
		t.Errorf("limit_exceeded = %d, want 6", got)
	}
	s.tail.Close()
}

func TestRenewalConfs(t *testing.T) {
	e := newEnv(t)
	e.conf("broken.example.test", "this is = [not a\n[renewalparams\n")
	e.conf("stage.example.test", "[renewalparams]\nauthenticator = webroot\nserver = https://acme-staging-v02.api.letsencrypt.org/directory\n")
	s := e.source()
	e.start(s)
	snap := e.latest()
	var names []string
	for _, l := range snap.Lineages {
		names = append(names, l.Name)
	}
	if strings.Join(names, ",") != "a.example.test,broken.example.test,stage.example.test" {
		t.Fatalf("lineages %v", names)
	}
	if snap.Lineages[1].Conf != nil || !snap.Lineages[2].Conf.Staging() || snap.Status[1].Errors["parse"] != 1 {
		t.Errorf("confs: %+v %+v %+v", snap.Lineages[1], snap.Lineages[2].Conf, snap.Status[1])
	}
	// certbot cannot renew a lineage whose conf it cannot read: a renewal failure now, not
	// after the next run.
	if l := snap.Lineages[1]; l.FailureReason != "config" || !strings.HasPrefix(l.FailureMessage, "renewal conf unreadable: line 2:") {
		t.Errorf("broken conf: reason %q message %q, want config", l.FailureReason, l.FailureMessage)
	}
	s.readRenewal() // same broken file: counted once
	if s.renewalHealth.Errors["parse"] != 1 {
		t.Errorf("parse errors = %d after a reread", s.renewalHealth.Errors["parse"])
	}
	// Removing the broken conf removes its lineage.
	if err := os.Remove(filepath.Join(e.dir, "conf/renewal/broken.example.test.conf")); err != nil {
		t.Fatal(err)
	}
	s.readRenewal()
	e.publish(s.current())
	if n := len(e.latest().Lineages); n != 2 {
		t.Errorf("%d lineages after the broken conf was removed, want 2", n)
	}
	s.tail.Close()
}

// TestRenewalConfBeingWritten: a conf that does not parse and changed a moment ago may be
// one certbot is writing (in place, for a new lineage): not broken yet. Once it has settled,
// it is.
func TestRenewalConfBeingWritten(t *testing.T) {
	e := newEnv(t)
	s := e.source()
	s.confSettle = time.Hour // however slow this machine, the read below is within it
	e.start(s)
	half := filepath.Join(e.dir, "conf/renewal/new.example.test.conf")
	if err := os.WriteFile(half, []byte("[renewalparams]\nauthent"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.readRenewal()
	e.publish(s.current())
	if n, errs := len(e.latest().Lineages), s.renewalHealth.Errors["parse"]; n != 1 || errs != 0 {
		t.Fatalf("half-written conf: %d lineages, %d parse errors; want it not looked at yet", n, errs)
	}
	settled := time.Now().Add(-s.confSettle - time.Second)
	if err := os.Chtimes(half, settled, settled); err != nil {
		t.Fatal(err)
	}
	s.readRenewal()
	e.publish(s.current())
	if l := e.latest().Lineages; len(l) != 2 || l[1].FailureReason != "config" || s.renewalHealth.Errors["parse"] != 1 {
		t.Errorf("settled broken conf: %+v, %d parse errors", l, s.renewalHealth.Errors["parse"])
	}
	s.tail.Close()
}

// TestNonRegularFilesDoNotBlock: a FIFO as the log and as a renewal conf, and a symlink to
// /dev/zero as the log, are refused at once (reason io), where an open or a read would block
// or never end; the source starts, and the other lineages are there.
func TestNonRegularFilesDoNotBlock(t *testing.T) {
	for name, makeLog := range map[string]func(string) error{
		"fifo":      func(p string) error { return syscall.Mkfifo(p, 0o600) },
		"/dev/zero": func(p string) error { return os.Symlink("/dev/zero", p) },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if err := makeLog(e.log); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(filepath.Join(e.dir, "conf/renewal/fifo.example.test.conf"), 0o600); err != nil {
				t.Fatal(err)
			}
			s := e.source()
			done := make(chan struct{})
			go func() { e.start(s); close(done) }()
			select {
			case <-done:
			case <-time.After(testwait.Deadline):
				t.Fatal("the source blocked on a non-regular file")
			}
			snap := e.latest()
			if snap.Status[0].Up || snap.Status[0].Errors["io"] != 1 || snap.Status[1].Errors["io"] != 1 {
				t.Errorf("status %+v", snap.Status)
			}
			if len(snap.Lineages) != 2 || snap.Lineages[0].Name != "a.example.test" || snap.Lineages[1].FailureReason != "config" {
				t.Errorf("lineages %+v", snap.Lineages)
			}
			s.tail.Close()
		})
	}
}

// TestRun drives the real loop: fsnotify picks up a line written while it runs, and the poll
// ticker (on the injected clock) completes the record the quiet log leaves pending.
func TestRun(t *testing.T) {
	e := newEnv(t)
	e.run(e.log, false)
	s := e.source()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, e.publish); close(done) }()
	defer func() { cancel(); <-done }()
	testwait.For(t, "the history", func() bool { sn := e.latest(); return sn != nil && sn.LogLines == 3 })
	stamp := t0.Add(13 * time.Hour).Format("2006-01-02 15:04:05,000")
	f, err := os.OpenFile(e.log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%s:DEBUG:certbot._internal.main:certbot version: 2.1.0\n", stamp)
	f.Close()
	testwait.For(t, "the new line", func() bool { return e.latest().LogLines == 4 })
	// The new record may get continuation lines until a poll finds nothing new.
	ctx2, cancel2 := context.WithTimeout(ctx, testwait.Deadline)
	defer cancel2()
	if err := e.clock.BlockUntilContext(ctx2, 2); err != nil { // poll and rescan tickers
		t.Fatal(err)
	}
	e.setNow(e.now.Add(logPoll))
	testwait.For(t, "the previous run completed", func() bool { return e.latest().Runs["success"] == 1 })
}

// TestUnwatchedRenewalDir: renewal/ cannot be watched (ENOSPC, the kernel's watch limit, which
// cannot be lowered without root: injected at addWatch). Each attempt is counted on
// certbot_renewal, one WARN says so, the confs are read at every rescan meanwhile, and the
// watch is retried there: once added, a new conf is seen at once again.
func TestUnwatchedRenewalDir(t *testing.T) {
	e := newEnv(t)
	e.append(e.log, "")
	s := e.source()
	var logs testwait.Buffer
	s.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	renewalDir := filepath.Join(e.dir, "conf", "renewal")
	var refuse atomic.Bool
	refuse.Store(true)
	s.addWatch = func(w *fsnotify.Watcher, dir string) error {
		if dir == renewalDir && refuse.Load() {
			return fmt.Errorf("%s: %w", dir, syscall.ENOSPC)
		}
		return w.Add(dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, e.publish); close(done) }()
	defer func() { cancel(); <-done }()
	lineages := func(n int) func() bool {
		return func() bool { sn := e.latest(); return sn != nil && len(sn.Lineages) == n }
	}
	watchErrors := func() (uint64, uint64) {
		st := e.latest().Status
		return st[0].Errors[reasonWatch], st[1].Errors[reasonWatch]
	}
	testwait.For(t, "the first pass", lineages(1))
	if lw, rw := watchErrors(); lw != 0 || rw != 1 {
		t.Fatalf("watch errors: log %d, renewal %d; want 0, 1", lw, rw)
	}
	warn := `level=WARN msg="cannot watch certbot directory for changes; polling it" path=` + renewalDir +
		` err="` + renewalDir + `: no space left on device (the inotify watch limit, sysctl fs.inotify.max_user_watches)" log_poll=1s rescan_interval=1m0s`
	if got := strings.TrimSpace(stripTime(logs.String())); got != warn {
		t.Fatalf("log:\n%s\nwant:\n%s", got, warn)
	}

	// Unwatched: a new conf waits for the rescan, which tries the watch again.
	e.conf("b.example.test", "[renewalparams]\nauthenticator = webroot\n")
	ctx2, cancel2 := context.WithTimeout(ctx, testwait.Deadline)
	defer cancel2()
	if err := e.clock.BlockUntilContext(ctx2, 2); err != nil { // poll and rescan tickers
		t.Fatal(err)
	}
	e.setNow(e.now.Add(time.Minute))
	testwait.For(t, "the conf read at the rescan", lineages(2))
	if lw, rw := watchErrors(); lw != 0 || rw != 2 {
		t.Fatalf("watch errors after the rescan: log %d, renewal %d; want 0, 2", lw, rw)
	}

	// The limit lifted: the next rescan adds the watch, and a conf is seen without a rescan.
	refuse.Store(false)
	e.setNow(e.now.Add(time.Minute))
	testwait.For(t, "watched again", func() bool { return strings.Contains(logs.String(), "certbot directory watched again") })
	e.conf("c.example.test", "[renewalparams]\nauthenticator = webroot\n")
	testwait.For(t, "the conf seen by its event", lineages(3))
	if lw, rw := watchErrors(); lw != 0 || rw != 2 {
		t.Fatalf("watch errors once watched: log %d, renewal %d; want 0, 2", lw, rw)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

// stripTime drops the time= field of text log lines.
func stripTime(s string) string { return regexp.MustCompile(`(?m)^time=\S+ `).ReplaceAllString(s, "") }

// TestNoInotifyInstance: no watcher at all (EMFILE, the instance limit: injected at
// openWatcher). Both directories are counted at every attempt, and a watcher opened later
// sees the next conf at once.
func TestNoInotifyInstance(t *testing.T) {
	e := newEnv(t)
	e.append(e.log, "")
	s := e.source()
	var refuse atomic.Bool
	refuse.Store(true)
	s.openWatcher = func() (*fsnotify.Watcher, error) {
		if refuse.Load() {
			return nil, fmt.Errorf("inotify_init1: %w", syscall.EMFILE)
		}
		return fsnotify.NewWatcher()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, e.publish); close(done) }()
	defer func() { cancel(); <-done }()
	counted := func(n uint64) func() bool {
		return func() bool {
			sn := e.latest()
			return sn != nil && sn.Status[0].Errors[reasonWatch] == n && sn.Status[1].Errors[reasonWatch] == n
		}
	}
	testwait.For(t, "both directories counted", counted(1))
	ctx2, cancel2 := context.WithTimeout(ctx, testwait.Deadline)
	defer cancel2()
	if err := e.clock.BlockUntilContext(ctx2, 2); err != nil { // poll and rescan tickers
		t.Fatal(err)
	}
	refuse.Store(false)
	e.setNow(e.now.Add(time.Minute))
	testwait.For(t, "the rescan", func() bool { return e.latest().Status[1].LastSuccess.Equal(e.now) })
	e.conf("b.example.test", "[renewalparams]\nauthenticator = webroot\n")
	testwait.For(t, "the conf seen by its event", func() bool { return len(e.latest().Lineages) == 2 })
	if !counted(1)() {
		t.Errorf("watch errors once watched: %+v", e.latest().Status)
	}
}
