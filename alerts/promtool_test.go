package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtool finds the promtool binary; CI must have it (.ci/run installs the Debian
// prometheus package), elsewhere the rule tests are skipped.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found but CI=true: install the prometheus package")
		}
		t.Skip("promtool not found; install the prometheus package to run the rule tests")
	}
	return path
}

func ruleTestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("tests", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule tests in tests/: %v", err)
	}
	return files
}

func TestPromtoolCheckRules(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", RulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	bin := promtool(t)
	for _, f := range ruleTestFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(bin, "test", "rules", f).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool test rules %s: %v\n%s", f, err, out)
			}
		})
	}
}

// The rule_files snippet users copy is a valid Prometheus configuration that loads the rules.
func TestPrometheusSnippet(t *testing.T) {
	bin := promtool(t)
	const deployed = "/etc/prometheus/rules/cert_expiry_exporter.rules.yml"
	snippet := string(readFile(t, "../examples/prometheus/rule_files.yml"))
	if !strings.Contains(snippet, "  - "+deployed+"\n") {
		t.Fatalf("snippet does not load %s", deployed)
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, RulesFile)
	if err := os.WriteFile(rules, readFile(t, RulesFile), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(snippet, deployed, rules)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "check", "config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS: 25 rules found") {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}

type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			Alertname string      `yaml:"alertname"`
			ExpAlerts []yaml.Node `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// Every alert has at least one promtool case in which it fires, and every case exercises
// the generated rule file.
func TestEveryAlertHasFiringTest(t *testing.T) {
	rf, err := ParseRules(readFile(t, RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	fires := map[string]bool{}
	for _, f := range ruleTestFiles(t) {
		var tf ruleTestFile
		if err := yaml.Unmarshal(readFile(t, f), &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(tf.RuleFiles) != 1 || tf.RuleFiles[0] != "../"+RulesFile {
			t.Errorf("%s: rule_files %v, want [../%s]", f, tf.RuleFiles, RulesFile)
		}
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				}
			}
		}
	}
	var missing []string
	for _, r := range rf.Rules() {
		if !fires[r.Alert] {
			missing = append(missing, r.Alert)
		}
		delete(fires, r.Alert)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("alerts without a firing promtool test: %v", missing)
	}
	for name := range fires {
		t.Errorf("promtool tests expect alert %s, which the rule file does not define", name)
	}
}
