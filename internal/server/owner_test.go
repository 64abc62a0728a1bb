package server

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// TestOwnerLabels: the labels: of a files: and a targets: entry reach cert_info from the real
// sources (a certificate file, a loopback TLS server), and a reload that changes a target's
// labels relabels its series.
func TestOwnerLabels(t *testing.T) {
	w := newWorld(t, 1)
	config := func(targetLabels string) string {
		return fmt.Sprintf(`files:
  - paths: [%q]
    ca_file: %q
    labels: {team: web, env: prod}
modules:
  tls:
    tls_config: {server_name: localhost, ca_file: %q}
targets:
  - target: %q
    interval: 1h
    labels: %s
`, filepath.Join(w.certDir, "*.pem"), filepath.Join(w.dir, "ca.pem"), filepath.Join(w.dir, "ca.pem"), w.target, targetLabels)
	}
	writeFile(t, w.cfgPath, config("{team: db}"))
	e := start(t, w.cfgPath, nil)
	owners := func() []string {
		mfs, err := e.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			if mf.GetName() != "cert_info" {
				continue
			}
			for _, m := range mf.GetMetric() {
				l := map[string]string{}
				for _, p := range m.GetLabel() {
					l[p.GetName()] = p.GetValue()
				}
				out = append(out, fmt.Sprintf("%s/%s team=%q env=%q", l["source"], l["index"], l["team"], l["env"]))
			}
		}
		slices.Sort(out)
		return out
	}
	want := func(want ...string) {
		t.Helper()
		testwait.Until(t, func() error {
			if got := owners(); !slices.Equal(got, want) {
				return fmt.Errorf("cert_info owners %q, want %q", got, want)
			}
			return nil
		})
	}
	want(`file/0 team="web" env="prod"`, `file/1 team="web" env="prod"`,
		`probe/0 team="db" env=""`, `probe/1 team="db" env=""`)

	writeFile(t, w.cfgPath, config("{team: dba, env: prod}"))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	want(`file/0 team="web" env="prod"`, `file/1 team="web" env="prod"`,
		`probe/0 team="dba" env="prod"`, `probe/1 team="dba" env="prod"`)
}
