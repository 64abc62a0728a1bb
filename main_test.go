package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/common/version"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// TestMain runs the command itself in a child process when a test asks for one (what needs a
// process of its own: signals, the demo's listeners). The arguments follow "--".
func TestMain(m *testing.M) {
	if os.Getenv("CERT_EXPIRY_EXPORTER_TEST_RUN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Exit(run(os.Args[i+1:]))
			}
		}
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// TestDemoListenAddress: the demo listens on loopback unless --web.listen-address says
// otherwise, announces the address it serves on, and logs its shutdown on SIGTERM.
func TestDemoListenAddress(t *testing.T) {
	announced := regexp.MustCompile(`Landing page +http://(\S+)/\n`)
	for _, tc := range []struct {
		args []string
		want *regexp.Regexp // the announced and the listened-on address
	}{
		{nil, regexp.MustCompile(`^127\.0\.0\.1:9117$`)},
		{[]string{"--web.listen-address=127.0.0.2:0"}, regexp.MustCompile(`^127\.0\.0\.2:[1-9][0-9]*$`)},
	} {
		t.Run(strings.Join(append([]string{"demo"}, tc.args...), " "), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--", "demo"}, tc.args...)...)
			cmd.Env = append(os.Environ(), "CERT_EXPIRY_EXPORTER_TEST_RUN=1")
			var stdout, stderr testwait.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() }) // a failed test leaves no demo behind; after an exit, a no-op
			var exit error
			testwait.For(t, "the demo listening or exiting", func() bool {
				select {
				case exit = <-exited:
					return true
				default:
					return strings.Contains(stderr.String(), `msg="Listening on"`)
				}
			})
			m := announced.FindStringSubmatch(stdout.String())
			if m == nil || !tc.want.MatchString(m[1]) {
				t.Fatalf("announced %q, want %s\n%s", m, tc.want, stdout.String())
			}
			if exit != nil {
				if strings.Contains(stderr.String(), "address already in use") {
					t.Skipf("%s is taken on this machine: %s", m[1], stderr.String())
				}
				t.Fatalf("demo exited: %v\n%s", exit, stderr.String())
			}
			if !strings.Contains(stderr.String(), `msg="Listening on" address=`+m[1]+"\n") {
				t.Errorf("not listening on %s:\n%s", m[1], stderr.String())
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := <-exited; err != nil {
				t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
			}
			for _, want := range []string{`msg="Shutting down" cause="terminated signal received"`, "msg=Stopped\n"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("log lacks %s:\n%s", want, stderr.String())
				}
			}
		})
	}
}

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

// TestTuneGC: GOGC set wins; otherwise the target follows the live heap after each GC, 50 once
// it is large and 100 again when it is small.
func TestTuneGC(t *testing.T) {
	saved := debug.SetGCPercent(80)
	t.Cleanup(func() { debug.SetGCPercent(saved) })
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	waitFor := func(want uint64) {
		t.Helper()
		testwait.Until(t, func() error {
			runtime.GC()
			if got := gogc(); got != want {
				return fmt.Errorf("GC percent %d, want %d", got, want)
			}
			return nil
		})
	}

	tuneGC(func(k string) (string, bool) { return "", k == "GOGC" })()
	if got := gogc(); got != 80 {
		t.Errorf("GOGC set (empty): GC percent %d, want it left alone (80)", got)
	}

	stop := tuneGC(func(string) (string, bool) { return "", false })
	defer stop()
	waitFor(gcPercentSmall) // the test binary's heap is a few MiB
	ballast := make([]byte, gcLargeFrom+8<<20)
	waitFor(gcPercentLarge)
	runtime.KeepAlive(ballast) // its last use: garbage from here
	waitFor(gcPercentSmall)
}

func TestGCPercentFor(t *testing.T) {
	for _, tc := range []struct {
		live          uint64
		current, want int
	}{
		{0, gcPercentSmall, gcPercentSmall},
		{gcSmallBelow - 1, gcPercentLarge, gcPercentSmall},
		{gcSmallBelow, gcPercentLarge, gcPercentLarge}, // between: what applies stays
		{gcSmallBelow, gcPercentSmall, gcPercentSmall},
		{gcLargeFrom - 1, gcPercentSmall, gcPercentSmall},
		{gcLargeFrom, gcPercentSmall, gcPercentLarge},
		{1 << 30, gcPercentLarge, gcPercentLarge},
	} {
		if got := gcPercentFor(tc.live, tc.current); got != tc.want {
			t.Errorf("gcPercentFor(%d, %d) = %d, want %d", tc.live, tc.current, got, tc.want)
		}
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
