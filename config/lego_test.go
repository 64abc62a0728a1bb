package config

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// TestLegoOneOrList: `lego:` takes one installation as a mapping or several as a list; errors
// name `lego.…` for the one and `lego[i].…` in a list.
func TestLegoOneOrList(t *testing.T) {
	def := func(path, log string) Lego {
		return Lego{Path: path, LogFile: log, HistoryMaxAge: model.Duration(30 * 24 * time.Hour), RescanInterval: model.Duration(time.Minute)}
	}
	for _, tc := range []struct {
		doc  string
		want []Lego
	}{
		{"lego:\n  path: /var/lib/lego\n  log_file: /var/log/lego.log\n", []Lego{def("/var/lib/lego", "/var/log/lego.log")}},
		{"lego:\n  - path: /a\n  - path: /b\n    log_file: /b.log\n", []Lego{def("/a", ""), def("/b", "/b.log")}},
		{"lego: []\n", nil},
		{"files: []\n", nil},
	} {
		cfg, err := Parse([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%q: %v", tc.doc, err)
		}
		if len(cfg.Lego) != len(tc.want) {
			t.Fatalf("%q: %+v, want %+v", tc.doc, cfg.Lego, tc.want)
		}
		for i := range tc.want {
			if cfg.Lego[i] != tc.want[i] {
				t.Errorf("%q: lego[%d] = %+v, want %+v", tc.doc, i, cfg.Lego[i], tc.want[i])
			}
		}
	}
	for _, tc := range []struct{ doc, want string }{
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
		{"lego: 3\n", "cannot unmarshal !!int `3` into []config.Lego"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.doc, err, tc.want)
		}
	}
}
