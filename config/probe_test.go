package config

import "testing"

// TestDuplicateTargets: two targets: entries probing the same (target, module, server_name)
// would export every series twice; a different server_name is a different probe.
func TestDuplicateTargets(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"same entry", "targets:\n  - {target: a.example:443}\n  - {target: a.example:443}",
			"targets[1]: duplicate of targets[0] (same target, module and server_name)"},
		{"default module spelled out", "targets:\n  - {target: b.example:443}\n  - {target: a.example:443}\n  - {target: A.Example:443, module: tls, interval: 1m}",
			"targets[2]: duplicate of targets[1] (same target, module and server_name)"},
		{"same server_name", "targets:\n  - {target: a.example:443, server_name: x.example}\n  - {target: a.example:443, server_name: X.example}",
			"targets[1]: duplicate of targets[0] (same target, module and server_name)"},
		{"other server_name", "targets:\n  - {target: a.example:443}\n  - {target: a.example:443, server_name: x.example}", ""},
		{"other module", "modules: {smtp: {starttls: smtp}}\ntargets:\n  - {target: a.example:25}\n  - {target: a.example:25, module: smtp}", ""},
		{"other port", "targets:\n  - {target: a.example:443}\n  - {target: a.example:8443}", ""},
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
