package files

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
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

func benchmarkColdScan(b *testing.B, n int) {
	dir := benchTree(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	var heap uint64
	for i := 0; i < b.N; i++ {
		s, _ := newSource(b, []config.Files{fileEntry(dir + "/**/*.pem")}, "", time.Now())
		snap := scanOnce(b, s)
		if len(snap.Chains) != n || len(snap.Errors) != 0 {
			b.Fatalf("%d chains, %d errors", len(snap.Chains), len(snap.Errors))
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
}

func BenchmarkColdScan10k(b *testing.B) { benchmarkColdScan(b, 10_000) }

func BenchmarkColdScan100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100k files")
	}
	benchmarkColdScan(b, 100_000)
}

// benchmarkIncremental: one file changes; the rescan that follows re-parses only that file.
func benchmarkIncremental(b *testing.B, n int) {
	dir := benchTree(b, n)
	s, _ := newSource(b, []config.Files{fileEntry(dir + "/**/*.pem")}, "", time.Now())
	scanOnce(b, s)
	target := filepath.Join(dir, "d0000", "000001-cert.pem")
	pki := testcerts.NewPKI("Next", time.Now())
	next := [][]byte{pki.Leaf(testcerts.Options{}).PEM(), pki.Leaf(testcerts.Options{}).PEM()}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := os.WriteFile(target, next[i%2], 0o644); err != nil {
			b.Fatal(err)
		}
		snap := scanOnce(b, s)
		if c := chainByPath(snap, target); c == nil || len(snap.Chains) != n {
			b.Fatal("changed file missing")
		}
	}
}

func BenchmarkIncremental10k(b *testing.B) { benchmarkIncremental(b, 10_000) }

func BenchmarkIncremental100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100k files")
	}
	benchmarkIncremental(b, 100_000)
}
