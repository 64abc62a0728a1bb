package certbot

import (
	"maps"
	"os"
	"slices"
	"testing"
	"time"
)

// TestRealLogSequence feeds logs captured from real certbot 2.1.0 runs (logparse/testdata)
// one after another and checks the lineage state after each. A deploy-hook failure stays
// until a renewal reports none (a not-due check or a failed attempt deploys nothing); pre and
// post failures stay until the next attempt that runs those hooks.
func TestRealLogSequence(t *testing.T) {
	e := newEnv(t)
	e.setNow(time.Date(2026, 11, 25, 0, 30, 0, 0, time.UTC))
	s := e.source()
	e.start(s)
	steps := []struct {
		log, reason string
		hooks       []string
		runOK       bool
		failures    int // consecutive failed attempts (a run stopped before any lineage is none)
	}{
		{"issue", "none", nil, true, 0},
		{"renew-connection", "connection", nil, false, 1},
		{"renew-dry-run", "connection", nil, true, 1}, // dry runs leave the lineage alone
		// A failed hook stands on its own (certbot_hook_failure); the renewal itself worked.
		{"renew-deploy-hook-fails", "none", []string{"deploy"}, true, 0},
		{"renew-not-due", "none", []string{"deploy"}, true, 0},           // nothing was deployed
		{"renew-dry-run", "none", []string{"deploy"}, true, 0},           // nor by a dry run
		{"renew-connection", "connection", []string{"deploy"}, false, 1}, // nor by a failed attempt
		{"renew-pre-post-hook-fail", "none", []string{"pre", "post", "deploy"}, true, 0},
		{"renew-not-due", "none", []string{"pre", "post", "deploy"}, true, 0}, // ran no hook
		{"renew-dns", "dns", []string{"pre", "post", "deploy"}, false, 1},     // pre and post failed again
		{"renew-lock", "lock", []string{"pre", "post", "deploy"}, false, 1},   // stopped before any lineage: all are affected
		{"renew-connection", "connection", []string{"deploy"}, false, 2},      // pre and post ran (none configured)
		{"renew-success", "none", nil, true, 0},
		{"renew-not-due", "none", nil, true, 0},
	}
	for i, st := range steps {
		data, err := os.ReadFile("../../logparse/testdata/certbot-2.1.0/" + st.log + ".log")
		if err != nil {
			t.Fatal(err)
		}
		e.append(e.log, string(data))
		e.poll(s)
		e.poll(s) // quiet: the run is over (the clock is past it by more than runIdle)
		snap := e.latest()
		l := snap.Lineages[0]
		var hooks []string
		for _, h := range l.HookFailures {
			hooks = append(hooks, h.Hook)
		}
		if l.Name != "a.example.test" || l.FailureReason != st.reason || !slices.Equal(hooks, st.hooks) || snap.LastRunSuccess != st.runOK || l.Failures != st.failures {
			t.Errorf("step %d %s: reason %q (message %q) hooks %v lastRunSuccess %v failures %d, want %q %v %v %d",
				i, st.log, l.FailureReason, l.FailureMessage, hooks, snap.LastRunSuccess, l.Failures, st.reason, st.hooks, st.runOK, st.failures)
		}
		if got := snap.Runs["success"] + snap.Runs["failure"]; got != uint64(i+1) {
			t.Errorf("after %s: %d runs", st.log, got)
		}
	}
	l := e.latest().Lineages[0]
	want := map[string]uint64{"renewed": 4, "not_due": 3, "failed": 4}
	for k, v := range want {
		if l.Attempts[k] != v {
			t.Errorf("attempts %v, want %v", l.Attempts, want)
			break
		}
	}
	if l.LastRenewal.IsZero() || !l.LastSuccess.Equal(l.LastAttempt) || l.Conf == nil {
		t.Errorf("final lineage %+v", l)
	}
	s.tail.Close()
}

// TestHookFailureHeldDuringRun: a renewal in progress has not shown yet that its deploy hook
// works, so the earlier failure stands until the run is over.
func TestHookFailureHeldDuringRun(t *testing.T) {
	e := newEnv(t)
	e.setNow(time.Date(2026, 11, 25, 0, 20, 4, 0, time.UTC))
	s := e.source()
	e.start(s)
	for _, name := range []string{"renew-deploy-hook-fails", "renew-success"} {
		data, err := os.ReadFile("../../logparse/testdata/certbot-2.1.0/" + name + ".log")
		if err != nil {
			t.Fatal(err)
		}
		e.append(e.log, string(data))
	}
	e.poll(s)
	e.poll(s)
	if l := e.latest().Lineages[0]; l.FailureReason != "none" || len(l.HookFailures) != 1 {
		t.Errorf("while renew-success runs: reason %q hooks %v, want the deploy hook's failure held", l.FailureReason, l.HookFailures)
	}
	e.setNow(e.now.Add(runIdle + time.Second))
	e.poll(s)
	if l := e.latest().Lineages[0]; l.FailureReason != "none" || len(l.HookFailures) != 0 {
		t.Errorf("after renew-success: reason %q hooks %v", l.FailureReason, l.HookFailures)
	}
	s.tail.Close()
}

// TestBound: past the bound, the lineages the log named longest ago go first; a lineage with
// a renewal conf stays, however old.
func TestBound(t *testing.T) {
	st := newState()
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"conf-oldest", "b", "c", "d", "e"} {
		st.lineage(name).lastAttempt = t0.Add(time.Duration(i) * time.Hour)
	}
	st.lineage("a-same-time-as-d").lastAttempt = st.lineages["d"].lastAttempt // ties go by name
	confs := map[string]bool{"conf-oldest": true}
	if n := st.bound(6, confs); n != 0 {
		t.Fatalf("bound at the limit forgot %d", n)
	}
	if n := st.bound(3, confs); n != 3 {
		t.Fatalf("forgot %d, want 3", n)
	}
	if got := slices.Sorted(maps.Keys(st.lineages)); !slices.Equal(got, []string{"conf-oldest", "d", "e"}) {
		t.Errorf("kept %v", got)
	}
}

// TestCertonlyFailureStaysWithItsName: a certonly for a new name that fails (its challenges,
// the CA's nonce, a pre hook) names no lineage; it must not mark the existing lineages failed
// (a renew that stops before any lineage, the lock, does: TestRealLogSequence).
func TestCertonlyFailureStaysWithItsName(t *testing.T) {
	e := newEnv(t)
	e.setNow(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	s := e.source()
	e.start(s)
	for _, name := range []string{"renew-success", "standalone-certonly-connection", "standalone-certonly-bad-nonce", "standalone-certonly-pre-hook-fails"} {
		data, err := os.ReadFile("../../logparse/testdata/certbot-2.1.0/" + name + ".log")
		if err != nil {
			t.Fatal(err)
		}
		e.append(e.log, string(data))
		e.poll(s)
		e.poll(s)
	}
	snap := e.latest()
	if l := snap.Lineages[0]; l.Name != "a.example.test" || l.FailureReason != "none" || snap.LastRunSuccess {
		t.Errorf("lineage %s: reason %q, last run success %v; want the lineage untouched by the failed certonly", l.Name, l.FailureReason, snap.LastRunSuccess)
	}
}
