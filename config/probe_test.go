package config

import "testing"

// TestDuplicateTargets: the certificate series of background probes are keyed by target and
// ip, so each host:port may be listed once (other SNI names or modules go through /probe).
func TestDuplicateTargets(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"same entry", "targets:\n  - {target: a.example:443}\n  - {target: a.example:443}",
			"targets[1]: duplicate of targets[0]: list each host:port once (probe other SNI names through /probe)"},
		{"default module spelled out", "targets:\n  - {target: b.example:443}\n  - {target: a.example:443}\n  - {target: A.Example:443, module: tls, interval: 1m}",
			"targets[2]: duplicate of targets[1]: list each host:port once (probe other SNI names through /probe)"},
		{"same server_name", "targets:\n  - {target: a.example:443, server_name: x.example}\n  - {target: a.example:443, server_name: X.example}",
			"targets[1]: duplicate of targets[0]: list each host:port once (probe other SNI names through /probe)"},
		{"other server_name", "targets:\n  - {target: a.example:443}\n  - {target: a.example:443, server_name: x.example}", "targets[1]: duplicate of targets[0]: list each host:port once (probe other SNI names through /probe)"},
		{"other module", "modules: {smtp: {starttls: smtp}}\ntargets:\n  - {target: a.example:25}\n  - {target: a.example:25, module: smtp}", "targets[1]: duplicate of targets[0]: list each host:port once (probe other SNI names through /probe)"},
		{"other port", "targets:\n  - {target: a.example:443}\n  - {target: a.example:8443}", ""},
		{"default port", "targets:\n  - {target: a.example}\n  - {target: a.example:443}",
			"targets[1]: duplicate of targets[0]: list each host:port once (probe other SNI names through /probe)"},
		{"protocol's default port", "modules: {smtp: {starttls: smtp}}\ntargets:\n  - {target: mx.example, module: smtp}\n  - {target: mx.example:443}", ""},
		{"one address spelled twice", "targets:\n  - {target: \"[::1]:443\"}\n  - {target: \"[0::1]:443\"}",
			"targets[1]: duplicate of targets[0]: list each host:port once (probe other SNI names through /probe)"},
		// Other endpoints (:25, :443), but the series would carry the same target label.
		{"same portless target, other module", "modules: {smtp: {starttls: smtp}}\ntargets:\n  - {target: mx.example, module: smtp}\n  - {target: MX.example}",
			"targets[1]: duplicate of targets[0]: list each host:port once (probe other SNI names through /probe)"},
	} {
		_, err := Parse([]byte(tc.in))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
