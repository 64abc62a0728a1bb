package config

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct{ target, starttls, host, port, err string }{
		{"example.com:8443", "", "example.com", "8443", ""},
		{"example.com", "", "example.com", "443", ""},
		{"mx.example.com", "smtp", "mx.example.com", "25", ""},
		{"[::1]:636", "", "::1", "636", ""},
		{"[0:0::1]:636", "", "::1", "636", ""},
		{"[::1]", "", "::1", "443", ""},
		{"::1", "postgres", "::1", "5432", ""},
		{"192.0.2.1", "", "192.0.2.1", "443", ""},
		{"", "", "", "", "empty"},
		{"https://example.com", "", "", "", "is a URL"},
		{"../../etc/passwd", "", "", "", "not host:port"},
		{"example.com:0", "", "", "", "bad port"},
		{"example.com:https", "", "", "", "bad port"},
		{":443", "", "", "", "no host"},
		{strings.Repeat("a", 295) + ":443", "", strings.Repeat("a", 295), "443", ""},
		{strings.Repeat("a", 297) + ":443", "", "", "", "target is 301 bytes long, at most 300"},
		{strings.Repeat("a", 100<<10), "", "", "", "target is 102400 bytes long, at most 300"},
	} {
		host, port, err := ParseTarget(tc.target, tc.starttls)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.target, err, tc.err)
			}
			continue
		}
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("%q: %q %q %v", tc.target, host, port, err)
		}
	}
}
