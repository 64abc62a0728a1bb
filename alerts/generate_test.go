package alerts

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func loadConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := ParseConfig(readFile(t, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The committed rule file is what users deploy: it must be exactly what the source renders.
func TestCommittedRulesAreGenerated(t *testing.T) {
	want, err := Generate(loadConfig(t), readFile(t, TemplateFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, RulesFile); !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `go generate ./alerts` and commit the result", RulesFile)
	}
}

// Changing config.yml changes every place the value is used, and nothing else.
func TestGenerateUsesConfig(t *testing.T) {
	cfg := loadConfig(t)
	base, err := Generate(cfg, readFile(t, TemplateFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RunbookBaseURL = "https://wiki.example.com/runbooks"
	cfg.Thresholds.ExpiringSoon = cfg.Thresholds.ExpiringSoon * 2
	cfg.PageSelector = `index="0", path!~"/legacy/.*"`
	cfg.VerifySelector = `source="probe"`
	cfg.OwnerLabels = []string{"squad"}
	cfg.Outage = Outage{DownFor: cfg.Outage.DownFor * 3, KeepFiringFor: cfg.Outage.KeepFiringFor * 2}
	out, err := Generate(cfg, readFile(t, TemplateFile))
	if err != nil {
		t.Fatal(err)
	}
	rf, err := ParseRules(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rf.Rules() {
		if !strings.HasPrefix(r.Annotations["runbook_url"], "https://wiki.example.com/runbooks/"+r.Alert+".md") {
			t.Errorf("%s: runbook_url %q ignores runbook_base_url", r.Alert, r.Annotations["runbook_url"])
		}
	}
	for _, c := range []struct {
		text       string
		base, conf int
	}{
		{"< 604800\n", 1, 0},
		{"< 1209600\n", 0, 1},
		// The chain alerts' owner joins take the leaf's cert_info whatever page_selector is.
		{`{index="0"}`, 24 + 3, 3},
		{`{index="0", path!~"/legacy/.*"}`, 0, 24},
		// verify_selector narrows both the probe and the file branch.
		{`cert_chain_verified{path!~".*/cert[.]pem", source=`, 2, 0},
		{`cert_chain_verified{source="probe", source=`, 0, 2},
		{"https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks/", 26, 0},
		// Every alert but CertExpiryExporterDown holds; the Down page text names the hold.
		{"keep_firing_for: 1h\n", 24, 0},
		{"keep_firing_for: 2h\n", 0, 24},
		{"for: 5m\n", 2, 1}, // CertificateKeyMismatch's stays
		{"for: 15m\n", 4, 5},
		{"(firing ones keep firing for up to 1h)", 1, 0},
		{"(firing ones keep firing for up to 2h)", 0, 1},
		// Owner labels: the eight certificate alerts (with the keystore alias), three chain
		// alerts and CertificateNotDeployed.
		{"group_left(alias, team, env) cert_info\n", 8, 0},
		{"group_left(alias, squad) cert_info\n", 0, 8},
		{"group_left(team, env) cert_info", 4, 0},
		{"group_left(squad) cert_info", 0, 4},
	} {
		if n := bytes.Count(base, []byte(c.text)); n != c.base {
			t.Errorf("default config: %q occurs %d times, want %d", c.text, n, c.base)
		}
		if n := bytes.Count(out, []byte(c.text)); n != c.conf {
			t.Errorf("changed config: %q occurs %d times, want %d", c.text, n, c.conf)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	valid := string(readFile(t, ConfigFile))
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"unknown key", "page_selector:", "page_selectr:", "field page_selectr not found"},
		{"relative runbook URL", "https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks", "docs/runbooks", "not an absolute URL"},
		{"braces in selector", `page_selector: 'index="0"'`, `page_selector: '{index="0"}'`, "page_selector must be label matchers without braces"},
		{"empty selector", `verify_selector: 'path!~".*/cert[.]pem"'`, `verify_selector: ''`, "verify_selector must be label matchers"},
		{"zero threshold", "client_max_run_gap: 25h", "client_max_run_gap: 0s", "thresholds.client_max_run_gap must be a positive duration"},
		{"bad duration", "expiring_soon: 7d", "expiring_soon: seven days", `not a valid duration string: "seven days"`},
		{"critical not shorter", "expiry_critical: 3d", "expiry_critical: 7d", "thresholds.expiry_critical (1w) must be shorter than expiring_soon (1w)"},
		{"no hold", "keep_firing_for: 1h", "keep_firing_for: 0s", "outage.keep_firing_for must be a positive duration"},
		{"hold ends before the Down page", "keep_firing_for: 1h", "keep_firing_for: 5m", "outage.keep_firing_for (5m) must be longer than outage.down_for (5m)"},
		{"no outage section", "outage:", "outages:", "field outages not found"},
		{"reserved owner label", "owner_labels: [team, env]", "owner_labels: [team, severity]", `owner_labels: "severity" is not a label name an exporter config entry may set`},
		{"bad owner label", "owner_labels: [team, env]", "owner_labels: [team-name]", `owner_labels: "team-name" is not a label name`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(valid, c.old) {
				t.Fatalf("config.yml no longer contains %q", c.old)
			}
			_, err := ParseConfig([]byte(strings.Replace(valid, c.old, c.new, 1)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// Generate refuses rules on-call cannot act on.
func TestGenerateRejectsIncompleteAlerts(t *testing.T) {
	cfg := loadConfig(t)
	const ok = `groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
        labels:
          severity: warning
        annotations:
          summary: s
          description: d
          runbook_url: "[[ runbook "A" ]]"
`
	if _, err := Generate(cfg, []byte(ok)); err != nil {
		t.Fatalf("valid rule rejected: %v", err)
	}
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"no severity", "severity: warning", "team: x", `A: severity "" is neither warning nor critical`},
		{"odd severity", "severity: warning", "severity: page", `A: severity "page" is neither warning nor critical`},
		{"no description", "description: d", "other: d", "A: annotation description is missing"},
		{"other runbook", `runbook "A"`, `runbook "B"`, "A: runbook_url"},
		{"no alert name", "alert: A", "alert: ''", "has no alert name"},
		{"unknown key", "expr:", "exprs:", "field exprs not found"},
		{"unknown config key", "up == 0", "up{[[ .NoSuchKey ]]} == 0", "NoSuchKey"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Generate(cfg, []byte(strings.Replace(ok, c.old, c.new, 1)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// Whatever config.yml holds, the generator answers with rules or an error, never a panic.
func FuzzParseConfig(f *testing.F) {
	tmplData, err := os.ReadFile(TemplateFile)
	if err != nil {
		f.Fatal(err)
	}
	cfgData, err := os.ReadFile(ConfigFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cfgData)
	f.Add([]byte("runbook_base_url: http://x\npage_selector: a\n"))
	f.Add([]byte("thresholds: {expiring_soon: 1y}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		if out, err := Generate(cfg, tmplData); err == nil && !bytes.HasPrefix(out, []byte(header)) {
			t.Fatalf("generated rules lack the header")
		}
	})
}
