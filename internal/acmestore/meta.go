package acmestore

import (
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/fsread"
)

// Meta reads the metadata files beside a store's certificates (<name>.json), from a cache
// while a file's size and mtime hold, and accounts their problems: each logged once when it
// appears or changes, counted by reason for the store's health. A missing file is no problem:
// the certificate names itself.
type Meta[T any] struct {
	limit   int64
	parse   func([]byte) (T, error)
	entries map[string]metaEntry[T]
	seen    map[string]bool   // read since the last Settle
	failing map[string]string // path → reason and message reported
	// Errors counts the problems by reason (once per change).
	Errors map[string]uint64
}

type metaEntry[T any] struct {
	size  int64
	mtime time.Time
	v     T
	err   *files.FileError
}

// NewMeta reads files of at most limit bytes with parse.
func NewMeta[T any](limit int64, parse func([]byte) (T, error)) *Meta[T] {
	return &Meta[T]{limit: limit, parse: parse, entries: map[string]metaEntry[T]{}, seen: map[string]bool{},
		failing: map[string]string{}, Errors: map[string]uint64{}}
}

// Read returns the file's value, or why it cannot be used (a files reason: permission,
// too_large, io, parse).
func (m *Meta[T]) Read(path string) (T, *files.FileError) {
	var zero T
	m.seen[path] = true
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return zero, nil
	}
	if err == nil {
		if e, ok := m.entries[path]; ok && e.size == fi.Size() && e.mtime.Equal(fi.ModTime()) {
			return e.v, e.err
		}
	}
	e := metaEntry[T]{}
	if fi != nil {
		e.size, e.mtime = fi.Size(), fi.ModTime()
	}
	data, err := fsread.ReadFile(path, m.limit)
	fe := func(reason string, err error) *files.FileError {
		return &files.FileError{Path: path, Reason: reason, Message: err.Error()}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return zero, nil
	case errors.Is(err, fs.ErrPermission):
		e.err = fe("permission", err)
	case err != nil && strings.Contains(err.Error(), "larger than"):
		e.err = fe("too_large", err)
	case err != nil:
		e.err = fe("io", err)
	default:
		if e.v, err = m.parse(data); err != nil {
			e.err = fe("parse", err)
		}
	}
	m.entries[path] = e
	return e.v, e.err
}

// Settle ends a pass over the store: the problems of the files read since the last Settle
// are logged and counted when new or changed (what names the client in the log lines), and
// the files not read are forgotten.
func (m *Meta[T]) Settle(logger *slog.Logger, client string) {
	now := map[string]string{}
	for p := range m.seen {
		e, ok := m.entries[p]
		if !ok || e.err == nil {
			continue
		}
		now[p] = e.err.Reason + ": " + e.err.Message
		if m.failing[p] != now[p] {
			m.Errors[e.err.Reason]++
			logger.Warn("cannot use "+client+" certificate metadata", "path", p, "reason", e.err.Reason, "err", e.err.Message)
		}
	}
	for p := range m.failing {
		if _, ok := now[p]; !ok {
			logger.Info(client+" certificate metadata readable again", "path", p)
		}
	}
	m.failing = now
	maps.DeleteFunc(m.entries, func(p string, _ metaEntry[T]) bool { return !m.seen[p] })
	m.seen = map[string]bool{}
}
