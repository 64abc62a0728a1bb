package ari

import (
	"testing"
	"time"
)

func TestParseRenewalInfo(t *testing.T) {
	start := time.Date(2025, 1, 2, 4, 35, 33, 0, time.UTC)
	end := time.Date(2025, 1, 3, 4, 35, 33, 0, time.UTC)
	for _, tc := range []struct {
		name, body string
		want       suggested
		wantErr    bool
	}{
		{"rfc example", `{"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},"explanationURL":"https://acme.example.com/docs/ari"}`,
			suggested{time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC), time.Date(2025, 1, 3, 4, 0, 0, 0, time.UTC), "https://acme.example.com/docs/ari"}, false},
		{"offset and fraction", `{"suggestedWindow":{"start":"2025-01-02T05:35:33.000+01:00","end":"2025-01-03T04:35:33Z"}}`,
			suggested{start, end, ""}, false},
		{"unknown fields ignored", `{"suggestedWindow":{"start":"2025-01-02T04:35:33Z","end":"2025-01-03T04:35:33Z","x":1},"y":[1]}`,
			suggested{start, end, ""}, false},
		{"explanation not http", `{"suggestedWindow":{"start":"2025-01-02T04:35:33Z","end":"2025-01-03T04:35:33Z"},"explanationURL":"javascript:alert(1)"}`,
			suggested{start, end, ""}, false},
		{"explanation relative", `{"suggestedWindow":{"start":"2025-01-02T04:35:33Z","end":"2025-01-03T04:35:33Z"},"explanationURL":"/docs"}`,
			suggested{start, end, ""}, false},
		{"end equals start", `{"suggestedWindow":{"start":"2025-01-02T04:35:33Z","end":"2025-01-02T04:35:33Z"}}`, suggested{}, true},
		{"end before start", `{"suggestedWindow":{"start":"2025-01-03T04:35:33Z","end":"2025-01-02T04:35:33Z"}}`, suggested{}, true},
		{"no window", `{"explanationURL":"https://x.example/"}`, suggested{}, true},
		{"no end", `{"suggestedWindow":{"start":"2025-01-02T04:35:33Z"}}`, suggested{}, true},
		{"bad time", `{"suggestedWindow":{"start":"yesterday","end":"2025-01-02T04:35:33Z"}}`, suggested{}, true},
		{"not json", `<html>`, suggested{}, true},
		{"empty", ``, suggested{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRenewalInfo([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !got.Start.Equal(tc.want.Start) || !got.End.Equal(tc.want.End) || got.ExplanationURL != tc.want.ExplanationURL {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseDirectory(t *testing.T) {
	for _, tc := range []struct {
		dir, body, want string
		wantErr         error
	}{
		{"https://acme-v02.api.letsencrypt.org/directory", `{"newNonce":"x","renewalInfo":"https://acme-v02.api.letsencrypt.org/draft-ietf-acme-ari-03/renewalInfo"}`, "https://acme-v02.api.letsencrypt.org/draft-ietf-acme-ari-03/renewalInfo", nil},
		{"https://127.0.0.1:14000/dir", `{"renewalInfo":"/renewal-info/"}`, "https://127.0.0.1:14000/renewal-info", nil},
		{"https://ca.example/dir", `{"newNonce":"x"}`, "", errNoRenewalInfo},
	} {
		got, err := parseDirectory(tc.dir, []byte(tc.body))
		if got != tc.want || err != tc.wantErr {
			t.Errorf("ParseDirectory(%q, %s) = %q, %v; want %q, %v", tc.dir, tc.body, got, err, tc.want, tc.wantErr)
		}
	}
	for _, body := range []string{`[]`, `{"renewalInfo":"ftp://x/"}`, `{"renewalInfo":"http://[::1"}`} {
		if _, err := parseDirectory("https://ca.example/dir", []byte(body)); err == nil {
			t.Errorf("ParseDirectory(%s): no error", body)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"21600", 6 * time.Hour, true},
		{" 3600 ", time.Hour, true},
		{"0", time.Minute, true},
		{"30", time.Minute, true},
		{"864000", 24 * time.Hour, true},
		{"99999999999999999999999", 0, false}, // overflows uint64: malformed
		{"18446744073709551615", 24 * time.Hour, true},
		{"Thu, 02 Jan 2025 05:04:05 GMT", 2 * time.Hour, true},
		{"Thu, 02 Jan 2025 03:00:00 GMT", time.Minute, true}, // in the past
		{"Sat, 01 Feb 2025 03:04:05 GMT", 24 * time.Hour, true},
		{"", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func FuzzParseRenewalInfo(f *testing.F) {
	f.Add([]byte(`{"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},"explanationURL":"https://acme.example.com/docs/ari"}`))
	f.Add([]byte(`{"suggestedWindow":{"start":"2025-01-03T04:00:00Z","end":"2025-01-02T04:00:00Z"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := parseRenewalInfo(body)
		if err != nil {
			return
		}
		if !w.End.After(w.Start) {
			t.Fatalf("accepted an empty or inverted window: %+v", w)
		}
		if w.ExplanationURL != "" && cleanURL(w.ExplanationURL) != w.ExplanationURL {
			t.Fatalf("kept an unclean explanation URL %q", w.ExplanationURL)
		}
	})
}

func FuzzParseDirectory(f *testing.F) {
	f.Add("https://ca.example/dir", []byte(`{"renewalInfo":"https://ca.example/ri/"}`))
	f.Add("https://ca.example/dir", []byte(`{"renewalInfo":"../ri"}`))
	f.Fuzz(func(t *testing.T, dir string, body []byte) {
		ri, err := parseDirectory(dir, body)
		if err == nil && ri == "" {
			t.Fatal("no error and no URL")
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Thu, 02 Jan 2025 05:04:05 GMT")
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if ok && (d < minRetryAfter || d > maxRetryAfter) {
			t.Fatalf("ParseRetryAfter(%q) = %v outside the clamp", v, d)
		}
	})
}
