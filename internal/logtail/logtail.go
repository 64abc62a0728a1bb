// Package logtail follows an ACME client's log file across rotations (rename, copytruncate,
// gzip'd backups) and replays its rotated history, handing complete lines to a parser. The
// certbot, Caddy and lego sources share it.
package logtail

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/fsread"
)

// lineReader splits a byte stream into lines, cutting lines longer than max: the cut part is
// counted and dropped rather than buffered without limit.
type lineReader struct {
	max      int
	partial  []byte
	skipping bool // inside an over-long line, dropping until its newline
	emit     func(line []byte)
	lines    uint64
	bytes    uint64
	tooLong  uint64
}

func (r *lineReader) write(p []byte) {
	r.bytes += uint64(len(p))
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if i >= 0 && i <= r.max && len(r.partial) == 0 && !r.skipping {
			// A whole line in the buffer, the common case: hand it over in place, uncopied.
			r.lines++
			r.emit(bytes.TrimSuffix(chunk, []byte{'\r'}))
			p = p[i+1:]
			continue
		}
		if !r.skipping {
			if room := r.max - len(r.partial); len(chunk) > room {
				r.partial = append(r.partial, chunk[:room]...)
				r.skipping = true
				r.tooLong++
			} else {
				r.partial = append(r.partial, chunk...)
			}
		}
		if i < 0 {
			return
		}
		r.endLine()
		p = p[i+1:]
	}
}

func (r *lineReader) endLine() {
	r.lines++
	r.emit(bytes.TrimSuffix(r.partial, []byte{'\r'}))
	r.partial, r.skipping = r.partial[:0], false
}

// flush emits a last line that had no newline (end of a rotated file).
func (r *lineReader) flush() {
	if len(r.partial) > 0 || r.skipping {
		r.endLine()
	}
}

// drop forgets a partial line whose rest is gone (the file was truncated under it).
func (r *lineReader) drop() { r.partial, r.skipping = r.partial[:0], false }

// tailKeep is how much of the last bytes read is kept to recognise a truncated file and the
// same content in the copy copytruncate leaves behind; enough to span a few timestamps.
const tailKeep = 4096

// Tail follows one path across rotations: it keeps the open file until it has read it to
// the end, then switches to whatever the path names now. It is not safe for concurrent use.
type Tail struct {
	path string
	lr   *lineReader
	f    *os.File
	fi   os.FileInfo
	off  int64
	last []byte // up to tailKeep bytes before off
	// copied is the copytruncate backup read from after a truncation: its lines are read, so a
	// later rotation must not take it for a file never seen.
	copied os.FileInfo
	buf    []byte
}

// New follows path, emitting each line without its newline (nor a trailing CR); lines longer
// than maxLine are cut to maxLine and counted (TooLong). emit must not keep the slice.
func New(path string, maxLine int, emit func(line []byte)) *Tail {
	return &Tail{path: path, lr: &lineReader{max: maxLine, emit: emit}, buf: make([]byte, 256<<10)}
}

// Lines counts the lines emitted so far.
func (t *Tail) Lines() uint64 { return t.lr.lines }

// Bytes counts the bytes read so far.
func (t *Tail) Bytes() uint64 { return t.lr.bytes }

// TooLong counts the lines cut at maxLine so far.
func (t *Tail) TooLong() uint64 { return t.lr.tooLong }

// Replay reads the rotated backups of the log modified after cutoff (oldest first), then
// opens the current log and reads it to its end; Poll follows it from there. done runs after
// each backup (err: why it could not be read), so a parser can settle between files. A file
// renamed during the replay is read once. The error is why the current log cannot be read.
func (t *Tail) Replay(cutoff time.Time, done func(path string, err error)) error {
	cur, curInfo, _ := fsread.Open(t.path) // Poll reports why it cannot be opened
	rotated, lerr := listRotated(t.path, cutoff)
	if lerr != nil && !errors.Is(lerr, fs.ErrNotExist) {
		done(filepath.Dir(t.path), lerr)
	}
	var seen []os.FileInfo
	if curInfo != nil {
		seen = append(seen, curInfo)
	}
	for _, rf := range rotated {
		if slices.ContainsFunc(seen, func(o os.FileInfo) bool { return os.SameFile(rf.info, o) }) {
			continue
		}
		seen = append(seen, rf.info)
		done(rf.path, readWhole(rf.path, t.lr))
	}
	if cur != nil {
		t.attach(cur, curInfo)
	}
	return t.Poll()
}

// Close closes the followed file.
func (t *Tail) Close() {
	if t.f != nil {
		t.f.Close()
		t.f, t.fi = nil, nil
	}
}

// attach starts following an already opened file from offset 0.
func (t *Tail) attach(f *os.File, fi os.FileInfo) {
	t.Close()
	t.f, t.fi, t.off, t.last = f, fi, 0, t.last[:0]
}

// Poll reads whatever is new. It returns an error when the path cannot be followed (the
// file is missing or unreadable); reading resumes on a later poll.
func (t *Tail) Poll() error {
	cur, statErr := os.Stat(t.path)
	if t.f != nil {
		if t.truncated() {
			// copytruncate: logrotate copied the file then truncated it (and certbot may have
			// written again since). What we had not read yet is only in the copy.
			if !t.recoverTruncated() {
				t.lr.drop()
			}
			t.off, t.last = 0, t.last[:0]
		}
		if err := t.drain(); err != nil {
			return err
		}
	}
	if statErr != nil {
		return statErr
	}
	switch {
	case t.f == nil:
		return t.reopen(nil)
	case !os.SameFile(t.fi, cur):
		// Renamed away (certbot's own rotation, logrotate create) or deleted and recreated:
		// the old file is read to its end above; its last line is complete.
		t.lr.flush()
		return t.reopen(t.fi)
	}
	return nil
}

// truncated says whether the open file no longer holds what we read: it is shorter than our
// offset, or the bytes before the offset changed (truncated, then written past our offset).
func (t *Tail) truncated() bool {
	fi, err := t.f.Stat()
	if err != nil || t.off == 0 {
		return false
	}
	if fi.Size() < t.off {
		return true
	}
	got := make([]byte, len(t.last))
	n, _ := t.f.ReadAt(got, t.off-int64(len(t.last)))
	return !bytes.Equal(got[:n], t.last)
}

func (t *Tail) reopen(old os.FileInfo) error {
	f, fi, err := fsread.Open(t.path)
	if err != nil {
		return err
	}
	if old != nil {
		// Two rotations between polls leave a file we never saw at .1; read it first.
		if r1, err := os.Stat(t.path + ".1"); err == nil && !os.SameFile(r1, old) && !os.SameFile(r1, fi) &&
			(t.copied == nil || !os.SameFile(r1, t.copied)) {
			if err := readWhole(t.path+".1", t.lr); err != nil {
				f.Close()
				return err
			}
		}
	}
	t.attach(f, fi)
	return t.drain()
}

func (t *Tail) drain() error {
	for {
		n, err := t.f.ReadAt(t.buf, t.off)
		if n > 0 {
			t.lr.write(t.buf[:n])
			t.remember(t.buf[:n])
			t.off += int64(n)
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (t *Tail) remember(p []byte) {
	if len(p) >= tailKeep {
		t.last = append(t.last[:0], p[len(p)-tailKeep:]...)
		return
	}
	t.last = append(t.last, p...)
	if len(t.last) > tailKeep {
		t.last = append(t.last[:0], t.last[len(t.last)-tailKeep:]...)
	}
}

// recoverTruncated reads, from the copy at .1 or .1.gz, the bytes written after our offset
// and before the truncation, when that copy's content at our offset matches what we read.
func (t *Tail) recoverTruncated() bool {
	for _, name := range []string{t.path + ".1", t.path + ".1.gz"} {
		f, fi, err := fsread.Open(name)
		if err != nil {
			continue
		}
		var r io.Reader = f
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				f.Close()
				continue
			}
			r = zr
		}
		start := t.off - int64(len(t.last))
		ok := false
		if _, err := io.CopyN(io.Discard, r, start); err == nil {
			head := make([]byte, len(t.last))
			if _, err := io.ReadFull(r, head); err == nil && bytes.Equal(head, t.last) {
				_, err = io.Copy(writerFunc(t.lr.write), r)
				ok = err == nil
			}
		}
		f.Close()
		if ok {
			t.copied = fi
			return true
		}
	}
	return false
}

type writerFunc func([]byte)

func (w writerFunc) Write(p []byte) (int, error) { w(p); return len(p), nil }

// readWhole reads a rotated file (plain or gzip) through lr and ends its last line.
func readWhole(path string, lr *lineReader) error {
	f, _, err := fsread.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	if _, err := io.Copy(writerFunc(lr.write), r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	lr.flush()
	return nil
}

// rotatedFile is a backup of the log: <log>.N or <log>.N.gz (logrotate, certbot), or
// <stem>-<time>….<ext>[.gz] (Caddy's own rolling, lumberjack and timberjack).
type rotatedFile struct {
	path string
	n    int // 0 for a rolled backup
	info os.FileInfo
}

// listRotated returns the backups of path modified after cutoff, oldest first: rolled backups
// by modification time (nothing writes to them after the roll), then the numbered ones by
// falling N.
func listRotated(path string, cutoff time.Time) ([]rotatedFile, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []rotatedFile
	for _, e := range entries {
		n := 0
		if suffix, ok := strings.CutPrefix(e.Name(), base+"."); ok {
			if n, err = strconv.Atoi(strings.TrimSuffix(suffix, ".gz")); err != nil || n <= 0 {
				continue
			}
		} else if !rolled(e.Name(), stem, ext) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.ModTime().Before(cutoff) {
			continue
		}
		out = append(out, rotatedFile{path: filepath.Join(dir, e.Name()), n: n, info: info})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.n == 0) != (b.n == 0) {
			return a.n == 0
		}
		if a.n == 0 {
			return a.info.ModTime().Before(b.info.ModTime())
		}
		return a.n > b.n
	})
	return out, nil
}

// rolled says whether name is a backup Caddy's log roller made of <stem><ext>: lumberjack's
// <stem>-2006-01-02T15-04-05.000<ext>, timberjack's with a "-size"/"-time" reason before <ext>,
// either gzip'd.
func rolled(name, stem, ext string) bool {
	rest, ok := strings.CutPrefix(name, stem+"-")
	if !ok || rest == "" || rest[0] < '0' || rest[0] > '9' {
		return false
	}
	rest = strings.TrimSuffix(rest, ".gz")
	return ext == "" || strings.HasSuffix(rest, ext)
}
