// Package contract checks the shipped alert rules, runbooks, dashboard and metrics reference
// against each other and against the code: every metric an expression names is documented and
// exported, every reason an alert can carry has its runbook section. It lives in the e2e
// module because it parses PromQL with Prometheus' own parser, a dependency the exporter
// itself does not need.
package contract

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/alerts"
)

// The repository's root, from this package's directory.
const root = "../.."

var (
	metricsDoc    = filepath.Join(root, "docs/metrics.md")
	runbookDir    = filepath.Join(root, "docs/runbooks")
	dashboardFile = filepath.Join(root, "dashboards/cert_expiry_exporter.json")
	rulesFile     = filepath.Join(root, "alerts", alerts.RulesFile)
)

func loadConfig(t *testing.T) alerts.Config {
	t.Helper()
	cfg, err := alerts.ParseConfig(readFile(t, filepath.Join(root, "alerts", alerts.ConfigFile)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Series that Prometheus itself writes: for every scrape target, and for every alert.
var prometheusSeries = map[string]bool{"up": true, "ALERTS": true}

func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	metrics := parseMetricTables(string(readFile(t, metricsDoc)))
	if len(metrics) < 30 {
		t.Fatalf("found only %d metrics in %s; did its table layout change?", len(metrics), metricsDoc)
	}
	return metrics
}

// parseMetricTables reads the first column of every markdown table whose first header cell
// is "metric".
func parseMetricTables(doc string) map[string]bool {
	metrics := map[string]bool{}
	inMetricTable := false
	for line := range strings.Lines(doc) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if !strings.HasPrefix(line, "|") {
			inMetricTable = false
			continue
		}
		first := strings.TrimSpace(cells[0])
		switch {
		case first == "metric":
			inMetricTable = true
		case inMetricTable && strings.HasPrefix(first, "`"):
			metrics[strings.Trim(first, "`")] = true
		}
	}
	return metrics
}

var promqlParser = parser.NewParser(parser.Options{})

// selectors parses a PromQL expression and returns its vector selectors.
func selectors(expr string) ([]*parser.VectorSelector, error) {
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var vs []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if v, ok := n.(*parser.VectorSelector); ok {
			vs = append(vs, v)
		}
		return nil
	})
	return vs, nil
}

func selectorName(v *parser.VectorSelector) string {
	if v.Name != "" {
		return v.Name
	}
	for _, m := range v.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// checkMetrics reports each metric an expression uses that the exporter does not export.
func checkMetrics(expr string, documented map[string]bool) error {
	vs, err := selectors(expr)
	if err != nil {
		return err
	}
	var errs []string
	for _, v := range vs {
		switch name := selectorName(v); {
		case name == "":
			errs = append(errs, fmt.Sprintf("selector %s has no metric name", v))
		case !documented[name] && !prometheusSeries[name]:
			errs = append(errs, fmt.Sprintf("metric %s is not in docs/metrics.md", name))
		}
	}
	if errs != nil {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func TestAlertExpressionsUseExportedMetrics(t *testing.T) {
	documented := documentedMetrics(t)
	rf, err := alerts.ParseRules(readFile(t, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rf.Rules() {
		if err := checkMetrics(r.Expr, documented); err != nil {
			t.Errorf("%s: %v", r.Alert, err)
		}
	}
}

// An exporter outage must never look like recovery: a failed scrape makes every series of the
// exporter vanish at once, so every alert that reads one holds for outage.keep_firing_for.
// Alerts on Prometheus' own series (CertExpiryExporterDown) resolve at once.
func TestAlertsHoldThroughOutage(t *testing.T) {
	cfg := loadConfig(t)
	rf, err := alerts.ParseRules(readFile(t, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rf.Rules() {
		vs, err := selectors(r.Expr)
		if err != nil {
			t.Fatalf("%s: %v", r.Alert, err)
		}
		want := ""
		for _, v := range vs {
			if !prometheusSeries[selectorName(v)] {
				want = cfg.Outage.KeepFiringFor.String()
			}
		}
		if r.KeepFiringFor != want {
			t.Errorf("%s: keep_firing_for %q, want %q", r.Alert, r.KeepFiringFor, want)
		}
	}
}

func TestRunbooks(t *testing.T) {
	cfg := loadConfig(t)
	rf, err := alerts.ParseRules(readFile(t, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, r := range rf.Rules() {
		u, _, _ := strings.Cut(r.Annotations["runbook_url"], "#")
		rel, ok := strings.CutPrefix(u, cfg.RunbookBaseURL+"/")
		if !ok {
			t.Errorf("%s: runbook_url %q is not under runbook_base_url", r.Alert, u)
			continue
		}
		linked[rel] = true
		text, err := os.ReadFile(filepath.Join(runbookDir, rel))
		if err != nil {
			t.Errorf("%s: %v", r.Alert, err)
			continue
		}
		if !strings.HasPrefix(string(text), "# "+r.Alert+"\n") {
			t.Errorf("%s: runbook %s does not start with the heading \"# %s\"", r.Alert, rel, r.Alert)
		}
	}
	files, err := filepath.Glob(filepath.Join(runbookDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := filepath.Base(f); name != "README.md" && !linked[name] {
			t.Errorf("runbook %s belongs to no alert", name)
		}
	}
}

type dashboard struct {
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	Title      string     `json:"title"`
	Type       string     `json:"type"`
	Datasource datasource `json:"datasource"`
	Targets    []struct {
		Expr       string     `json:"expr"`
		Datasource datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// Grafana replaces these before the query reaches Prometheus.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func TestDashboard(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal(readFile(t, dashboardFile), &d); err != nil {
		t.Fatal(err)
	}
	if d.UID != "cert-expiry-exporter" {
		t.Errorf("uid %q changed: links and provisioning depend on it", d.UID)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d is older than Grafana 11", d.SchemaVersion)
	}
	documented := documentedMetrics(t)
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		m := labelValuesQuery.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
			continue
		}
		if err := checkMetrics(m[1], documented); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
	}
	if !slices.Equal(vars, []string{"datasource", "job", "instance", "namespace"}) {
		t.Errorf("template variables %v, want [datasource job instance namespace]", vars)
	}
	ds := datasource{Type: "prometheus", UID: "${datasource}"}
	var queries int
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource != ds {
				t.Errorf("panel %q: datasource %+v, want %+v", p.Title, p.Datasource, ds)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				queries++
				if tg.Datasource != ds {
					t.Errorf("panel %q: query datasource %+v, want %+v", p.Title, tg.Datasource, ds)
				}
				expr := grafanaVariables.Replace(tg.Expr)
				if err := checkMetrics(expr, documented); err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
					continue
				}
				// Every series the panel reads must follow the job/instance choice.
				vs, _ := selectors(expr)
				for _, v := range vs {
					s := v.String()
					if !strings.Contains(s, `job=~"$job"`) || !strings.Contains(s, `instance=~"$instance"`) {
						t.Errorf("panel %q: %s ignores $job or $instance", p.Title, s)
					}
				}
			}
		}
	}
	walk(d.Panels)
	if queries < 20 {
		t.Errorf("only %d dashboard queries found", queries)
	}
}

// The checks above must be able to fail: feed them what drift looks like.
func TestCheckMetricsRejectsDrift(t *testing.T) {
	documented := map[string]bool{"cert_expiry_seconds": true}
	for expr, want := range map[string]string{
		`cert_expiry_seconds < 86400`:                       "",
		`cert_expiry_second < 86400`:                        "metric cert_expiry_second is not in docs/metrics.md",
		`{__name__=~"cert_.*"}`:                             "has no metric name",
		`up == 0`:                                           "",
		`rate(cert_expiry_exporter_errors_total[5m]) > 0`:   "metric cert_expiry_exporter_errors_total is not in docs/metrics.md",
		`cert_expiry_seconds < on(serial) group_left() up`:  "",
		`cert_expiry_seconds{index="0"} unless cert_info`:   "metric cert_info is not in docs/metrics.md",
		`sum by (reason) (cert_expiry_seconds`:              "unclosed left parenthesis",
		`{__name__="cert_expiry_seconds", index="0"} > 0`:   "",
		`max_over_time(cert_expiry_seconds[1h:5m]) < 3600`:  "",
		`absent(cert_not_after_timestamp_seconds{job="x"})`: "metric cert_not_after_timestamp_seconds is not in docs/metrics.md",
	} {
		err := checkMetrics(expr, documented)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", expr, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got error %v, want one containing %q", expr, err, want)
		}
	}
}

func TestParseMetricTables(t *testing.T) {
	const doc = "# Metrics\n\n| label | meaning |\n|---|---|\n| `source` | x |\n\n" +
		"| metric | type | meaning |\n|---|---|---|\n| `a_total` | counter | x |\n| `b` | gauge | `c` |\n" +
		"text\n| `not_in_a_table` | x |\n"
	got := slices.Sorted(maps.Keys(parseMetricTables(doc)))
	if want := []string{"a_total", "b"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestDocumentedMetricsExist: every metric docs/metrics.md documents is named by the Go code
// that emits it (a "name" string literal outside tests), so a documented series that alerts
// and dashboards rely on cannot silently be missing from /metrics.
func TestDocumentedMetricsExist(t *testing.T) {
	// Named by libraries rather than by a literal of ours.
	byLibrary := map[string]bool{"cert_expiry_exporter_build_info": true} // versioncollector
	var src strings.Builder
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "e2e" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			src.Write(readFile(t, path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code := src.String()
	for _, m := range slices.Sorted(maps.Keys(documentedMetrics(t))) {
		if !byLibrary[m] && !strings.Contains(code, `"`+m+`"`) {
			t.Errorf("%s is documented in %s but no Go code names it", m, metricsDoc)
		}
	}
}
