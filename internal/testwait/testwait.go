// Package testwait waits, in tests, for what another goroutine does: a snapshot published, a
// series that appears on a scrape. Every wait is on a condition with a deadline, never a fixed
// sleep; the deadline is generous because CI machines are small and busy.
package testwait

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// Deadline bounds every wait.
const Deadline = 30 * time.Second

// poll is how often For looks again at a condition nothing signals.
const poll = 5 * time.Millisecond

// For waits until cond holds, looking again every few milliseconds, and fails the test with
// what after Deadline.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Until(t, func() error {
		if !cond() {
			return errors.New(what)
		}
		return nil
	})
}

// Until waits until check returns nil, looking again every few milliseconds; after Deadline
// it fails the test with check's last error, which says what was still missing.
func Until(t testing.TB, check func() error) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %v", Deadline, err)
		}
		time.Sleep(poll)
	}
}

// Latest keeps the latest value a goroutine published and wakes those waiting for it.
type Latest[T any] struct {
	mu      sync.Mutex
	v       T
	set     bool
	changed chan struct{}
}

// Set stores v as the latest value.
func (l *Latest[T]) Set(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.v, l.set = v, true
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// Get returns the latest value and whether one was set.
func (l *Latest[T]) Get() (T, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.v, l.set
}

// Await waits until the latest value satisfies cond and returns it; it fails the test with
// what after Deadline.
func (l *Latest[T]) Await(t testing.TB, what string, cond func(T) bool) T {
	t.Helper()
	timeout := time.NewTimer(Deadline)
	defer timeout.Stop()
	for {
		l.mu.Lock()
		v, set := l.v, l.set
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		if set && cond(v) {
			return v
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("timed out after %s waiting for %s", Deadline, what)
		}
	}
}

// Buffer collects what another goroutine or process writes (a log, a child's output) while
// the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
