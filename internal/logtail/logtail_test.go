package logtail

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// follow starts a Tail on dir/log with maxLine 16 and returns it with the lines it emitted.
func follow(t *testing.T, dir string) (*Tail, *[]string) {
	t.Helper()
	var got []string
	tl := New(filepath.Join(dir, "log"), 16, func(b []byte) { got = append(got, string(b)) })
	t.Cleanup(tl.Close)
	return tl, &got
}

func write(t *testing.T, path, s string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestReplayAndRotations(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	// History: log.2.gz (oldest), log.1, then the current log.
	zf, _ := os.Create(log + ".2.gz")
	zw := gzip.NewWriter(zf)
	zw.Write([]byte("a\nb")) // a backup's last line without newline is complete
	zw.Close()
	zf.Close()
	write(t, log+".1", "c\n", os.O_TRUNC)
	write(t, log, "d\n"+"0123456789abcdefXYZ\n", os.O_TRUNC)

	tl, got := follow(t, dir)
	var done []string
	if err := tl.Replay(time.Time{}, func(p string, err error) {
		if err != nil {
			t.Errorf("replay %s: %v", p, err)
		}
		done = append(done, filepath.Base(p))
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"log.2.gz", "log.1"}; !slices.Equal(done, want) {
		t.Errorf("replayed %v, want %v", done, want)
	}

	// Rename rotation: the rest of the old file is read before the new one.
	write(t, log, "e\n", os.O_APPEND)
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, log, "f\n", os.O_TRUNC)
	if err := tl.Poll(); err != nil {
		t.Fatal(err)
	}
	// copytruncate: what was written before the truncation is recovered from the copy.
	write(t, log, "g\n", os.O_APPEND)
	data, _ := os.ReadFile(log)
	write(t, log+".1", string(data), os.O_TRUNC)
	write(t, log, "h\n", os.O_TRUNC)
	if err := tl.Poll(); err != nil {
		t.Fatal(err)
	}
	// A missing log is an error; reading resumes when it is back.
	os.Remove(log)
	if err := tl.Poll(); err == nil {
		t.Error("Poll of a missing log: no error")
	}
	write(t, log, "i\n", os.O_TRUNC)
	if err := tl.Poll(); err != nil {
		t.Fatal(err)
	}

	want := []string{"a", "b", "c", "d", "0123456789abcdef", "e", "f", "g", "h", "i"}
	if !slices.Equal(*got, want) {
		t.Errorf("lines %q, want %q", *got, want)
	}
	if tl.TooLong() != 1 || tl.Lines() != uint64(len(want)) {
		t.Errorf("TooLong %d Lines %d, want 1 and %d", tl.TooLong(), tl.Lines(), len(want))
	}
}

func TestReplaySkipsOldBackupsAndFIFOs(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	write(t, log+".1", "old\n", os.O_TRUNC)
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(log+".1", old, old)
	if err := mkfifo(log); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	tl, got := follow(t, dir)
	err := tl.Replay(time.Now().Add(-time.Hour), func(p string, err error) { t.Errorf("replayed %s", p) })
	if err == nil {
		t.Error("Replay of a FIFO log: no error")
	}
	if len(*got) != 0 {
		t.Errorf("lines %q, want none", *got)
	}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// TestReplayRolled: Caddy rolls its own log file (lumberjack before 2.10, timberjack since):
// the backups, plain or gzip'd, are replayed oldest first by their modification time, and
// files that only share the stem are not.
func TestReplayRolled(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "caddy.log")
	backups := []struct{ name, text string }{
		{"caddy-2026-11-30T10-00-00.000.log.gz", "a\n"},
		{"caddy-2026-12-01T10-00-00.000-size.log", "b\n"},
		{"caddy-2026-12-02T10-00-00.000.log", "c\n"},
	}
	base := time.Now().Add(-time.Hour)
	for i, b := range backups {
		p := filepath.Join(dir, b.name)
		if filepath.Ext(p) == ".gz" {
			zf, _ := os.Create(p)
			zw := gzip.NewWriter(zf)
			zw.Write([]byte(b.text))
			zw.Close()
			zf.Close()
		} else {
			write(t, p, b.text, os.O_TRUNC)
		}
		mt := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(dir, "caddy-access.log"), "other\n", os.O_TRUNC)
	write(t, filepath.Join(dir, "caddy.json"), "other\n", os.O_TRUNC)
	write(t, log, "d\n", os.O_TRUNC)
	var got []string
	tl := New(log, 16, func(b []byte) { got = append(got, string(b)) })
	defer tl.Close()
	if err := tl.Replay(time.Time{}, func(p string, err error) {
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("replayed %v, want %v", got, want)
	}
}
