package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRunExitCodes: a bad config is exit 1 at start (serve and --config.check alike), a good
// one passes --config.check; the error names the field (checked in config and exporter tests).
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	good := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(bad, []byte("files:\n  - pathz: [a]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("files:\n  - paths: ["+filepath.Join(dir, "*.pem")+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--config.check", "--config.file=" + bad}, 1},
		{[]string{"--config.check", "--config.file=" + good}, 0},
		{[]string{"--config.check", "--config.file=" + filepath.Join(dir, "missing.yml")}, 1},
		{[]string{"--config.file=" + bad, "--web.listen-address=127.0.0.1:0"}, 1},
		{[]string{"--no-such-flag"}, 1},
		{[]string{"check", "--no-such-flag"}, 3},
		{[]string{"check", "--warning=soon"}, 3},
	} {
		if got := run(tc.args); got != tc.want {
			t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}
