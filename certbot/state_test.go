package certbot

import (
	"os"
	"testing"
	"time"
)

// TestRealLogSequence feeds logs captured from real certbot 2.1.0 runs (logparse/testdata)
// one after another and checks the lineage state after each.
func TestRealLogSequence(t *testing.T) {
	e := newEnv(t)
	e.now = time.Date(2026, 11, 25, 0, 30, 0, 0, time.UTC)
	s := e.source()
	e.start(s)
	steps := []struct {
		log, reason string
		hooks       []string
		runOK       bool
	}{
		{"issue", "none", nil, true},
		{"renew-connection", "connection", nil, false},
		{"renew-dry-run", "connection", nil, true}, // dry runs leave the lineage alone
		{"renew-deploy-hook-fails", "hook", []string{"deploy"}, true},
		{"renew-not-due", "none", nil, true},
		{"renew-dns", "dns", []string{"pre", "post"}, false},
		{"renew-lock", "lock", nil, false}, // stopped before any lineage: all are affected
		{"renew-success", "none", nil, true},
	}
	for i, st := range steps {
		data, err := os.ReadFile("../logparse/testdata/certbot-2.1.0/" + st.log + ".log")
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
		if l.Name != "a.example.test" || l.FailureReason != st.reason || len(hooks) != len(st.hooks) ||
			len(hooks) > 0 && hooks[0] != st.hooks[0] || snap.LastRunSuccess != st.runOK {
			t.Errorf("after %s: reason %q (message %q) hooks %v lastRunSuccess %v", st.log, l.FailureReason, l.FailureMessage, hooks, snap.LastRunSuccess)
		}
		if got := snap.Runs["success"] + snap.Runs["failure"]; got != uint64(i+1) {
			t.Errorf("after %s: %d runs", st.log, got)
		}
	}
	l := e.latest().Lineages[0]
	want := map[string]uint64{"renewed": 3, "not_due": 1, "failed": 2}
	for k, v := range want {
		if l.Attempts[k] != v {
			t.Errorf("attempts %v, want %v", l.Attempts, want)
			break
		}
	}
	if l.LastRenewal.IsZero() || !l.LastSuccess.Equal(l.LastAttempt) || l.Conf == nil {
		t.Errorf("final lineage %+v", l)
	}
	s.tail.close()
}
