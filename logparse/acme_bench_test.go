package logparse

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// repeatCaptures returns the captured logs matching pattern, concatenated and repeated to
// about size bytes.
func repeatCaptures(b *testing.B, pattern string, size int) []byte {
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		b.Fatalf("no captures %s: %v", pattern, err)
	}
	var one bytes.Buffer
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		one.Write(data)
	}
	return bytes.Repeat(one.Bytes(), size/one.Len()+1)
}

func eachLine(log []byte, fn func([]byte)) {
	for rest := log; len(rest) > 0; {
		n := bytes.IndexByte(rest, '\n')
		if n < 0 {
			n = len(rest)
		}
		fn(rest[:n])
		rest = rest[min(n+1, len(rest)):]
	}
}

// BenchmarkCaddyFold folds ~50 MB of real Caddy output (every capture, repeated), plus as
// many bytes of HTTP access log, which the folder skips undecoded:
// go test -run='^$' -bench=CaddyFold -benchmem ./logparse
func BenchmarkCaddyFold(b *testing.B) {
	tls := repeatCaptures(b, "testdata/caddy-*/*.log", 50<<20)
	access := []byte(`{"level":"info","ts":1796196864.0272381,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"127.0.0.1","proto":"HTTP/2.0","method":"GET","host":"a.example.test","uri":"/index.html","headers":{"User-Agent":["curl/7.88.1"],"Accept":["*/*"]}},"bytes_read":0,"user_id":"","duration":0.000123,"size":1234,"status":200}` + "\n")
	log := append(tls, bytes.Repeat(access, len(tls)/len(access))...)
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	for range b.N {
		var f CaddyFolder
		eachLine(log, f.Line)
		if len(f.Outcomes()) == 0 || f.Garbage != 0 {
			b.Fatalf("%d outcomes, %d garbage", len(f.Outcomes()), f.Garbage)
		}
	}
}

// BenchmarkLegoFold folds ~50 MB of real lego output (every capture, repeated).
func BenchmarkLegoFold(b *testing.B) {
	log := repeatCaptures(b, "testdata/lego-*/*.log", 50<<20)
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	for range b.N {
		f := NewLegoFolder(time.UTC)
		runs := 0
		eachLine(log, func(line []byte) {
			f.Line(line)
			runs += len(f.Runs())
		})
		if runs == 0 {
			b.Fatal("no runs")
		}
	}
}
