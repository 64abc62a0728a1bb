package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// TestCaddyOneOrList: `caddy:` takes one instance as a mapping (a bare `caddy:` is one with the
// defaults) or several as a list; errors name `caddy.…` for the one and `caddy[i].…` in a list.
func TestCaddyOneOrList(t *testing.T) {
	def := func(storage, log string) Caddy {
		return Caddy{StorageDir: storage, LogFile: log, HistoryMaxAge: model.Duration(30 * 24 * time.Hour), RescanInterval: model.Duration(time.Minute)}
	}
	for _, tc := range []struct {
		doc  string
		want []Caddy
	}{
		{"caddy:\n", []Caddy{def(DefaultCaddyStorage, "")}},
		{"caddy: {}\n", []Caddy{def(DefaultCaddyStorage, "")}},
		{"caddy:\n  log_file: /var/log/caddy/caddy.log\n", []Caddy{def(DefaultCaddyStorage, "/var/log/caddy/caddy.log")}},
		{"caddy:\n  - storage_dir: /a\n  - log_file: /b.log\n    rescan_interval: 5m\n",
			[]Caddy{def("/a", ""), {StorageDir: DefaultCaddyStorage, LogFile: "/b.log", HistoryMaxAge: model.Duration(30 * 24 * time.Hour), RescanInterval: model.Duration(5 * time.Minute)}}},
		{"caddy: []\n", nil},
		{"files: []\n", nil},
	} {
		cfg, err := Parse([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%q: %v", tc.doc, err)
		}
		if !slices.Equal(cfg.Caddy, tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.doc, cfg.Caddy, tc.want)
		}
	}
	for _, tc := range []struct{ doc, want string }{
		{"caddy:\n  storage: /x\n", "caddy.storage: field not found (line 2)"},
		{"caddy:\n  - storage_dir: /a\n  - log: /x\n", "caddy[1].log: field not found (line 3)"},
		{"caddy:\n  storage_dir: caddy\n", `caddy.storage_dir: must be absolute, got "caddy"`},
		{"caddy:\n  log_file: caddy.log\n", `caddy.log_file: must be absolute, got "caddy.log"`},
		{"caddy:\n  - log_file: /a.log\n  - log_file: /b.log\n", "caddy[1].storage_dir: same storage_dir as caddy[0]"},
		{"caddy:\n  rescan_interval: 10ms\n", "caddy.rescan_interval: must be at least 1s"},
		{"caddy:\n  history_max_age: -1h\n", "caddy.history_max_age: "},
		{"caddy:\n  log_timezone: UTC\n", "caddy.log_timezone: field not found"},
		{"caddy: 3\n", "cannot unmarshal !!int `3` into []config.Caddy"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}
