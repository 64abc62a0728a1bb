//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// suiteDir holds everything the suite writes; it is kept when a test fails, for the logs.
var suiteDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cert-expiry-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The exporter runs as nobody in one scenario: it must be able to enter the suite directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	suiteDir = dir
	code := m.Run()
	stopShared()
	printReport(os.Stdout)
	if err := writeReport(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "e2e: logs and data kept in %s\n", dir)
	}
	os.Exit(code)
}

// needTool finds a program on PATH (or in extra directories such as $GOPATH/bin). A missing
// tool skips the test on a developer machine and fails it in CI.
func needTool(t testing.TB, name string, extraDirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range extraDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	missing(t, name)
	return ""
}

// missing fails the test in CI (CI=true) and skips it elsewhere.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found: run e2e/install.sh", what)
	}
	t.Skipf("%s not found (run e2e/install.sh); skipping", what)
}

// goBinDirs are where `go install` puts Pebble.
func goBinDirs() []string {
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	return dirs
}

var exporterBuild struct {
	once sync.Once
	path string
	err  error
}

// exporterBinary builds the exporter once for the whole suite.
func exporterBinary(t testing.TB) string {
	t.Helper()
	exporterBuild.once.Do(func() {
		p := filepath.Join(suiteDir, "cert_expiry_exporter")
		cmd := exec.Command("go", "build", "-o", p, ".")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			exporterBuild.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		exporterBuild.path = p
	})
	if exporterBuild.err != nil {
		t.Fatal(exporterBuild.err)
	}
	return exporterBuild.path
}

// runs counts each scenario's runs in this process.
var runs struct {
	sync.Mutex
	n map[string]int
}

// runLabel is the scenario label of this run of sc in the shared stack: sc itself, then sc-run2,
// sc-run3… under -count, so that a run does not see the alerts of an earlier run's faults,
// which stay firing for keep_firing_for after it ends.
func runLabel(sc string) string {
	runs.Lock()
	defer runs.Unlock()
	if runs.n == nil {
		runs.n = map[string]int{}
	}
	runs.n[sc]++
	if n := runs.n[sc]; n > 1 {
		return fmt.Sprintf("%s-run%d", sc, n)
	}
	return sc
}

// testDir is a fresh directory under the suite directory, world-readable so that processes
// running as another user (nginx workers, the exporter as nobody) can enter it.
func testDir(t testing.TB, name string) string {
	t.Helper()
	d, err := os.MkdirTemp(suiteDir, strings.NewReplacer("/", "_", " ", "_").Replace(name)+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// pickPort returns a loopback port that was free a moment ago.
func pickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePort(t testing.TB) int {
	t.Helper()
	p, err := pickPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is a child process in its own process group, so stopping it stops its children too.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startProc starts cmd with stdout and stderr in logPath.
func startProc(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// startTestProc starts a process stopped at the end of the test; its log is shown when the
// test fails.
func startTestProc(t testing.TB, name string, cmd *exec.Cmd, logPath string) *proc {
	t.Helper()
	p, err := startProc(name, cmd, logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s log (%s), last lines:\n%s", name, p.log, p.tail(40))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process itself (not its group).
func (p *proc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// stop ends the process group: SIGTERM, then SIGKILL when it lingers.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) tail(n int) string {
	data, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond until it holds or the deadline passes; what names the condition.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func poll(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last == nil {
				last = errors.New("condition still false")
			}
			return fmt.Errorf("timed out after %v: %w", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitHTTP waits until url answers 200, failing early when the process died.
func waitHTTP(t testing.TB, p *proc, url string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, p.name+" at "+url, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.tail(30))
		}
		return httpOK(url)
	})
}

func httpOK(url string) (bool, error) {
	resp, err := http.Get(url)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return true, nil
}

// waitTCP waits until addr accepts connections.
func waitTCP(t testing.TB, p *proc, addr string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, p.name+" listening on "+addr, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.tail(30))
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeAtomic replaces path in one rename, the way certbot and config managers do.
func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// exporterProc is one running exporter.
type exporterProc struct {
	*proc
	addr    string
	cfgPath string
}

type exporterOpts struct {
	// asNobody runs the exporter as user nobody when the suite runs as root, like the hardened
	// systemd unit: root reads any file, so only an unprivileged exporter meets an unreadable
	// directory.
	asNobody bool
	// hosts, when set, is bind-mounted over /etc/hosts in a private mount namespace for the
	// exporter only, so that a test name resolves to several loopback addresses.
	hosts string
}

// startExporter writes cfg and runs the exporter binary on a free loopback port.
func startExporter(t testing.TB, dir, cfg string, o exporterOpts) *exporterProc {
	t.Helper()
	bin := exporterBinary(t)
	cfgPath := filepath.Join(dir, "cert_expiry_exporter.yml")
	if !strings.Contains("\n"+cfg, "\nari:") {
		// The lineages' renewal confs name Let's Encrypt, which this machine cannot reach: ARI
		// would page SourceDown in every certbot scenario.
		cfg += "\nari:\n  enabled: false\n"
	}
	writeFile(t, cfgPath, []byte(cfg))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	args := []string{"--config.file=" + cfgPath, "--web.listen-address=" + addr, "--log.level=debug"}
	var cmd *exec.Cmd
	if o.hosts != "" {
		hosts := filepath.Join(dir, "hosts")
		writeFile(t, hosts, []byte(o.hosts))
		script := `mount --bind "$0" /etc/hosts && exec "$@"`
		cmd = exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, hosts, bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	if o.asNobody && os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	p := startTestProc(t, "exporter "+filepath.Base(dir), cmd, filepath.Join(dir, "exporter.log"))
	e := &exporterProc{proc: p, addr: addr, cfgPath: cfgPath}
	waitHTTP(t, p, "http://"+addr+"/-/healthy", 20*time.Second)
	return e
}

// restart stops the exporter and starts it again with the same command line and address, the
// way a package upgrade or `systemctl restart` does.
func (e *exporterProc) restart(t testing.TB) {
	t.Helper()
	e.stop()
	old := e.cmd
	cmd := exec.Command(old.Path, old.Args[1:]...)
	if old.SysProcAttr != nil {
		attr := *old.SysProcAttr
		cmd.SysProcAttr = &attr
	}
	e.proc = startTestProc(t, e.name, cmd, e.log+".restarted")
	waitHTTP(t, e.proc, "http://"+e.addr+"/-/healthy", 20*time.Second)
}

// metrics returns the exporter's /metrics text, for failure messages and direct checks.
func (e *exporterProc) metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get("http://" + e.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// canUnshareMount says whether this process may give a child its own /etc/hosts.
func canUnshareMount() bool {
	if _, err := exec.LookPath("unshare"); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", "mount --bind /etc/hosts /etc/hosts").Run() == nil
}
