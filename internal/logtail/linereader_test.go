package logtail

import (
	"slices"
	"testing"
)

// TestLineReader feeds the same stream in every split into writes: whole lines handed over in
// place and lines assembled across writes must come out the same, cut at max and counted once.
func TestLineReader(t *testing.T) {
	const stream = "one\r\ntwo\n\n0123456789abcdef\nlast-no-newline"
	want := []string{"one", "two", "", "01234567", "last-no-"}
	for split := 0; split <= len(stream); split++ {
		for _, step := range []int{1, 3, len(stream)} {
			var got []string
			r := &lineReader{max: 8, emit: func(line []byte) { got = append(got, string(line)) }}
			r.write([]byte(stream[:split]))
			for rest := stream[split:]; len(rest) > 0; rest = rest[min(step, len(rest)):] {
				r.write([]byte(rest[:min(step, len(rest))]))
			}
			r.flush()
			if !slices.Equal(got, want) || r.lines != 5 || r.tooLong != 2 || r.bytes != uint64(len(stream)) {
				t.Fatalf("split %d, step %d: lines %q (lines %d, tooLong %d, bytes %d); want %q, 5, 2, %d",
					split, step, got, r.lines, r.tooLong, r.bytes, want, len(stream))
			}
		}
	}
}
