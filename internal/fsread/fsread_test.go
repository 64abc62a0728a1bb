package fsread

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRefusesWhatCouldBlock: a FIFO without a writer, a symlink to /dev/zero and a directory
// are refused at once (a plain open of the FIFO would block this test forever); a regular file
// reads, within its limit.
func TestRefusesWhatCouldBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "conf")
	if err := os.WriteFile(regular, []byte("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{fifo: "a FIFO", zero: "a character device", dir: "a directory"} {
		_, err := ReadFile(path, 10)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s refused", path, err, want)
		}
	}
	if data, err := ReadFile(regular, 10); err != nil || string(data) != "ok" {
		t.Errorf("regular file: %q %v", data, err)
	}
	if _, err := ReadFile(regular, 1); err == nil || !strings.Contains(err.Error(), "larger than 1 bytes") {
		t.Errorf("over the limit: %v", err)
	}
}
