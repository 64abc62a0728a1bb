package files

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// benchTree writes n certificate files like /work/shared/bench/gen-certs.go does: 100 per
// directory, every 10th a fullchain with its CA. 100 distinct leaves are reused, which costs
// the scanner the same as n distinct ones and keeps the setup short.
func benchTree(b *testing.B, n int) string {
	b.Helper()
	now := time.Now()
	pki := testcerts.NewPKI("Bench", now)
	var leaves [][]byte
	for i := 0; i < 100; i++ {
		leaves = append(leaves, pki.Leaf(testcerts.Options{CN: fmt.Sprintf("host%d.bench.test", i), Now: now}).PEM())
	}
	dir := b.TempDir()
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%04d", i/100))
		if i%100 == 0 {
			if err := os.Mkdir(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		data, name := leaves[i%100], fmt.Sprintf("%06d-cert.pem", i)
		if i%10 == 0 {
			data, name = append(append([]byte{}, data...), pki.Intermediate.PEM()...), fmt.Sprintf("%06d-fullchain.pem", i)
		}
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		age(b, p)
	}
	return dir
}

// cpuTime is the process's user + system CPU time: on a shared machine it is the figure that
// does not depend on what else runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchmarkColdScan reports the CPU seconds of a scan and the heap in use once it is done,
// with the source (and its cache) alive.
func benchmarkColdScan(b *testing.B, n int) {
	dir := benchTree(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	var (
		heap uint64
		cpu  time.Duration
	)
	for i := 0; i < b.N; i++ {
		start := cpuTime()
		s, _ := newSource(b, []config.Files{fileEntry(dir + "/**/*.pem")}, "", time.Now())
		snap := scanOnce(b, s)
		cpu += cpuTime() - start
		if len(snap.Chains) != n || len(snap.Problems) != 0 {
			b.Fatalf("%d chains, %d errors", len(snap.Chains), len(snap.Problems))
		}
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = max(heap, ms.HeapInuse)
		runtime.KeepAlive(s)
		b.StartTimer()
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

func BenchmarkColdScan10k(b *testing.B) { benchmarkColdScan(b, 10_000) }

func BenchmarkColdScan100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100k files")
	}
	benchmarkColdScan(b, 100_000)
}

// benchmarkIncremental: one file changes, then a rescan re-parses only that one. "full" is the
// periodic rescan (or one after lost events): it stats every file. "watched" is the scan after
// the watcher reported the file's directory: it stats only that directory's files.
func benchmarkIncremental(b *testing.B, n int) {
	dir := benchTree(b, n)
	s, _ := newSource(b, []config.Files{fileEntry(dir + "/**/*.pem")}, "", time.Now())
	scanOnce(b, s)
	target := filepath.Join(dir, "d0000", "000001-cert.pem")
	pki := testcerts.NewPKI("Next", time.Now())
	next := []*testcerts.Cert{pki.Leaf(testcerts.Options{}), pki.Leaf(testcerts.Options{})}
	for _, mode := range []struct {
		name    string
		changed map[string]struct{}
	}{{"full", nil}, {"watched", map[string]struct{}{filepath.Dir(target): {}}}} {
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			for i := 0; i < b.N; i++ {
				leaf := next[i%2]
				if err := os.WriteFile(target, leaf.PEM(), 0o644); err != nil {
					b.Fatal(err)
				}
				snap, _ := s.scan(context.Background(), mode.changed, nil)
				if c := chainByPath(snap, target); c == nil || c.Certs[0].Serial != serial(leaf) || len(snap.Chains) != n {
					b.Fatal("changed file missing")
				}
			}
			b.ReportMetric((cpuTime()-start).Seconds()*1000/float64(b.N), "cpu-ms/op")
		})
	}
}

func BenchmarkIncremental10k(b *testing.B) { benchmarkIncremental(b, 10_000) }

func BenchmarkIncremental100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100k files")
	}
	benchmarkIncremental(b, 100_000)
}

// benchmarkChangeVisible is what the "one changed file visible in < 1 s" means: Run
// watches the tree; one file is rewritten; the time until a published snapshot holds the new
// certificate (fsnotify, debounce, rescan). The CPU figure is the whole process's meanwhile.
func benchmarkChangeVisible(b *testing.B, n int) {
	dir := benchTree(b, n)
	published := make(chan *source.Snapshot, 16)
	s := New([]config.Files{fileEntry(dir + "/**/*.pem")}, "", slog.New(slog.DiscardHandler), clockwork.NewRealClock())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, func(snap *source.Snapshot) { published <- snap }); close(done) }()
	defer func() { cancel(); <-done }()
	<-published
	target := filepath.Join(dir, "d0000", "000001-cert.pem")
	pki := testcerts.NewPKI("Next", time.Now())
	next := []*testcerts.Cert{pki.Leaf(testcerts.Options{}), pki.Leaf(testcerts.Options{})}
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		leaf := next[i%2]
		if err := os.WriteFile(target, leaf.PEM(), 0o644); err != nil {
			b.Fatal(err)
		}
		for snap := range published {
			if c := chainByPath(snap, target); c != nil && c.Certs[0].Serial == serial(leaf) && len(snap.Chains) == n {
				break
			}
		}
	}
	b.ReportMetric((cpuTime()-start).Seconds()*1000/float64(b.N), "cpu-ms/op")
}

func BenchmarkChangeVisible10k(b *testing.B) { benchmarkChangeVisible(b, 10_000) }

func BenchmarkChangeVisible100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100k files")
	}
	benchmarkChangeVisible(b, 100_000)
}
