package logparse

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseLine is the record one line makes on its own.
func parseLine(line string, loc *time.Location) (Record, bool) {
	a := NewAssembler(loc, 0)
	if _, ok := a.Line([]byte(line)); ok || !a.has {
		return Record{}, false
	}
	return a.Flush()
}

func TestParseLine(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string
		loc  *time.Location
		want Record
		ok   bool
	}{
		{"2026-11-25 00:19:54,957:DEBUG:certbot._internal.display.obj:Notifying user: Certificate not yet due for renewal", time.UTC,
			Record{time.Date(2026, 11, 25, 0, 19, 54, 957e6, time.UTC), "DEBUG", "certbot._internal.display.obj", "Notifying user: Certificate not yet due for renewal"}, true},
		{"2019-03-01 12:00:00,001:WARNING:certbot.renewal:Attempting to renew cert (a) from /etc/letsencrypt/renewal/a.conf produced an unexpected error: x: y. Skipping.", berlin,
			Record{time.Date(2019, 3, 1, 12, 0, 0, 1e6, berlin), "WARNING", "certbot.renewal", "Attempting to renew cert (a) from /etc/letsencrypt/renewal/a.conf produced an unexpected error: x: y. Skipping."}, true},
		{"2026-11-25 00:19:54,957:ERROR:certbot._internal.log:", time.UTC,
			Record{time.Date(2026, 11, 25, 0, 19, 54, 957e6, time.UTC), "ERROR", "certbot._internal.log", ""}, true},
		// The folder ignores ACME and HTTP dumps: their records keep only time, level and logger.
		{"2026-11-25 00:19:54,957:DEBUG:acme.client:Sending GET request to https://127.0.0.1:14000/dir.", time.UTC,
			Record{time.Date(2026, 11, 25, 0, 19, 54, 957e6, time.UTC), "DEBUG", "acme.client", ""}, true},
		{"Traceback (most recent call last):", time.UTC, Record{}, false},
		{"  Domain: a.example.test", time.UTC, Record{}, false},
		{"", time.UTC, Record{}, false},
		{"2026-11-25 00:19:54,957:NOTICE:certbot:x", time.UTC, Record{}, false},       // not a Python level
		{"2026-13-25 00:19:54,957:INFO:certbot:x", time.UTC, Record{}, false},         // month 13
		{"2026-11-25 00:19:54.957:INFO:certbot:x", time.UTC, Record{}, false},         // '.' not ','
		{"2026-11-25 00:19:54,957:INFO:no logger here", time.UTC, Record{}, false},    // logger has no ':' after it
		{"2026-11-25 00:19:54,957:INFO:two words:message", time.UTC, Record{}, false}, // loggers have no spaces
		{"2026-11-25T00:19:54,957:INFO:certbot:x", time.UTC, Record{}, false},
	}
	for _, tt := range tests {
		got, ok := parseLine(tt.line, tt.loc)
		if ok != tt.ok || !got.Time.Equal(tt.want.Time) || got.Time.Location() != tt.want.Time.Location() && tt.ok ||
			got.Level != tt.want.Level || got.Logger != tt.want.Logger || got.Message != tt.want.Message {
			t.Errorf("parse(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAssembler(t *testing.T) {
	a := NewAssembler(time.UTC, 40)
	var got []string
	feed := func(l string) {
		if r, ok := a.Line([]byte(l)); ok {
			got = append(got, r.Message)
		}
	}
	for _, l := range []string{
		"orphan continuation before any record",
		"2026-11-25 00:00:00,000:DEBUG:certbot._internal.log:Exiting abnormally:",
		"Traceback (most recent call last):",
		"certbot.errors.Error: 1 renew failure(s), 0 parse failure(s)",
		"2026-11-25 00:00:00,001:ERROR:certbot._internal.log:1 renew failure(s), 0 parse failure(s)",
	} {
		feed(l)
	}
	if r, ok := a.Flush(); ok {
		got = append(got, r.Message)
	}
	want := []string{
		"Exiting abnormally:\nTraceback (most rece", // cut at 40 bytes
		"1 renew failure(s), 0 parse failure(s)",
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("records = %q, want %q", got, want)
	}
	if a.Orphans != 1 || a.Cut != 1 { // two lines past the bound, one record cut
		t.Errorf("Orphans = %d, Cut = %d; want 1, 1", a.Orphans, a.Cut)
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add("2026-11-25 00:19:54,957:DEBUG:certbot._internal.display.obj:Notifying user: x", false)
	f.Add("2026-02-30 24:00:60,999:INFO:a:", false)
	f.Add("2026-03-29 02:30:00,000:INFO:a:in Berlin's DST gap", true)
	f.Add("Traceback (most recent call last):", false)
	// One real line per logger and level from certbot's own logs, so the fuzzer starts from
	// the shapes it will meet instead of rediscovering the layout.
	seen := map[string]bool{}
	logs, _ := filepath.Glob("testdata/certbot-2.1.0/*.log")
	for _, name := range logs {
		data, err := readTestdata(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(data, "\n") {
			r, ok := parseLine(line, time.UTC)
			if key := r.Level + r.Logger; ok && !seen[key] {
				seen[key] = true
				f.Add(line, false)
			}
		}
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string, inBerlin bool) {
		loc := time.UTC
		if inBerlin {
			loc = berlin
		}
		// Differential check of the hand-written timestamp reader against the standard
		// library: whatever time.Parse reads, parse must read the same. time.Parse is
		// laxer than certbot's layout (one-digit hours, '.' for ',', a sign among the
		// milliseconds), so only stamps with a digit in every digit position are compared.
		if len(line) >= stampLen && line[19] == ',' && digitsAt(line[:stampLen]) {
			if want, err := time.ParseInLocation("2006-01-02 15:04:05,000", line[:stampLen], loc); err == nil {
				got, ok := parseStamp([]byte(line[:stampLen]), loc)
				if !ok || !got.Equal(want) {
					t.Fatalf("parseStamp(%q) = %v, %v; time.Parse says %v", line[:stampLen], got, ok, want)
				}
			}
		}
		r, ok := parseLine(line, loc)
		if !ok {
			return
		}
		if levelName([]byte(r.Level)) == "" || r.Logger == "" || len(r.Message) > len(line) {
			t.Fatalf("bad record %+v from %q", r, line)
		}
		want := line[stampLen+1+len(r.Level)+1+len(r.Logger)+1:]
		if ignoredLogger(r.Logger) {
			want = ""
		}
		if r.Message != want {
			t.Fatalf("message %q, want %q, from %q", r.Message, want, line)
		}
	})
}

func digitsAt(stamp string) bool {
	for i, c := range []byte("2006-01-02 15:04:05,000") {
		if c >= '0' && c <= '9' && (stamp[i] < '0' || stamp[i] > '9') {
			return false
		}
	}
	return true
}
