package logparse

import (
	"testing"
	"time"
)

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
		got, ok := ParseLine(tt.line, tt.loc)
		if ok != tt.ok || !got.Time.Equal(tt.want.Time) || got.Time.Location() != tt.want.Time.Location() && tt.ok ||
			got.Level != tt.want.Level || got.Logger != tt.want.Logger || got.Message != tt.want.Message {
			t.Errorf("ParseLine(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
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
	if a.Orphans != 1 {
		t.Errorf("Orphans = %d, want 1", a.Orphans)
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add("2026-11-25 00:19:54,957:DEBUG:certbot._internal.display.obj:Notifying user: x")
	f.Add("2026-02-30 24:00:60,999:INFO:a:")
	f.Add("Traceback (most recent call last):")
	f.Fuzz(func(t *testing.T, line string) {
		r, ok := ParseLine(line, time.UTC)
		if !ok {
			return
		}
		if !isLevel(r.Level) || r.Logger == "" || len(r.Message) > len(line) {
			t.Fatalf("bad record %+v from %q", r, line)
		}
		if line[stampLen+1+len(r.Level)+1+len(r.Logger)+1:] != r.Message {
			t.Fatalf("message %q is not the rest of %q", r.Message, line)
		}
	})
}
