package config

import (
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseTarget: /probe?target= is attacker-controlled. Whatever it holds, ParseTarget
// returns, and what it accepts is a plain endpoint: a host without path or space characters,
// a port in range, and host:port parses back to the same pair.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"example.com:443", "example.com", "[::1]:8443", "::1", "127.0.0.1", "[fe80::1%eth0]:443",
		"file:///etc/passwd", "a/b:1", "host:0", "host:65536", ":443", "[::1]", "x:y:z"} {
		f.Add(s, byte(0))
		f.Add(s, byte(1))
	}
	// Only the protocols config validation lets through: with an unknown one a bare address
	// gets an empty port (ParseTarget("::", "0"), found by this target), unreachable in use.
	protos := slices.Sorted(maps.Keys(defaultPorts))
	f.Fuzz(func(t *testing.T, target string, which byte) {
		starttls := protos[int(which)%len(protos)]
		host, port, err := ParseTarget(target, starttls)
		if err != nil {
			return
		}
		if len(target) > maxTargetBytes || host == "" || strings.ContainsAny(host, "/\\ \t\r\n") {
			t.Fatalf("ParseTarget(%q) accepted host %q", target, host)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			t.Fatalf("ParseTarget(%q) accepted port %q", target, port)
		}
		h2, p2, err := ParseTarget(net.JoinHostPort(host, port), starttls)
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("ParseTarget(%q) = %q %q, but its host:port gives %q %q %v", target, host, port, h2, p2, err)
		}
	})
}
