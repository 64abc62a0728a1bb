//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// The shipped rule file; the suite evaluates a copy that differs only in its `for:` and
// `keep_firing_for:` durations.
const shippedRules = "../alerts/cert_expiry_exporter.rules.yml"

// maxFor caps every `for:` of the shipped rules. Alerts that fire at once in production
// (no `for:`) still do; the others need their condition for 3 s, a few scrapes, so that one
// slow scrape on a loaded CI machine does not page, as the shipped durations intend.
const maxFor = 3 * time.Second

// maxKeepFiringFor caps every `keep_firing_for:`, so that a scenario sees a fixed fault's alert
// resolve within a minute rather than an hour. It stays far above what an exporter restart
// takes here (the outage scenario's gap is a few seconds), so a hold never runs out by accident.
const maxKeepFiringFor = 60 * time.Second

// shippedAlertmanager is the example Alertmanager config: the suite's Alertmanager takes its
// inhibit_rules, so a scenario's alerts are the ones the shipped config notifies (the muted
// ones are not listed by amAlerts).
const shippedAlertmanager = "../examples/alertmanager.yml"

// shippedInhibitRules returns the inhibit_rules of shippedAlertmanager as a YAML document part.
func shippedInhibitRules() (string, error) {
	b, err := os.ReadFile(shippedAlertmanager)
	if err != nil {
		return "", err
	}
	var cfg struct {
		InhibitRules []map[string]any `yaml:"inhibit_rules"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("%s: %w", shippedAlertmanager, err)
	}
	if len(cfg.InhibitRules) == 0 {
		return "", fmt.Errorf("%s: no inhibit_rules", shippedAlertmanager)
	}
	out, err := yaml.Marshal(map[string]any{"inhibit_rules": cfg.InhibitRules})
	return string(out), err
}

// jobName is the scrape job the shipped rules expect (CertExpiryExporterDown selects it).
const jobName = "cert_expiry_exporter"

// stack is one Prometheus and one Alertmanager shared by all scenarios. Each scenario registers
// its exporter as a file_sd target with a `scenario` label, which every alert carries.
type stack struct {
	prom, am        *proc
	promURL, amURL  string
	sdDir           string
	shippedFor      map[string]string // alert name -> `for:` in the shipped file
	evalGroupsCount int
}

var shared struct {
	once sync.Once
	s    *stack
	err  error
}

// getStack starts Prometheus and Alertmanager on first use.
func getStack(t testing.TB) *stack {
	t.Helper()
	promBin := needTool(t, "prometheus")
	amBin := needTool(t, "prometheus-alertmanager")
	shared.once.Do(func() { shared.s, shared.err = startStack(promBin, amBin) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.s
}

func stopShared() {
	if shared.s != nil {
		shared.s.prom.stop()
		shared.s.am.stop()
	}
}

func startStack(promBin, amBin string) (*stack, error) {
	dir := filepath.Join(suiteDir, "stack")
	s := &stack{sdDir: filepath.Join(dir, "sd")}
	if err := os.MkdirAll(s.sdDir, 0o755); err != nil {
		return nil, err
	}
	src, err := os.ReadFile(shippedRules)
	if err != nil {
		return nil, err
	}
	rules, shippedFor, groups, err := deriveRules(src, maxFor, maxKeepFiringFor)
	if err != nil {
		return nil, fmt.Errorf("deriving the test rules from %s: %w", shippedRules, err)
	}
	s.shippedFor, s.evalGroupsCount = shippedFor, groups
	rulesPath := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(rulesPath, rules, 0o644); err != nil {
		return nil, err
	}

	amPort, err := pickPort()
	if err != nil {
		return nil, err
	}
	promPort, err := pickPort()
	if err != nil {
		return nil, err
	}
	s.amURL = fmt.Sprintf("http://127.0.0.1:%d", amPort)
	s.promURL = fmt.Sprintf("http://127.0.0.1:%d", promPort)

	inhibit, err := shippedInhibitRules()
	if err != nil {
		return nil, err
	}
	amCfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(amCfg, []byte(`route:
  receiver: blackhole
  group_by: [alertname, scenario]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
`+inhibit), 0o644); err != nil {
		return nil, err
	}
	s.am, err = startProc("alertmanager", exec.Command(amBin,
		"--config.file="+amCfg,
		"--storage.path="+filepath.Join(dir, "am-data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort),
		"--cluster.listen-address=",
	), filepath.Join(dir, "alertmanager.log"))
	if err != nil {
		return nil, err
	}

	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:%d"]
scrape_configs:
  - job_name: %s
    file_sd_configs:
      - files: [%q]
        refresh_interval: 1s
`, rulesPath, amPort, jobName, filepath.Join(s.sdDir, "*.json"))), 0o644); err != nil {
		return nil, err
	}
	s.prom, err = startProc("prometheus", exec.Command(promBin,
		"--config.file="+promCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort),
		"--rules.alert.resend-delay=1s",
	), filepath.Join(dir, "prometheus.log"))
	if err != nil {
		s.am.stop()
		return nil, err
	}
	for _, c := range []struct {
		p   *proc
		url string
	}{{s.am, s.amURL + "/-/ready"}, {s.prom, s.promURL + "/-/ready"}} {
		if err := poll(60*time.Second, func() (bool, error) {
			if c.p.exited() {
				return false, fmt.Errorf("%s exited: %v\n%s", c.p.name, c.p.err, c.p.tail(30))
			}
			return httpOK(c.url)
		}); err != nil {
			s.prom.stop()
			s.am.stop()
			return nil, fmt.Errorf("%s: %w", c.p.name, err)
		}
	}
	// Prometheus must have loaded every shipped rule group, exactly as shipped.
	if err := poll(30*time.Second, func() (bool, error) {
		var rg struct {
			Groups []struct{ Name string } `json:"groups"`
		}
		if err := s.api("/api/v1/rules", &rg); err != nil {
			return false, err
		}
		return len(rg.Groups) == s.evalGroupsCount, fmt.Errorf("%d rule groups loaded, want %d", len(rg.Groups), s.evalGroupsCount)
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// deriveRules shortens the `for:` of every rule to at most maxFor and its `keep_firing_for:` to
// at most maxKeep, and changes nothing else, returning the new file, the shipped `for:` of each
// alert and the number of groups.
func deriveRules(src []byte, maxFor, maxKeep time.Duration) ([]byte, map[string]string, int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, nil, 0, err
	}
	if len(doc.Content) != 1 {
		return nil, nil, 0, fmt.Errorf("not a YAML document")
	}
	groups := mapValue(doc.Content[0], "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return nil, nil, 0, fmt.Errorf("no groups")
	}
	shipped := map[string]string{}
	for _, g := range groups.Content {
		if iv := mapValue(g, "interval"); iv != nil {
			return nil, nil, 0, fmt.Errorf("group %s sets interval %s: the suite assumes the global evaluation_interval", mapValue(g, "name").Value, iv.Value)
		}
		rules := mapValue(g, "rules")
		if rules == nil {
			continue
		}
		for _, r := range rules.Content {
			name := mapValue(r, "alert")
			if name == nil {
				continue
			}
			shipped[name.Value] = "0s"
			if f := mapValue(r, "for"); f != nil {
				shipped[name.Value] = f.Value
			}
			for key, limit := range map[string]time.Duration{"for": maxFor, "keep_firing_for": maxKeep} {
				f := mapValue(r, key)
				if f == nil {
					continue
				}
				d, err := model.ParseDuration(f.Value)
				if err != nil {
					return nil, nil, 0, fmt.Errorf("alert %s: %s: %w", name.Value, key, err)
				}
				if time.Duration(d) > limit {
					f.Value = model.Duration(limit).String()
				}
			}
		}
	}
	out, err := yaml.Marshal(&doc)
	return out, shipped, len(groups.Content), err
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// api GETs a Prometheus API path and decodes its data field into v.
func (s *stack) api(path string, v any) error {
	resp, err := http.Get(s.promURL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) float() float64 {
	str, _ := s.Value[1].(string)
	f, _ := strconv.ParseFloat(str, 64)
	return f
}

// query runs an instant PromQL query now.
func (s *stack) query(q string) ([]sample, error) { return s.queryAt(q, time.Time{}) }

// queryAt runs an instant PromQL query evaluated at at (now when zero).
func (s *stack) queryAt(q string, at time.Time) ([]sample, error) {
	v := url.Values{"query": {q}}
	if !at.IsZero() {
		v.Set("time", ts(at))
	}
	var r struct {
		Result []sample `json:"result"`
	}
	if err := s.api("/api/v1/query?"+v.Encode(), &r); err != nil {
		return nil, err
	}
	return r.Result, nil
}

func ts(t time.Time) string { return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64) }

// register adds the exporter to Prometheus' targets with the scenario label and waits until
// Prometheus has scraped it; the target is removed when the test ends (before the exporter
// stops, as cleanups run last-in first-out).
func (s *stack) register(t testing.TB, scenario string, e *exporterProc) {
	t.Helper()
	path := filepath.Join(s.sdDir, scenario+".json")
	sd, _ := json.Marshal([]map[string]any{{"targets": []string{e.addr}, "labels": map[string]string{"scenario": scenario}}})
	writeAtomic(t, path, sd)
	t.Cleanup(func() { os.Remove(path) })
	waitFor(t, 60*time.Second, "Prometheus scraping "+scenario, func() (bool, error) {
		r, err := s.query(fmt.Sprintf(`up{scenario=%q}`, scenario))
		if err != nil {
			return false, err
		}
		return len(r) == 1 && r[0].float() == 1, nil
	})
}

// amAlert is an alert as Alertmanager's API v2 returns it.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	Status      struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// amAlerts lists the scenario's alerts that Alertmanager notifies, or (inhibited) those an
// inhibit rule mutes.
func (s *stack) amAlerts(scenario string, inhibited bool) ([]amAlert, error) {
	v := url.Values{"filter": {fmt.Sprintf(`scenario=%q`, scenario)}, "active": {strconv.FormatBool(!inhibited)}, "silenced": {"false"}, "inhibited": {strconv.FormatBool(inhibited)}}
	resp, err := http.Get(s.amURL + "/api/v2/alerts?" + v.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alertmanager: %s", resp.Status)
	}
	var as []amAlert
	return as, json.NewDecoder(resp.Body).Decode(&as)
}

// promAlert is a pending or firing alert from Prometheus' /api/v1/alerts.
type promAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
}

func (s *stack) promAlerts(scenario string) ([]promAlert, error) {
	var r struct {
		Alerts []promAlert `json:"alerts"`
	}
	if err := s.api("/api/v1/alerts", &r); err != nil {
		return nil, err
	}
	var out []promAlert
	for _, a := range r.Alerts {
		if a.Labels["scenario"] == scenario {
			out = append(out, a)
		}
	}
	return out, nil
}

// want describes an alert by its name and a subset of its labels.
type want struct {
	alert  string
	labels map[string]string
}

func (w want) matches(labels map[string]string) bool {
	if labels["alertname"] != w.alert {
		return false
	}
	for k, v := range w.labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (w want) String() string {
	keys := make([]string, 0, len(w.labels))
	for k := range w.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(w.alert + "{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%q", k, w.labels[k])
	}
	return b.String() + "}"
}

func labelsString(l map[string]string) string {
	w := want{alert: l["alertname"], labels: map[string]string{}}
	for k, v := range l {
		if k != "alertname" && k != "job" && k != "instance" {
			w.labels[k] = v
		}
	}
	return w.String()
}

// expectAlerts waits until Alertmanager holds an active alert matching each of wants, checks
// its runbook_url, and returns when each first appeared. Then, after a few more rule
// evaluations, every alert firing in Prometheus for the scenario must match
// wants or also: anything else is a false page.
func (s *stack) expectAlerts(t testing.TB, scenario string, wants []want, also ...want) map[string]time.Time {
	t.Helper()
	seen := map[string]time.Time{}
	var last []amAlert
	err := poll(90*time.Second, func() (bool, error) {
		as, err := s.amAlerts(scenario, false)
		if err != nil {
			return false, err
		}
		last = as
		now := time.Now()
		for _, w := range wants {
			if _, ok := seen[w.String()]; ok {
				continue
			}
			for _, a := range as {
				if a.Status.State == "active" && w.matches(a.Labels) {
					s.checkRunbook(t, a)
					seen[w.String()] = now
					break
				}
			}
		}
		return len(seen) == len(wants), nil
	})
	if err != nil {
		var got []string
		for _, a := range last {
			got = append(got, labelsString(a.Labels))
		}
		t.Fatalf("scenario %s: alerts did not all reach Alertmanager: %v\nwant: %v\ngot: %v", scenario, err, wants, got)
	}
	s.noOtherAlerts(t, scenario, append(append([]want{}, wants...), also...))
	return seen
}

// noOtherAlerts lets a few rule evaluations run, then fails on any firing alert for the
// scenario that matches none of allowed. Pending alerts are what `for:` exists to hold back.
func (s *stack) noOtherAlerts(t testing.TB, scenario string, allowed []want) {
	t.Helper()
	// Long enough for a condition that held when the expected alerts arrived to fire.
	s.waitEvaluations(t, int(maxFor/time.Second)+2)
	as, err := s.promAlerts(scenario)
	if err != nil {
		t.Fatal(err)
	}
	var other []promAlert
	for _, a := range as {
		if a.State == "firing" && !slices.ContainsFunc(allowed, func(w want) bool { return w.matches(a.Labels) }) {
			other = append(other, a)
		}
	}
	// The shipped inhibit rules mute a warning behind the alert that names its fault (a
	// critical one for the same serial, the failing renewal of the same lineage): it is
	// never notified, so it is no other alert. Prometheus sends an alert to Alertmanager after
	// the evaluation that fires it; wait until Alertmanager has muted them all.
	err = poll(30*time.Second, func() (bool, error) {
		muted, err := s.amAlerts(scenario, true)
		if err != nil {
			return false, err
		}
		other = slices.DeleteFunc(other, func(a promAlert) bool {
			return slices.ContainsFunc(muted, func(m amAlert) bool {
				return len(m.Status.InhibitedBy) > 0 && want{a.Labels["alertname"], a.Labels}.matches(m.Labels)
			})
		})
		return len(other) == 0, nil
	})
	for _, a := range other {
		t.Errorf("scenario %s: unexpected %s alert %s (%v)", scenario, a.State, labelsString(a.Labels), err)
		if a.Labels["alertname"] == "CertExpiryExporterDown" {
			t.Logf("scrape target: %s", s.targetHealth(scenario))
		}
	}
}

// targetHealth describes the scenario's scrape target, for failure messages.
func (s *stack) targetHealth(scenario string) string {
	var r struct {
		ActiveTargets []struct {
			Labels             map[string]string `json:"labels"`
			Health             string            `json:"health"`
			LastError          string            `json:"lastError"`
			LastScrape         time.Time         `json:"lastScrape"`
			LastScrapeDuration float64           `json:"lastScrapeDuration"`
		} `json:"activeTargets"`
	}
	if err := s.api("/api/v1/targets", &r); err != nil {
		return err.Error()
	}
	for _, tg := range r.ActiveTargets {
		if tg.Labels["scenario"] == scenario {
			return fmt.Sprintf("health %s, last error %q, last scrape %v took %.3fs", tg.Health, tg.LastError, tg.LastScrape, tg.LastScrapeDuration)
		}
	}
	return "not among the active targets"
}

// waitEvaluations waits until every rule group has been evaluated n more times.
func (s *stack) waitEvaluations(t testing.TB, n int) {
	t.Helper()
	after := time.Now().Add(time.Duration(n) * time.Second)
	waitFor(t, time.Duration(n)*time.Second+30*time.Second, "rule evaluations", func() (bool, error) {
		var rg struct {
			Groups []struct {
				Name           string    `json:"name"`
				LastEvaluation time.Time `json:"lastEvaluation"`
			} `json:"groups"`
		}
		if err := s.api("/api/v1/rules", &rg); err != nil {
			return false, err
		}
		for _, g := range rg.Groups {
			if g.LastEvaluation.Before(after) {
				return false, fmt.Errorf("group %s last evaluated at %v", g.Name, g.LastEvaluation)
			}
		}
		return true, nil
	})
}

// checkRunbook asserts the alert links a runbook that exists in docs/runbooks.
func (s *stack) checkRunbook(t testing.TB, a amAlert) {
	t.Helper()
	u := a.Annotations["runbook_url"]
	if u == "" {
		t.Errorf("alert %s has no runbook_url", labelsString(a.Labels))
		return
	}
	base, anchor, _ := strings.Cut(u, "#")
	name := base[strings.LastIndex(base, "/")+1:]
	if name != a.Labels["alertname"]+".md" {
		t.Errorf("alert %s: runbook_url %s does not name its runbook", a.Labels["alertname"], u)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "runbooks", name))
	if err != nil {
		t.Errorf("alert %s: runbook_url %s: %v", a.Labels["alertname"], u, err)
	} else if anchor != "" && !hasHeading(string(doc), anchor) {
		t.Errorf("alert %s: runbook_url %s: no heading for #%s in %s", a.Labels["alertname"], u, anchor, name)
	}
	if a.Annotations["summary"] == "" {
		t.Errorf("alert %s has no summary", labelsString(a.Labels))
	}
}

// hasHeading says whether a Markdown document has a heading whose GitHub anchor is anchor.
func hasHeading(doc, anchor string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		slug := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				return r
			}
			return -1
		}, strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#"))))
		if slug == anchor {
			return true
		}
	}
	return false
}

// waitSeries waits until Prometheus returns exactly n series for q.
func (s *stack) waitSeries(t testing.TB, q string, n int) []sample {
	t.Helper()
	var r []sample
	waitFor(t, 60*time.Second, q, func() (bool, error) {
		var err error
		r, err = s.query(q)
		if err != nil {
			return false, err
		}
		return len(r) == n, fmt.Errorf("%d series, want %d", len(r), n)
	})
	return r
}
