// Package testkube runs a real Kubernetes control plane for tests: etcd and kube-apiserver
// (installed by e2e/install-kube.sh) on loopback, with RBAC on, a static admin token and
// service-account signing keys generated at test time. Only the API server runs: no
// controller-manager and no kubelet, so nothing is garbage-collected, namespaces are never
// finalized and no pod runs.
package testkube

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// startTimeout bounds the wait for etcd and kube-apiserver to become ready. It is not a
// timing assertion: a started process that stops answering fails sooner (its exit is seen),
// and an idle machine is ready in a few seconds.
const startTimeout = 3 * time.Minute

// Cluster is a running control plane. Its processes stop when the test that started it ends.
type Cluster struct {
	admin   *rest.Config
	etcdURL string
	// apiserver is the running kube-apiserver (nil while stopped); restart starts it again
	// with the same flags, port and etcd.
	apiserver *process
	restart   func(t testing.TB) *process
}

// Config returns a fresh client configuration for the cluster administrator (system:masters).
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.admin) }

// Options change the control plane of StartWith.
type Options struct {
	// APIServerArgs are added to kube-apiserver's flags, e.g. "--watch-cache-sizes=secrets#0"
	// (the Secrets' watches then read etcd, whose compaction a test can cause: Compact).
	APIServerArgs []string
}

// Start runs etcd and kube-apiserver for t and waits until /readyz answers. Without the
// binaries the test is skipped, or fails when CI=true.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with opts.
func StartWith(t testing.TB, opts Options) *Cluster {
	t.Helper()
	etcdBin := binary(t, "etcd")
	apiserverBin := binary(t, "kube-apiserver")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	began := time.Now()
	etcdURL := startEtcd(ctx, t, etcdBin, dir)
	etcdReady := time.Since(began)
	c := &Cluster{etcdURL: etcdURL}
	c.admin, c.apiserver, c.restart = startAPIServer(ctx, t, apiserverBin, dir, etcdURL, opts.APIServerArgs)
	t.Logf("testkube: control plane ready in %v (etcd %v)", time.Since(began).Round(time.Millisecond), etcdReady.Round(time.Millisecond))
	return c
}

// StopAPIServer kills kube-apiserver, as a crash or an upgrade would: clients' connections
// are cut and new ones refused until StartAPIServer. etcd keeps running.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	if c.apiserver == nil {
		t.Fatal("testkube: kube-apiserver is already stopped")
	}
	c.apiserver.stop()
	c.apiserver = nil
}

// StartAPIServer starts the stopped kube-apiserver again on the same port, with the same
// credentials and etcd (so the objects are still there), and waits until it is ready.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	if c.apiserver != nil {
		t.Fatal("testkube: kube-apiserver is running")
	}
	c.apiserver = c.restart(t)
}

// Compact compacts etcd's history up to its current revision, as the API server does every
// five minutes: a watch resumed from an older resourceVersion (one that does not go through
// the API server's watch cache) then ends with 410 Gone, and its client must list again.
func (c *Cluster) Compact(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// etcd's JSON gateway: a range over one key answers with the current revision.
	body, err := fetch(ctx, http.DefaultClient, http.MethodPost, c.etcdURL+"/v3/kv/range", `{"key":"AA=="}`)
	if err != nil {
		t.Fatalf("testkube: etcd revision: %v", err)
	}
	var r struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Header.Revision == "" {
		t.Fatalf("testkube: etcd revision in %q: %v", firstLine(body), err)
	}
	if _, err := fetch(ctx, http.DefaultClient, http.MethodPost, c.etcdURL+"/v3/kv/compaction",
		`{"revision":"`+r.Header.Revision+`","physical":true}`); err != nil {
		t.Fatalf("testkube: etcd compaction: %v", err)
	}
}

// binary finds a control-plane program on PATH or where `go install`/`go build` of
// e2e/install-kube.sh put it.
func binary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	for _, p := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("testkube: %s not found: run e2e/install-kube.sh", name)
	}
	t.Skipf("testkube: %s not found (run e2e/install-kube.sh); skipping", name)
	return ""
}

// bindAttempts is how often a server is restarted on fresh ports when a port picked as free
// was taken by someone else before the server bound it.
const bindAttempts = 3

func startEtcd(ctx context.Context, t testing.TB, bin, dir string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		client, peer := freePort(t), freePort(t)
		clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
		data := filepath.Join(dir, "etcd-"+strconv.Itoa(attempt))
		// A unique member name proves that the etcd answering is this one, not another test's
		// that took the port in between.
		name := "testkube-" + randomToken(t)[:12]
		p := startProcess(t, t, bin, filepath.Join(dir, "etcd-"+strconv.Itoa(attempt)+".log"),
			"--name="+name, "--data-dir="+data,
			"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
			"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster="+name+"="+peerURL,
			"--logger=zap", "--log-level=warn")
		err := p.waitReady(ctx, func(ctx context.Context) error {
			body, err := fetch(ctx, http.DefaultClient, http.MethodPost, clientURL+"/v3/cluster/member/list", "{}")
			if err == nil && !bytes.Contains(body, []byte(`"name":"`+name+`"`)) {
				err = fmt.Errorf("member list without %s: %q", name, firstLine(body))
			}
			return err
		})
		if err == nil {
			return clientURL
		}
		p.stop()
		if attempt < bindAttempts && p.bindFailed() {
			continue
		}
		t.Fatalf("testkube: etcd: %v\n%s", err, p.logTail())
	}
}

// startAPIServer starts kube-apiserver on a free port and returns its admin configuration, the
// process, and how to start it again on that port (for a test t whose failures it reports;
// the process still stops when t ends).
func startAPIServer(ctx context.Context, t testing.TB, bin, dir, etcdURL string, extra []string) (*rest.Config, *process, func(t testing.TB) *process) {
	t.Helper()
	owner := t
	// The serving certificate, the admin token and the service-account keys are made here, so
	// no credential outlives the test.
	ca := testcerts.New(testcerts.Options{CN: "testkube CA", IsCA: true})
	serving := testcerts.New(testcerts.Options{CN: "kube-apiserver", Issuer: ca,
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	saPriv, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		t.Fatal(err)
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	token := randomToken(t)
	files := map[string][]byte{
		"serving.crt": testcerts.Bundle(serving, ca),
		"serving.key": serving.KeyPEM(),
		"sa.key":      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: saPriv}),
		"sa.pub":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
		"tokens.csv":  []byte(token + ",testkube-admin,testkube-admin,system:masters\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	for attempt := 1; ; attempt++ {
		port := freePort(t)
		cfg := &rest.Config{
			Host:            "https://127.0.0.1:" + strconv.Itoa(port),
			BearerToken:     token,
			TLSClientConfig: rest.TLSClientConfig{CAData: ca.PEM()},
			// Tests create objects in bursts; client-side throttling would only slow them.
			QPS: -1,
		}
		args := []string{"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
			// The endpoints of the "kubernetes" Service would refuse a loopback address;
			// nothing here reaches the API server through that Service.
			"--endpoint-reconciler-type=none",
			"--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + filepath.Join(dir, "serving.crt"),
			"--tls-private-key-file=" + filepath.Join(dir, "serving.key"),
			"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
			"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
			"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
			"--service-cluster-ip-range=10.96.0.0/24",
			// Without a controller-manager no namespace gets its default ServiceAccount, which
			// this plugin would demand of every pod; no pod runs here.
			"--disable-admission-plugins=ServiceAccount",
			"--profiling=false"}
		args = append(args, extra...)
		start := func(ctx context.Context, t testing.TB, log string) (*process, error) {
			t.Helper()
			p := startProcess(t, owner, bin, filepath.Join(dir, log), args...)
			httpClient, err := rest.HTTPClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer httpClient.CloseIdleConnections()
			// A server of another test on this port would fail TLS verification: its CA is not ours.
			return p, p.waitReady(ctx, func(ctx context.Context) error {
				_, err := fetch(ctx, httpClient, http.MethodGet, cfg.Host+"/readyz", "")
				return err
			})
		}
		p, err := start(ctx, t, "kube-apiserver-"+strconv.Itoa(attempt)+".log")
		if err == nil {
			restarts := 0
			return cfg, p, func(t testing.TB) *process {
				t.Helper()
				restarts++
				ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
				defer cancel()
				p, err := start(ctx, t, "kube-apiserver-restart-"+strconv.Itoa(restarts)+".log")
				if err != nil {
					p.stop()
					t.Fatalf("testkube: kube-apiserver restart: %v\n%s", err, p.logTail())
				}
				return p
			}
		}
		p.stop()
		if attempt < bindAttempts && p.bindFailed() {
			continue
		}
		t.Fatalf("testkube: kube-apiserver: %v\n%s", err, p.logTail())
	}
}

func randomToken(t testing.TB) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a started server whose output goes to a log file.
type process struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, valid once exited is closed
}

// startProcess starts bin for t (which its failures fail); it is killed when owner ends.
func startProcess(t, owner testing.TB, bin, logPath string, args ...string) *process {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The servers must not outlive a test binary that is killed before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("testkube: %v", err)
	}
	p := &process{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	owner.Cleanup(func() {
		p.stop()
		if owner.Failed() {
			owner.Logf("testkube: %s log:\n%s", filepath.Base(bin), p.logTail())
		}
	})
	return p
}

// waitReady calls check until it succeeds, the process exits or ctx ends.
func (p *process) waitReady(ctx context.Context, check func(context.Context) error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			if p.err == nil {
				return errors.New("exited before it was ready")
			}
			return fmt.Errorf("exited before it was ready (%w)", p.err)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", startTimeout, err)
		case <-tick.C:
		}
	}
}

// fetch does one request and returns the body of a 200 answer.
func fetch(ctx context.Context, client *http.Client, method, url, body string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %q", method, url, resp.Status, firstLine(b.Bytes()))
	}
	return b.Bytes(), nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// stop kills the process and waits for it; idempotent. The servers keep nothing worth a
// graceful shutdown: their data directory is the test's.
func (p *process) stop() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// bindFailed tells whether the process stopped because a port was already taken.
func (p *process) bindFailed() bool {
	b, _ := os.ReadFile(p.log)
	return bytes.Contains(b, []byte("address already in use"))
}

// logTail is the end of the process's output, for failure messages.
func (p *process) logTail() string {
	b, _ := os.ReadFile(p.log)
	const keep = 4096
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// Kubeconfig writes cfg as a kubeconfig file and returns its path, for programs run as a
// process (the exporter) that take a kubeconfig.
func Kubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["testkube"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["testkube"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["testkube"] = &clientcmdapi.Context{Cluster: "testkube", AuthInfo: "testkube"}
	kc.CurrentContext = "testkube"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
