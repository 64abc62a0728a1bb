// Package kube is the whole-process benchmark of the kubernetes: source against a real API
// server (internal/testkube: etcd and kube-apiserver on loopback): N kubernetes.io/tls Secrets
// beside N other Secrets of ~10 KB (Opaque and helm releases, which the exporter must never
// list), then the exporter binary started with a kubeconfig. It reports the time until every
// leaf is on /metrics, the CPU and peak RSS that took, the bytes the API server sent for
// Secrets, how long one updated Secret takes to show, and the RSS after many updates.
//
//	go test -run x -bench . -benchtime 1x -timeout 60m ./bench/kube/
//
// KUBE_BENCH_SECRETS sets N (default 20000); CEE_BIN an exporter binary (default: built from
// this tree); KUBE_BENCH_PROFILE a directory for a CPU profile of the sync (cpu.pb) and a heap
// profile once synced (heap.pb), for `go tool pprof`. X509_BIN also runs x509-certificate-exporter
// v4 (built locally from its repository) after ours, on the same Secrets, measured alike.
package kube

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
)

const namespace = "bench"

// x509Leaf is the peer's not-after family; its leaves are told by their subject.
const x509Leaf = `x509_cert_not_after{`

func BenchmarkSync(b *testing.B) {
	n := 20000
	if v := os.Getenv("KUBE_BENCH_SECRETS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	c := testkube.Start(b)
	cfg := c.Config()
	cfg.QPS, cfg.Burst = 2000, 4000
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	c.EnsureNamespace(b, namespace)
	start := time.Now()
	populate(b, admin, n)
	b.Logf("%d TLS and %d other Secrets created in %s", n, n, time.Since(start).Round(time.Millisecond))

	kubeconfig := testkube.Kubeconfig(b, c.Config())
	runs := 0 // each run renews the Secrets with serials of its own
	b.Run("ours", func(b *testing.B) {
		x := ours(b, kubeconfig)
		for b.Loop() {
			runs++
			run(b, admin, x, n, runs)
		}
	})
	if bin := os.Getenv("X509_BIN"); bin != "" {
		b.Run("x509-certificate-exporter", func(b *testing.B) {
			x := peer(b, bin, kubeconfig)
			for b.Loop() {
				runs++
				run(b, admin, x, n, runs)
			}
		})
	}
}

// target is the exporter measured: how it is started and how its leaf series read.
type target struct {
	args    func(addr string) []string
	leaf    string             // the prefix of a leaf's not-after series
	serial  func(int64) string // the label pair of a serial
	profile bool               // serves /debug/pprof
}

func ours(b *testing.B, kubeconfig string) target {
	bin := os.Getenv("CEE_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "cert_expiry_exporter")
		if out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	conf := writeConfig(b, fmt.Sprintf("kubernetes:\n  kubeconfig: %s\n", kubeconfig))
	return target{
		args: func(addr string) []string {
			return []string{bin, "--config.file=" + conf, "--web.listen-address=" + addr, "--web.enable-pprof"}
		},
		leaf:    `cert_not_after_timestamp_seconds{domain="tls-`,
		serial:  func(v int64) string { return `serial="` + big.NewInt(v).Text(16) + `"` },
		profile: true,
	}
}

// peer is x509-certificate-exporter v4 on the same Secrets: kubernetes.io/tls, key tls.crt (one
// type: it sends a type field selector, as we do).
func peer(b *testing.B, bin, kubeconfig string) target {
	conf := writeConfig(b, fmt.Sprintf("sources:\n  - kind: kubernetes\n    name: bench\n    kubeconfig: %s\n"+
		"    secrets:\n      types:\n        - {type: kubernetes.io/tls, keyPatterns: ['^tls\\.crt$'], format: pem}\n", kubeconfig))
	return target{
		args:   func(addr string) []string { return []string{bin, "--config=" + conf, "--listen-address=" + addr} },
		leaf:   x509Leaf,
		serial: func(v int64) string { return `serial_number="` + strconv.FormatInt(v, 10) + `"` },
	}
}

func writeConfig(b *testing.B, text string) string {
	conf := filepath.Join(b.TempDir(), "config.yml")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	return conf
}

// run is one start of the exporter: the cold sync, one update, then many.
func run(b *testing.B, admin kubernetes.Interface, x target, n, runs int) {
	sentBefore := listBytes(b, admin)
	addr := freeAddr(b)
	profiles := os.Getenv("KUBE_BENCH_PROFILE")
	if !x.profile {
		profiles = ""
	}
	args := x.args(addr)
	cmd := exec.Command(args[0], args[1:]...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	url := "http://" + addr + "/metrics"
	pid := cmd.Process.Pid
	var profiling sync.WaitGroup
	defer profiling.Wait()
	if profiles != "" {
		profiling.Go(func() {
			for !saveProfile(b, "http://"+addr+"/debug/pprof/profile?seconds=30", filepath.Join(profiles, "cpu.pb")) {
				time.Sleep(10 * time.Millisecond) // until it listens
			}
		})
	}
	// The source publishes once every watch has listed: the first non-empty answer is all.
	for leaves(b, url, x.leaf, "") < n {
		select {
		case <-exited:
			b.Fatalf("exporter exited:\n%s", log.String())
		default:
		}
		time.Sleep(50 * time.Millisecond)
	}
	synced := time.Since(start)
	cpu, peak := cpuSeconds(b, pid), status(b, pid, "VmHWM")
	sent := listBytes(b, admin) - sentBefore
	if profiles != "" {
		saveProfile(b, "http://"+addr+"/debug/pprof/heap?gc=1", filepath.Join(profiles, "heap.pb"))
	}
	b.ReportMetric(synced.Seconds(), "sync-s")
	b.ReportMetric(cpu, "sync-cpu-s")
	b.ReportMetric(peak, "peak-rss-MiB")
	b.ReportMetric(sent/(1<<20), "api-list-MiB")

	// One Secret renewed: until the new serial is on /metrics (a scrape included).
	pki := pkiFor(b)
	renewed := int64(900000000 + runs)
	s := tlsSecret(pki, 0, renewed)
	start = time.Now()
	if _, err := admin.CoreV1().Secrets(namespace).Update(b.Context(), s, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	for leaves(b, url, x.leaf, x.serial(renewed)) < 1 {
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "update-visible-ms")

	// Many updates (each a renewal of one of the first 100 Secrets): RSS after them, against
	// RSS once synced.
	rssSynced := status(b, pid, "VmRSS")
	const updates = 10000
	base := int64(1000000 + runs*updates)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if _, err := admin.CoreV1().Secrets(namespace).Update(context.Background(), tlsSecret(pki, i%100, base+int64(i)), metav1.UpdateOptions{}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range updates {
		work <- i
	}
	close(work)
	wg.Wait()
	for leaves(b, url, x.leaf, x.serial(base+updates-1)) < 1 {
		time.Sleep(50 * time.Millisecond)
	}
	b.ReportMetric(rssSynced, "synced-rss-MiB")
	b.ReportMetric(status(b, pid, "VmRSS"), "rss-after-10k-updates-MiB")
	b.ReportMetric(status(b, pid, "VmHWM"), "peak-rss-end-MiB")
}

var (
	pkiOnce sync.Once
	pki     *testcerts.PKI
)

func pkiFor(testing.TB) *testcerts.PKI {
	pkiOnce.Do(func() { pki = testcerts.NewPKI("Bench", time.Now()) })
	return pki
}

// tlsSecret is Secret i as cert-manager writes it: the leaf and intermediate, its key, ca.crt.
func tlsSecret(pki *testcerts.PKI, i int, serial int64) *corev1.Secret {
	name := fmt.Sprintf("tls-%05d", i)
	leaf := pki.Leaf(testcerts.Options{CN: name + ".example.test", DNSNames: []string{name + ".example.test"}, Serial: big.NewInt(serial)})
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: testcerts.Bundle(leaf, pki.Intermediate), corev1.TLSPrivateKeyKey: leaf.KeyPEM(), "ca.crt": pki.Root.PEM()}}
}

// populate creates n TLS Secrets and n others: half Opaque, half helm releases, ~10 KB each.
func populate(b *testing.B, admin kubernetes.Interface, n int) {
	pki := pkiFor(b)
	work := make(chan *corev1.Secret)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for s := range work {
				if _, err := admin.CoreV1().Secrets(namespace).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- tlsSecret(pki, i, int64(i+1))
		blob := make([]byte, 10<<10)
		_, _ = rand.Read(blob)
		typ, key := corev1.SecretTypeOpaque, "data"
		if i%2 == 1 {
			typ, key = "helm.sh/release.v1", "release"
		}
		work <- &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("other-%05d", i)}, Type: typ,
			Data: map[string][]byte{key: blob}}
	}
	close(work)
	wg.Wait()
}

// leaves counts the leaves' not-after series (lines starting with prefix) whose labels hold
// match, in a scrape as Prometheus asks for it (gzip). The Secrets' intermediate is one
// series per Secret too, but not under the leaves' prefix.
func leaves(b *testing.B, url, prefix, match string) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0 // not listening yet
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			b.Fatal(err)
		}
		r = zr
	}
	count := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, prefix) && strings.Contains(l, match) && (prefix != x509Leaf || strings.Contains(l, `subject_CN="tls-`)) {
			count++
		}
	}
	return count
}

// listBytes is what the API server has sent in answer to LISTs of Secrets
// (apiserver_response_sizes_sum).
func listBytes(b *testing.B, admin kubernetes.Interface) float64 {
	raw, err := admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	sum := 0.0
	if f := fams["apiserver_response_sizes"]; f != nil {
		for _, m := range f.Metric {
			l := map[string]string{}
			for _, lp := range m.Label {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["resource"] == "secrets" && l["verb"] == "LIST" {
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return sum
}

// saveProfile writes the profile at url to path; false if the exporter does not answer yet.
func saveProfile(b *testing.B, url, path string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, raw, 0o600)
	}
	if err != nil {
		b.Error(err)
	}
	return true
}

func cpuSeconds(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// status is a /proc/PID/status field in MiB (VmHWM, VmRSS).
func status(b *testing.B, pid int, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for l := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
