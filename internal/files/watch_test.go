package files

import (
	"context"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// published keeps the latest snapshot Run published.
type published struct {
	mu   sync.Mutex
	last *source.Snapshot
}

func (p *published) set(s *source.Snapshot) { p.mu.Lock(); p.last = s; p.mu.Unlock() }

// await polls until cond holds for the latest snapshot.
func (p *published) await(t *testing.T, what string, cond func(*source.Snapshot) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		s := p.last
		p.mu.Unlock()
		if s != nil && cond(s) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestRunWatchesChanges(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Watch", now)
	root := t.TempDir()
	dir := root + "/certs"
	a, b := pki.Leaf(testcerts.Options{Now: now}), pki.Leaf(testcerts.Options{Now: now})
	write(t, dir+"/site.pem", a.PEM())

	var pub published
	e := fileEntry(dir + "/*.pem")
	e.RescanInterval = model.Duration(time.Hour) // only events can explain what follows
	s := New([]config.Files{e}, "", slog.New(slog.DiscardHandler), func() time.Time { return now })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, pub.set); close(done) }()
	defer func() { cancel(); <-done }()

	hasSerial := func(want string) func(*source.Snapshot) bool {
		return func(s *source.Snapshot) bool {
			c := chainByPath(s, dir+"/site.pem")
			return c != nil && c.Certs[0].Serial == want
		}
	}
	pub.await(t, "first scan", hasSerial(serial(a)))

	// Replaced by rename, as most deploy tools do.
	write(t, dir+"/.site.tmp", b.PEM())
	if err := os.Rename(dir+"/.site.tmp", dir+"/site.pem"); err != nil {
		t.Fatal(err)
	}
	pub.await(t, "renamed file", hasSerial(serial(b)))

	// Rewritten in place.
	write(t, dir+"/site.pem", a.PEM())
	pub.await(t, "rewritten file", hasSerial(serial(a)))

	// The directory disappears (a no_match error), then comes back.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	pub.await(t, "directory gone", func(s *source.Snapshot) bool {
		return len(s.Chains) == 0 && errorsOf(s)[dir+"/*.pem"] == ReasonNoMatch
	})
	write(t, dir+"/site.pem", b.PEM())
	pub.await(t, "directory back", hasSerial(serial(b)))
	pub.await(t, "error cleared", func(s *source.Snapshot) bool { return len(s.Problems) == 0 })
}
