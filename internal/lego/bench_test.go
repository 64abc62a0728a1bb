package lego

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkReplay: a start replays a 64 MiB captured log (real lego 4.9.1 runs: issue, renew,
// failed renewals, hook failure, repeated), reading the store and folding every record.
func BenchmarkReplay(b *testing.B) {
	s := newStore(b)
	var one []byte
	for _, n := range []string{"issue", "renew-success", "renew-not-due", "renew-connection", "renew-dns-servfail", "renew-hook-fails"} {
		data, err := os.ReadFile(captured + n + ".log")
		if err != nil {
			b.Fatal(err)
		}
		one = append(one, data...)
	}
	log := bytes.Repeat(one, 64<<20/len(one))
	if err := os.WriteFile(s.log, log, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(log)))
	for b.Loop() {
		snap := s.once()
		if len(snap.Renewals) != 1 || snap.Renewals[0].Reason != "hook" {
			b.Fatalf("renewals %+v", snap.Renewals)
		}
	}
}
