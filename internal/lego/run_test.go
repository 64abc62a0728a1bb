package lego

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// TestRunFollows: the running source follows the log as cron appends each lego run, across a
// rotation (logrotate's create), and publishes the outcome within two polls of lego's last
// line (the log going quiet folds it); a removed certificate leaves the store's series.
func TestRunFollows(t *testing.T) {
	s := newStore(t)
	clock := clockwork.NewFakeClockAt(now)
	src := newSource([]config.Lego{s.cfg()}, slog.New(slog.DiscardHandler), clock)
	var mu sync.Mutex
	var last *source.Snapshot
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx, func(snap *source.Snapshot) { mu.Lock(); last = snap; mu.Unlock() })
	}()
	t.Cleanup(func() { cancel(); <-done })
	// state is the latest snapshot's renewal reason and client run, as "reason/success".
	state := func() string {
		mu.Lock()
		defer mu.Unlock()
		if last == nil {
			return "unpublished"
		}
		reason := ""
		for _, r := range last.Renewals {
			reason = r.Reason
		}
		c := last.Clients[0]
		return fmt.Sprintf("%s/%v/%d", reason, c.Seen && c.LastRunSuccess, len(last.Chains))
	}
	wait := func(want string) {
		t.Helper()
		testwait.Until(t, func() error {
			if got := state(); got != want {
				clock.Advance(logPoll) // the poll ticker; the source may not be waiting yet
				return fmt.Errorf("state %s, want %s", got, want)
			}
			return nil
		})
	}
	wait("/false/1") // the certificate, no run yet
	s.logs("issue")
	wait("none/true/1")
	s.logs("renew-connection")
	wait("connection/false/1")
	// logrotate (create): the old log renamed, a new one started by the next cron run.
	if err := os.Rename(s.log, s.log+".1"); err != nil {
		t.Fatal(err)
	}
	s.write("log/lego.log", nil)
	s.logs("renew-success")
	wait("none/true/1")
	if err := os.Remove(s.dir + "/certificates/a.example.test.crt"); err != nil {
		t.Fatal(err)
	}
	// The store notices by fsnotify or its rescan (rescan_interval 1m on the fake clock).
	testwait.Until(t, func() error {
		if got := state(); got != "none/true/0" {
			clock.Advance(time.Minute)
			return fmt.Errorf("state %s after the certificate's removal", got)
		}
		return nil
	})
}
