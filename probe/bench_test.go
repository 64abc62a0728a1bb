package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// benchEnv makes the test binary a TLS server (see benchServerMode), so that the benchmark's
// CPU figures count the prober only, like measuring a peer exporter against a separate server.
const benchEnv = "PROBE_BENCH_SERVER_DIR"

// benchServerMode serves TLS with DIR/chain.pem and DIR/key.pem on 127.0.0.1, prints the
// address and runs until stdin closes. It reports whether the binary was started that way.
func benchServerMode() bool {
	dir := os.Getenv(benchEnv)
	if dir == "" {
		return false
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "chain.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(ln.Addr().String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Read(make([]byte, 1))
				}
			}()
		}
	}()
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return true
}

// startBenchServer runs the server process and returns its address.
func startBenchServer(b *testing.B) (addr string, pki *testcerts.PKI) {
	pki = testcerts.NewPKI("Bench", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}, Now: t0})
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "chain.pem"), testcerts.Bundle(leaf, pki.Intermediate), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), leaf.KeyPEM(), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return line[:len(line)-1], pki
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProbe reports probes per second and the prober's CPU milliseconds per probe
// (user + system, from getrusage) for sequential probes, or parallel ones with -cpu/-parallel
// semantics of b.RunParallel in BenchmarkProbeParallel.
func BenchmarkProbe(b *testing.B) {
	benchProbe(b, func(probe func()) {
		for b.Loop() {
			probe()
		}
	})
}

func BenchmarkProbeParallel(b *testing.B) {
	benchProbe(b, func(probe func()) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				probe()
			}
		})
	})
}

func benchProbe(b *testing.B, loop func(probe func())) {
	addr, pki := startBenchServer(b)
	m := caModule(b, pki)
	opts := Options{Now: clock, ServerName: "localhost"}
	var failed sync.Once
	probe := func() {
		if r := Run(context.Background(), addr, m, opts); !r.Success() || r.Addrs[0].Chain.Verify.Reason != "ok" {
			failed.Do(func() { b.Errorf("probe failed: %+v", r) })
		}
	}
	probe() // warm the ca_file cache and the system's lazy initialisations
	cpu0, wall0 := cpuTime(), time.Now()
	b.ResetTimer()
	loop(probe)
	b.StopTimer()
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "CPU-ms/probe")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "probes/s")
}
