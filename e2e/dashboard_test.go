//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
)

const shippedDashboard = "../dashboards/cert_expiry_exporter.json"

// TestDashboardQueries runs every query of the shipped Grafana dashboard, with its variables
// filled in as Grafana would, against the suite's Prometheus scraping an exporter that has
// certificate files, a certbot lineage and log, a lego installation and a Caddy instance (their
// logs captured from real runs against Pebble), a probe target, and TLS Secrets in a real
// kube-apiserver. Grafana itself cannot run
// here; this checks what it would send: each query must evaluate (no parse error, no
// many-to-many match), and each query without a filtering comparison must return series.
func TestDashboardQueries(t *testing.T) {
	t.Parallel()
	const sc = "dashboard"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now()
	pki, ca := scenarioPKI(t, dir, sc, now)
	le := filepath.Join(dir, "letsencrypt")
	// The lineage is named as in the real certbot log of a renewal captured against Pebble,
	// so that every certbot panel has its data.
	const domain = "a.example.test"
	crt := leaf(pki, domain, now, -10*day, 90*day)
	newLineage(t, le, domain, "https://acme-v02.api.letsencrypt.org/directory", crt, pki.Intermediate)
	// A duplicate lineage, as a second `certbot certonly` makes, for the duplicates panel; its
	// intermediate expires before its leaf, for the chain panel.
	shortInter := testcerts.New(testcerts.Options{CN: "E2E dashboard Short Intermediate CA", IsCA: true, Issuer: pki.Root, Now: now, NotBefore: now.Add(-300 * day), NotAfter: now.Add(20 * day)})
	dup := testcerts.New(testcerts.Options{CN: domain, DNSNames: []string{domain}, Issuer: shortInter, Now: now, NotBefore: now.Add(-day), NotAfter: now.Add(89 * day)})
	newLineage(t, le, domain+"-0001", "https://acme-v02.api.letsencrypt.org/directory", dup, shortInter)
	renewal, err := os.ReadFile("../logparse/testdata/certbot-2.1.0/renew-success.log")
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "letsencrypt.log")
	writeFile(t, logFile, append(renewal, certbotRunNotDue(now.Add(-time.Hour), le, domain, crt.Cert.NotAfter)...))
	// lego: the certificate its issue run stored; Caddy: renewals failing with the challenge
	// port closed, retried (the renewal panels show every client).
	lego := filepath.Join(dir, "lego")
	writeFile(t, filepath.Join(lego, "certificates", domain+".crt"), testcerts.Bundle(crt, pki.Intermediate))
	for _, f := range []struct{ from, to string }{
		{"lego-4.9.1/a.example.test.json", filepath.Join(lego, "certificates", domain+".json")},
		{"lego-4.9.1/issue.log", filepath.Join(dir, "lego.log")},
		{"caddy-2.6.2/renew-connection.log", filepath.Join(dir, "caddy.log")},
	} {
		data, err := os.ReadFile("../logparse/testdata/" + f.from)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, f.to, data)
	}
	if err := os.MkdirAll(filepath.Join(dir, "caddy", "certificates"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := testserver.TLS(t, crt.TLS(pki.Intermediate)).Addr
	// A CRL file, fresh, for the revocation lists panel.
	crlFile := filepath.Join(dir, "crl", "intermediate.crl.pem")
	writeFile(t, crlFile, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: testcerts.CRL(pki.Intermediate, now.Add(-time.Hour), now.Add(7*day))}))
	// Kubernetes: a real kube-apiserver with a TLS Secret and one whose tls.crt holds no
	// certificate, for the Kubernetes row.
	const ns = "dashboard"
	c := testkube.Start(t)
	c.EnsureNamespace(t, ns)
	for name, crtPEM := range map[string][]byte{
		"web-tls": testcerts.Bundle(crt, pki.Intermediate),
		"bad-tls": []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"),
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": crtPEM, "tls.key": []byte("not read")}}
		if _, err := c.Clientset(t).CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// kubernetes.configmaps: a CA bundle, and a ConfigMap whose ca.crt holds no certificate.
	for name, caPEM := range map[string]string{"trust": string(pki.Root.PEM()), "bad-trust": "not a certificate"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"ca.crt": caPEM}}
		if _, err := c.Clientset(t).CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := startExporter(t, dir, fmt.Sprintf(`
files:
  - paths: [%q]
    ca_file: %q
    check_key: true
  - paths: [%q]
certbot:
  config_dir: %q
  log_file: %q
lego:
  path: %q
  log_file: %q
  log_timezone: UTC
  history_max_age: 10000d
caddy:
  storage_dir: %q
  log_file: %q
  history_max_age: 10000d
modules:
  tls:
    tls_config: {ca_file: %q}
targets:
  - {target: %q, server_name: %s, interval: 1s}
kubernetes:
  kubeconfig: %q
  namespaces: {include: [%s]}
  configmaps: {}
`, le+"/live/*/fullchain.pem", ca, crlFile, le, logFile, lego, filepath.Join(dir, "lego.log"), filepath.Join(dir, "caddy"),
		filepath.Join(dir, "caddy.log"), ca, target, domain, testkube.Kubeconfig(t, c.Config()), ns), exporterOpts{})
	s.register(t, sc, e)
	// Counters need two samples for increase(); the probe needs its first run.
	s.waitSeries(t, fmt.Sprintf(`count_over_time(cert_probe_success{scenario=%q}[1m]) >= 3`, sc), 1)
	s.waitSeries(t, fmt.Sprintf(`cert_info{scenario=%q,source="kubernetes",configmap="",index="0"}`, sc), 1)
	s.waitSeries(t, fmt.Sprintf(`cert_info{scenario=%q,source="kubernetes",configmap="trust"}`, sc), 1)
	s.waitSeries(t, fmt.Sprintf(`cert_expiry_exporter_kubernetes_secret_error{scenario=%q}`, sc), 1)
	s.waitSeries(t, fmt.Sprintf(`cert_expiry_exporter_kubernetes_configmap_error{scenario=%q}`, sc), 1)

	var data []byte
	var d struct {
		Panels     []dashboardPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	data, err = os.ReadFile(shippedDashboard)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	// Grafana's substitutions for a dashboard showing this one exporter: regex-quoted, and the
	// backslashes doubled inside PromQL's double-quoted strings.
	quote := func(s string) string { return strings.ReplaceAll(regexp.QuoteMeta(s), `\`, `\\`) }
	fill := strings.NewReplacer(
		"$job", quote(jobName),
		"$instance", quote(e.addr),
		"$namespace", ".*", // All (the variable's allValue)
		"$__rate_interval", "1m",
	)
	// label_values(metric, label): the variable's values are the label's values on metric.
	labelValues := regexp.MustCompile(`^label_values\((.*), *([a-z_]+)\)$`)
	for _, v := range d.Templating.List {
		q, ok := v.Query.(string)
		if v.Name == "datasource" || !ok {
			continue
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q)
			continue
		}
		r, err := s.query(fmt.Sprintf("count by (%s) (%s)", m[2], fill.Replace(m[1])))
		if err != nil || len(r) == 0 {
			t.Errorf("variable %s: %q gives %d values, err %v", v.Name, q, len(r), err)
		}
	}
	// A comparison filters series out (a panel of problems is empty on a healthy host) unless
	// `or vector(0)` puts a value back.
	filtering := regexp.MustCompile(`==|[^=!<>]<[^=]|>[^=]`)
	// Such a query could hide a metric that is never exported, so every metric a query names
	// must have series here, except those this healthy, offline setup cannot have.
	absentHere := map[string]string{
		"cert_revoked": "no OCSP staple, and no CRL lists a watched certificate",
		"cert_ari_window_start_timestamp_seconds":           "ARI is off (offline)",
		"cert_probe_failure":                                "absent while probes succeed",
		"cert_expiry_exporter_file_error":                   "absent while files are readable",
		"cert_expiry_exporter_kubernetes_watch_error":       "absent while the watches work",
		"cert_expiry_exporter_kubernetes_certificate_error": "no cert-manager in this setup",
	}
	selector := regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)
	checked := map[string]bool{}
	queries := 0
	// A collapsed row holds its panels inside itself.
	var panels []dashboardPanel
	for _, p := range d.Panels {
		panels = append(append(panels, p), p.Panels...)
	}
	for _, p := range panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				continue
			}
			for _, m := range selector.FindAllStringSubmatch(tg.Expr, -1) {
				name := m[1]
				if checked[name] || absentHere[name] != "" {
					continue
				}
				checked[name] = true
				r, err := s.query(fmt.Sprintf(`count(%s{instance=%q})`, name, e.addr))
				if err != nil || len(r) == 0 {
					t.Errorf("panel %q: no %s series from the exporter (err %v)", p.Title, name, err)
				}
			}
			queries++
			q := fill.Replace(tg.Expr)
			r, err := s.query(q)
			switch {
			case err != nil:
				t.Errorf("panel %q: %s: %v", p.Title, q, err)
			case len(r) == 0 && (!filtering.MatchString(tg.Expr) || strings.Contains(tg.Expr, "or vector(0)")):
				t.Errorf("panel %q: no series for %s", p.Title, q)
			}
		}
	}
	if queries < 20 {
		t.Errorf("only %d panel queries found", queries)
	}
}

type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // of a collapsed row
}
