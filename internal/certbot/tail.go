package certbot

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// tailer follows one path across rotations: it keeps the open file until it has read it to
// the end, then switches to whatever the path names now.
type tailer struct {
	path string
	lr   *lineReader
	f    *os.File
	fi   os.FileInfo
	off  int64
	last []byte // up to tailKeep bytes before off
	buf  []byte
}

func newTailer(path string, lr *lineReader) *tailer {
	return &tailer{path: path, lr: lr, buf: make([]byte, 256<<10)}
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
		t.f, t.fi = nil, nil
	}
}

// attach starts following an already opened file from offset 0.
func (t *tailer) attach(f *os.File, fi os.FileInfo) {
	t.close()
	t.f, t.fi, t.off, t.last = f, fi, 0, t.last[:0]
}

// poll reads whatever is new. It returns an error when the path cannot be followed (the
// file is missing or unreadable); reading resumes on a later poll.
func (t *tailer) poll() error {
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
func (t *tailer) truncated() bool {
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

func (t *tailer) reopen(old os.FileInfo) error {
	f, fi, err := fsread.Open(t.path)
	if err != nil {
		return err
	}
	if old != nil {
		// Two rotations between polls leave a file we never saw at .1; read it first.
		if r1, err := os.Stat(t.path + ".1"); err == nil && !os.SameFile(r1, old) && !os.SameFile(r1, fi) {
			if err := readWhole(t.path+".1", t.lr); err != nil {
				f.Close()
				return err
			}
		}
	}
	t.attach(f, fi)
	return t.drain()
}

func (t *tailer) drain() error {
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

func (t *tailer) remember(p []byte) {
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
func (t *tailer) recoverTruncated() bool {
	for _, name := range []string{t.path + ".1", t.path + ".1.gz"} {
		f, _, err := fsread.Open(name)
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

// rotatedFile is a backup of the log: <log>.N or <log>.N.gz.
type rotatedFile struct {
	path string
	n    int
	info os.FileInfo
}

// listRotated returns the backups of path modified after cutoff, oldest (highest N) first.
func listRotated(path string, cutoff time.Time) ([]rotatedFile, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []rotatedFile
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(suffix, ".gz"))
		if err != nil || n <= 0 {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.ModTime().Before(cutoff) {
			continue
		}
		out = append(out, rotatedFile{path: filepath.Join(dir, e.Name()), n: n, info: info})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n > out[j].n })
	return out, nil
}
