package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/prometheus/common/version"
)

// TestStampVersion: a binary built without -ldflags still says what it is.
func TestStampVersion(t *testing.T) {
	saved := [2]string{version.Version, version.BuildDate}
	t.Cleanup(func() { version.Version, version.BuildDate = saved[0], saved[1] })
	for _, tc := range []struct {
		name, ldVersion, main, wantVersion, wantDate string
	}{
		{"go install @tag", "", "v0.2.0", "0.2.0", "2026-12-01T10:00:00Z"},
		{"go build in a checkout", "", "v0.0.0-20261201100000-abcdef012345+dirty", "0.0.0-20261201100000-abcdef012345+dirty", "2026-12-01T10:00:00Z"},
		{"no module version", "", "(devel)", "devel", "2026-12-01T10:00:00Z"},
		{"make build", "0.1.0", "v0.2.0", "0.1.0", "20261202-09:00:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			version.Version, version.BuildDate = tc.ldVersion, ""
			if tc.ldVersion != "" {
				version.BuildDate = "20261202-09:00:00"
			}
			stampVersion(&debug.BuildInfo{Main: debug.Module{Version: tc.main}, Settings: []debug.BuildSetting{{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}}}, true)
			if version.Version != tc.wantVersion || version.BuildDate != tc.wantDate {
				t.Errorf("version %q date %q, want %q %q", version.Version, version.BuildDate, tc.wantVersion, tc.wantDate)
			}
		})
	}
}

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
