package logparse

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// BenchmarkParse measures records+runs throughput over ~100 MB of real certbot output
// (the captured logs repeated), the work of a history replay: go test -bench=Parse -benchmem ./logparse
func BenchmarkParse(b *testing.B) {
	var one bytes.Buffer
	for _, name := range []string{"issue", "renew-not-due", "renew-connection", "renew-deploy-hook-fails", "renew-dns", "renew-parsefail", "renew-lock"} {
		data, err := os.ReadFile("testdata/certbot-2.1.0/" + name + ".log")
		if err != nil {
			b.Fatal(err)
		}
		one.Write(data)
	}
	log := bytes.Repeat(one.Bytes(), 100<<20/one.Len()+1)
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := NewAssembler(time.UTC, 1<<20)
		var f Folder
		runs := 0
		for rest := log; len(rest) > 0; {
			n := bytes.IndexByte(rest, '\n')
			if n < 0 {
				n = len(rest)
			}
			if r, ok := a.Line(rest[:n]); ok && f.Add(r) != nil {
				runs++
			}
			rest = rest[min(n+1, len(rest)):]
		}
		if runs == 0 {
			b.Fatal("no runs")
		}
	}
}
