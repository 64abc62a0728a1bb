package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// parsed is a document and the section it should parse to.
type parsed[T any] struct {
	doc  string
	want []T
}

// checkSection parses each good document and compares section(cfg) with its want, and
// parses each bad one ({doc, part of the error}) expecting its error.
func checkSection[T any](t *testing.T, section func(*Config) []T, good []parsed[T], bad [][2]string) {
	t.Helper()
	for _, tc := range good {
		cfg, err := Parse([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%q: %v", tc.doc, err)
		}
		if got := section(cfg); (len(got) > 0 || len(tc.want) > 0) && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.doc, got, tc.want)
		}
	}
	for _, tc := range bad {
		_, err := Parse([]byte(tc[0]))
		if err == nil || !strings.Contains(err.Error(), tc[1]) {
			t.Errorf("%q: error %v, want it to contain %q", tc[0], err, tc[1])
		}
	}
}

// TestCaddyOneOrList: `caddy:` takes one instance as a mapping (a bare `caddy:` is one with the
// defaults) or several as a list; errors name `caddy.…` for the one and `caddy[i].…` in a list.
func TestCaddyOneOrList(t *testing.T) {
	def := func(storage, log string) Caddy {
		return Caddy{StorageDir: storage, LogFile: log, HistoryMaxAge: model.Duration(30 * 24 * time.Hour), RescanInterval: model.Duration(time.Minute)}
	}
	probed := func(storage string, p CaddyProbe) Caddy {
		c := def(storage, "")
		c.Probe = &p
		return c
	}
	labelled := def(DefaultCaddyStorage, "")
	labelled.Labels = Labels{"team": "web"}
	checkSection(t, func(c *Config) []Caddy { return c.Caddy }, []parsed[Caddy]{
		{"caddy:\n", []Caddy{def(DefaultCaddyStorage, "")}},
		{"caddy: {}\n", []Caddy{def(DefaultCaddyStorage, "")}},
		{"caddy:\n  log_file: /var/log/caddy/caddy.log\n", []Caddy{def(DefaultCaddyStorage, "/var/log/caddy/caddy.log")}},
		{"caddy:\n  - storage_dir: /a\n  - log_file: /b.log\n    rescan_interval: 5m\n",
			[]Caddy{def("/a", ""), {StorageDir: DefaultCaddyStorage, LogFile: "/b.log", HistoryMaxAge: model.Duration(30 * 24 * time.Hour), RescanInterval: model.Duration(5 * time.Minute)}}},
		{"caddy:\n  labels: {team: web}\n", []Caddy{labelled}},
		{"caddy: []\n", nil},
		// probe: opt in; a bare one is the defaults, in a list too.
		{"caddy:\n  probe:\n", []Caddy{probed(DefaultCaddyStorage, CaddyProbe{Address: "127.0.0.1:443", Module: "tls", Interval: model.Duration(5 * time.Minute)})}},
		{"caddy:\n  - storage_dir: /a\n  - storage_dir: /b\n    probe:\n", []Caddy{def("/a", ""),
			probed("/b", CaddyProbe{Address: "127.0.0.1:443", Module: "tls", Interval: model.Duration(5 * time.Minute)})}},
		{"modules: {caddy: {timeout: 3s}}\ncaddy:\n  probe: {address: '[::1]:8443', module: caddy, interval: 1m}\n",
			[]Caddy{probed(DefaultCaddyStorage, CaddyProbe{Address: "[::1]:8443", Module: "caddy", Interval: model.Duration(time.Minute)})}},
		{"files: []\n", nil},
	}, [][2]string{
		{"caddy:\n  storage: /x\n", "caddy.storage: field not found (line 2)"},
		{"caddy:\n  - storage_dir: /a\n  - log: /x\n", "caddy[1].log: field not found (line 3)"},
		{"caddy:\n  storage_dir: caddy\n", `caddy.storage_dir: must be absolute, got "caddy"`},
		{"caddy:\n  log_file: caddy.log\n", `caddy.log_file: must be absolute, got "caddy.log"`},
		{"caddy:\n  - log_file: /a.log\n  - log_file: /b.log\n", "caddy[1].storage_dir: same storage_dir as caddy[0]"},
		{"caddy:\n  rescan_interval: 10ms\n", "caddy.rescan_interval: must be at least 1s"},
		{"caddy:\n  history_max_age: -1h\n", "caddy.history_max_age: "},
		{"caddy:\n  log_timezone: UTC\n", "caddy.log_timezone: field not found"},
		{"caddy:\n  labels: {path: x}\n", `caddy.labels.path: "path" is a label the exporter or Prometheus sets`},
		{"caddy:\n  - storage_dir: /a\n  - labels: {team: ''}\n", "caddy[1].labels.team: empty value"},
		{"caddy: 3\n", "cannot unmarshal !!int `3` into []config.Caddy"},
		{"caddy:\n  probe: {module: nope}\n", `caddy.probe.module: unknown module "nope"`},
		{"modules: {smtp: {starttls: smtp}}\ncaddy:\n  - storage_dir: /a\n  - probe: {module: smtp}\n", `caddy[1].probe.module: module "smtp" uses starttls smtp; Caddy serves TLS at once`},
		{"modules: {p: {proxy_url: 'http://proxy:3128'}}\ncaddy:\n  probe: {module: p}\n", `caddy.probe.module: module "p" uses proxy_url, which dials the host's own addresses, not Caddy's listener`},
		{"caddy:\n  probe: {address: 'https://127.0.0.1'}\n", `caddy.probe.address: target "https://127.0.0.1" is a URL`},
		{"caddy:\n  probe: {address: '127.0.0.1:0'}\n", `caddy.probe.address: target "127.0.0.1:0": bad port "0"`},
		{"caddy:\n  probe: {interval: 10ms}\n", "caddy.probe.interval: must be at least 1s"},
		{"caddy:\n  probe: {server_name: x}\n", "caddy.probe.server_name: field not found (line 2)"},
		{"caddy:\n  - probe: {target: x}\n", "caddy[0].probe.target: field not found (line 2)"},
	})
}

// TestLegoOneOrList: `lego:` takes one installation as a mapping or several as a list; errors
// name `lego.…` for the one and `lego[i].…` in a list.
func TestLegoOneOrList(t *testing.T) {
	def := func(path, log string) Lego {
		return Lego{Path: path, LogFile: log, HistoryMaxAge: model.Duration(30 * 24 * time.Hour), RescanInterval: model.Duration(time.Minute)}
	}
	labelled := def("/b", "")
	labelled.Labels = Labels{"team": "db", "env": "prod"}
	checkSection(t, func(c *Config) []Lego { return c.Lego }, []parsed[Lego]{
		{"lego:\n  path: /var/lib/lego\n  log_file: /var/log/lego.log\n", []Lego{def("/var/lib/lego", "/var/log/lego.log")}},
		{"lego:\n  - path: /a\n  - path: /b\n    log_file: /b.log\n", []Lego{def("/a", ""), def("/b", "/b.log")}},
		{"lego:\n  - path: /a\n  - path: /b\n    labels: {team: db, env: prod}\n", []Lego{def("/a", ""), labelled}},
		{"lego: []\n", nil},
		{"files: []\n", nil},
	}, [][2]string{
		{"lego:\n  pth: /x\n", "lego.pth: field not found (line 2)"},
		{"lego:\n  - path: /a\n  - pth: /x\n", "lego[1].pth: field not found (line 3)"},
		{"lego:\n  log_file: /x.log\n", "lego.path: must be set"},
		{"lego:\n  - path: /a\n  - log_file: /x.log\n", "lego[1].path: must be set"},
		{"lego:\n  path: lego\n", `lego.path: must be absolute, got "lego"`},
		{"lego:\n  path: /a\n  log_file: lego.log\n", `lego.log_file: must be absolute, got "lego.log"`},
		{"lego:\n  - path: /a\n  - path: /a\n", "lego[1].path: same path as lego[0]"},
		{"lego:\n  path: /a\n  log_timezone: Mars/Olympus\n", "lego.log_timezone: unknown time zone Mars/Olympus"},
		{"lego:\n  path: /a\n  rescan_interval: 10ms\n", "lego.rescan_interval: must be at least 1s"},
		{"lego:\n  path: /a\n  history_max_age: soon\n", `lego.history_max_age: not a valid duration string: "soon"`},
		{"lego:\n  path: /a\n  labels: {severity: page}\n", `lego.labels.severity: "severity" is a label the exporter or Prometheus sets`},
		{"lego:\n  path: /a\n  labels: {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1}\nfiles:\n  - paths: [a]\n    labels: {i: 1, j: 1, k: 1, l: 1, m: 1, n: 1, o: 1, p: 1}\ncaddy:\n  labels: {q: 1}\n",
			"caddy.labels: the config uses more than 16 distinct owner label names"},
		{"lego: 3\n", "cannot unmarshal !!int `3` into []config.Lego"},
	})
}

// TestCaddyProbeAddress: the address dialled for every name defaults its port to 443, and
// HasTarget finds a name of targets: by host and port, the module's default port included.
func TestCaddyProbeAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1":          "127.0.0.1:443",
		"127.0.0.1:8443":     "127.0.0.1:8443",
		"::1":                "[::1]:443",
		"[0::1]:8443":        "[::1]:8443",
		"caddy.internal":     "caddy.internal:443",
		"caddy.internal:444": "caddy.internal:444",
	} {
		c := Caddy{Probe: &CaddyProbe{Address: addr}}
		if got := c.ProbeAddress(); got != want {
			t.Errorf("%q: %q, want %q", addr, got, want)
		}
	}
	if got := (&Caddy{}).ProbeAddress(); got != "" {
		t.Errorf("without probe: %q", got)
	}
	cfg, err := Parse([]byte("targets: [{target: WWW.example.test}, {target: mail.example.test, module: smtp}]\nmodules: {smtp: {starttls: smtp}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]bool{
		"www.example.test:443": true, "www.example.test:8443": false,
		"mail.example.test:25": true, "mail.example.test:443": false, "other.example.test:443": false,
	} {
		if got := cfg.HasTarget(target); got != want {
			t.Errorf("HasTarget(%q) = %v, want %v", target, got, want)
		}
	}
}
