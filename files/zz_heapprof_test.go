package files

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
)

// temporary: heap profile with the source alive
func BenchmarkZZHeap(b *testing.B) {
	dir := benchTree(b, 100_000)
	s, _ := newSource(b, []config.Files{fileEntry(dir + "/**/*.pem")}, "", time.Now())
	snap := scanOnce(b, s)
	runtime.GC()
	f, _ := os.Create(os.Getenv("HEAPPROF"))
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
	runtime.KeepAlive(s)
	runtime.KeepAlive(snap)
}
