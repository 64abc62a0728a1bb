package certbot

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkReplay1000Rotated: a start after certbot's default rotation (one run per file,
// letsencrypt.log.1 … .1000) replays every backup, oldest first, within history_max_age.
func BenchmarkReplay1000Rotated(b *testing.B) {
	e := newEnv(b)
	for i := 1000; i >= 1; i-- {
		e.run(fmt.Sprintf("%s.%d", e.log, i), i%3 == 0)
	}
	e.run(e.log, false)
	// The runs are 12 h apart on the test clock; give the files mtimes within history_max_age.
	for i := 0; i <= 1000; i++ {
		name := e.log
		if i > 0 {
			name = fmt.Sprintf("%s.%d", e.log, i)
		}
		mt := e.now.Add(-time.Duration(i) * time.Minute)
		if err := os.Chtimes(name, mt, mt); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		s := e.source()
		e.start(s)
	}
	b.StopTimer()
	s := e.source()
	e.start(s)
	e.check(s) // every line and run of the 1001 files read exactly once
}
