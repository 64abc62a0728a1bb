// Package examples holds deployment files; this test checks every one of them with the real
// tool that consumes it where one is installed (promtool, amtool, systemd-analyze, the
// exporter's own config loader) and structurally otherwise.
package examples

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
)

// tool returns the path of a checker; a missing tool fails in CI and skips elsewhere.
func tool(t *testing.T, name string, requiredInCI bool) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if requiredInCI && os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v", name, err)
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}

// run returns the command's stdout and stderr.
func run(t *testing.T, dir, name string, args ...string) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, &stdout, &stderr)
	}
	return stdout.String(), stderr.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: invalid YAML: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", path)
	}
	return docs
}

// TestEveryFileIsChecked walks examples/ so that a new file cannot slip in unchecked: YAML and
// JSON must parse, and every other kind must be one a test below knows.
func TestEveryFileIsChecked(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".yml", ".yaml":
			yamlDocs(t, path)
		case ".json":
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !json.Valid(data) {
				t.Errorf("%s: invalid JSON", path)
			}
		case ".service", ".go":
		default:
			t.Errorf("%s: no check knows this kind of file; add one to examples_test.go", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExporterConfig validates the example config; the files it names (CA, password files) are
// the user's, so only Parse's checks apply, not Load's file checks.
func TestExporterConfig(t *testing.T) {
	data, err := os.ReadFile("cert_expiry_exporter.yml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse(data); err != nil {
		t.Fatal(err)
	}
}

// TestPrometheusConfig runs promtool on prometheus.yml next to the shipped rule file, which
// also checks the rules it references.
func TestPrometheusConfig(t *testing.T) {
	promtool := tool(t, "promtool", true)
	dir := t.TempDir()
	copyFile(t, "prometheus.yml", filepath.Join(dir, "prometheus.yml"))
	copyFile(t, filepath.Join("..", "alerts", "cert_expiry_exporter.rules.yml"), filepath.Join(dir, "cert_expiry_exporter.rules.yml"))
	out, _ := run(t, dir, promtool, "check", "config", "prometheus.yml")
	if !strings.Contains(out, "SUCCESS: 1 rule files found") {
		t.Errorf("promtool did not load the rule file:\n%s", out)
	}
}

func TestAlertmanagerConfig(t *testing.T) {
	amtool := tool(t, "amtool", true)
	out, _ := run(t, ".", amtool, "check-config", "alertmanager.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool:\n%s", out)
	}
	// Routing by severity: each severity the alert rules use reaches its own receiver.
	for sev, want := range map[string]string{"critical": "pager", "warning": "tickets"} {
		got, _ := run(t, ".", amtool, "config", "routes", "test", "--config.file=alertmanager.yml", "alertname=CertificateExpired", "severity="+sev)
		if got = strings.TrimSpace(got); got != want {
			t.Errorf("severity=%s routed to %q, want %q", sev, got, want)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	const unit = "systemd/cert_expiry_exporter.service"
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"AmbientCapabilities=CAP_DAC_READ_SEARCH", "CapabilityBoundingSet=CAP_DAC_READ_SEARCH", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !bytes.Contains(data, []byte("\n"+want+"\n")) {
			t.Errorf("%s lacks %q", unit, want)
		}
	}
	analyze := tool(t, "systemd-analyze", false)
	// systemd-analyze insists that ExecStart exists: point it at a stand-in with the same name.
	dir := t.TempDir()
	bin := filepath.Join(dir, "cert_expiry_exporter")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, filepath.Base(unit))
	if err := os.WriteFile(copied, bytes.ReplaceAll(data, []byte("/usr/local/bin/cert_expiry_exporter"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Unknown keys and bad values are only warnings (exit 0): any output is a failure.
	if out, errs := run(t, dir, analyze, "verify", copied); strings.TrimSpace(out+errs) != "" {
		t.Errorf("systemd-analyze verify:\n%s%s", out, errs)
	}
}

// TestCompose checks what `docker compose` would need: the build context and every mounted
// file exist in the repository, and prometheus.yml points at the compose services.
func TestCompose(t *testing.T) {
	const dir = "docker-compose"
	doc := yamlDocs(t, filepath.Join(dir, "docker-compose.yml"))[0]
	services, _ := doc["services"].(map[string]any)
	for _, want := range []string{"cert_expiry_exporter", "prometheus", "alertmanager", "grafana"} {
		if services[want] == nil {
			t.Errorf("service %s missing", want)
		}
	}
	for name, s := range services {
		svc := s.(map[string]any)
		if b, ok := svc["build"].(map[string]any); ok {
			ctx := filepath.Join(dir, b["context"].(string))
			if _, err := os.Stat(filepath.Join(ctx, b["dockerfile"].(string))); err != nil {
				t.Errorf("%s: build: %v", name, err)
			}
		}
		vols, _ := svc["volumes"].([]any)
		for _, v := range vols {
			src := strings.SplitN(v.(string), ":", 2)[0]
			if !strings.HasPrefix(src, ".") {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
				t.Errorf("%s: volume %s: %v", name, v, err)
			}
		}
	}
	// Grafana's dashboard provider reads the directory the compose file mounts dashboards/ at.
	var providerPaths []string
	for _, p := range yamlDocs(t, "grafana/provisioning/dashboards/cert_expiry_exporter.yml")[0]["providers"].([]any) {
		if path, ok := p.(map[string]any)["options"].(map[string]any)["path"].(string); ok {
			providerPaths = append(providerPaths, path)
		}
	}
	grafanaVols, _ := services["grafana"].(map[string]any)["volumes"].([]any)
	var mountedAt string
	for _, v := range grafanaVols {
		if parts := strings.Split(v.(string), ":"); parts[0] == "../../dashboards" {
			mountedAt = parts[1]
		}
	}
	if mountedAt == "" || !slices.Contains(providerPaths, mountedAt) {
		t.Errorf("dashboards/ is mounted at %q but Grafana's provider reads %q", mountedAt, providerPaths)
	}

	// Every host:port prometheus.yml scrapes or alerts to, apart from probe targets, is a service.
	prom := yamlDocs(t, "prometheus.yml")[0]
	var hosts []string
	for _, am := range prom["alerting"].(map[string]any)["alertmanagers"].([]any) {
		hosts = append(hosts, staticTargets(am)...)
	}
	for _, sc := range prom["scrape_configs"].([]any) {
		job := sc.(map[string]any)
		if job["metrics_path"] == "/probe" {
			for _, rc := range job["relabel_configs"].([]any) {
				r := rc.(map[string]any)
				if r["target_label"] == "__address__" {
					hosts = append(hosts, r["replacement"].(string))
				}
			}
			continue
		}
		hosts = append(hosts, staticTargets(job)...)
	}
	if len(hosts) == 0 {
		t.Fatal("no scrape or alerting target found in prometheus.yml")
	}
	for _, h := range hosts {
		host, _, err := net.SplitHostPort(h)
		if err != nil {
			t.Errorf("prometheus.yml target %q: %v", h, err)
			continue
		}
		if services[host] == nil {
			t.Errorf("prometheus.yml target %q is not a docker-compose service", h)
		}
	}
}

func staticTargets(job any) []string {
	var out []string
	scs, _ := job.(map[string]any)["static_configs"].([]any)
	for _, sc := range scs {
		for _, tg := range sc.(map[string]any)["targets"].([]any) {
			out = append(out, tg.(string))
		}
	}
	return out
}

// TestKubernetes checks each manifest's shape and that the pieces point at each other: the
// Service and monitors select the Deployment's pods by its labels, the config file the
// container is given is the ConfigMap's, and that config loads.
func TestKubernetes(t *testing.T) {
	kinds := map[string]map[string]any{}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for _, d := range yamlDocs(t, f) {
			kind, _ := d["kind"].(string)
			md, _ := d["metadata"].(map[string]any)
			if d["apiVersion"] == nil || kind == "" || md == nil || md["name"] == nil {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name", f)
				continue
			}
			kinds[kind] = d
		}
	}
	for _, want := range []string{"Deployment", "Service", "ConfigMap", "ServiceMonitor", "PodMonitor", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		if kinds[want] == nil {
			t.Fatalf("no %s manifest", want)
		}
	}
	get := func(v any, path ...string) any {
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		return v
	}
	podLabels := get(kinds["Deployment"], "spec", "template", "metadata", "labels").(map[string]any)
	matches := func(what string, sel any) {
		for k, v := range sel.(map[string]any) {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%v, which the pods do not have", what, k, v)
			}
		}
	}
	matches("Deployment", get(kinds["Deployment"], "spec", "selector", "matchLabels"))
	matches("Service", get(kinds["Service"], "spec", "selector"))
	matches("PodMonitor", get(kinds["PodMonitor"], "spec", "selector", "matchLabels"))
	svcLabels := get(kinds["Service"], "metadata", "labels").(map[string]any)
	for k, v := range get(kinds["ServiceMonitor"], "spec", "selector", "matchLabels").(map[string]any) {
		if svcLabels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v, which the Service does not have", k, v)
		}
	}

	data := get(kinds["ConfigMap"], "data").(map[string]any)
	container := get(kinds["Deployment"], "spec", "template", "spec", "containers").([]any)[0]
	args := get(container, "args").([]any)
	var cfgPath string
	for _, a := range args {
		if s, ok := strings.CutPrefix(a.(string), "--config.file="); ok {
			cfgPath = s
		}
	}
	var mounted bool
	for _, m := range get(container, "volumeMounts").([]any) {
		if get(m, "mountPath") == filepath.Dir(cfgPath) && get(m, "name") == "config" {
			mounted = true
		}
	}
	body, ok := data[filepath.Base(cfgPath)].(string)
	if !mounted || !ok {
		t.Fatalf("--config.file=%s is not the ConfigMap's key mounted at %s", cfgPath, filepath.Dir(cfgPath))
	}
	if _, err := config.Parse([]byte(body)); err != nil {
		t.Errorf("ConfigMap config: %v", err)
	}
	// The pod runs as the ServiceAccount rbac.yaml binds, and that grants list and watch on
	// Secrets, cert-manager's three resources, Ingresses and Gateways, nothing else
	// (internal/kube's tests run the source, cert_manager on, and the Ingress and Gateway
	// source with exactly these rules).
	sa := get(kinds["ServiceAccount"], "metadata", "name")
	if get(kinds["Deployment"], "spec", "template", "spec", "serviceAccountName") != sa {
		t.Errorf("the Deployment does not run as ServiceAccount %v", sa)
	}
	binding := kinds["ClusterRoleBinding"]
	subject := get(binding, "subjects").([]any)[0]
	if get(subject, "kind") != "ServiceAccount" || get(subject, "name") != sa ||
		get(subject, "namespace") != get(kinds["ServiceAccount"], "metadata", "namespace") ||
		get(binding, "roleRef", "name") != get(kinds["ClusterRole"], "metadata", "name") {
		t.Errorf("the ClusterRoleBinding does not bind the ClusterRole to the ServiceAccount: %v", binding)
	}
	if rules, _ := yaml.Marshal(get(kinds["ClusterRole"], "rules")); string(rules) != "- apiGroups:\n    - \"\"\n  resources:\n    - secrets\n  verbs:\n    - list\n    - watch\n"+
		"- apiGroups:\n    - cert-manager.io\n  resources:\n    - certificates\n  verbs:\n    - list\n    - watch\n"+
		"- apiGroups:\n    - acme.cert-manager.io\n  resources:\n    - orders\n    - challenges\n  verbs:\n    - list\n    - watch\n"+
		"- apiGroups:\n    - networking.k8s.io\n  resources:\n    - ingresses\n  verbs:\n    - list\n    - watch\n"+
		"- apiGroups:\n    - gateway.networking.k8s.io\n  resources:\n    - gateways\n  verbs:\n    - list\n    - watch\n" {
		t.Errorf("ClusterRole rules:\n%s\nwant list and watch on secrets, certificates, orders, challenges, ingresses and gateways only", rules)
	}
	sc := get(container, "securityContext")
	if get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false ||
		!slices.Contains(get(sc, "capabilities", "drop").([]any), any("ALL")) ||
		get(kinds["Deployment"], "spec", "template", "spec", "securityContext", "runAsNonRoot") != true {
		t.Errorf("the container is not locked down: %v", sc)
	}
}
