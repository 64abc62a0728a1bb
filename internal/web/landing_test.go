package web

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

func landingState() Landing {
	l := Landing{
		Version: "(version=1.2.3, branch=main, revision=abc)",
		Sources: []source.Status{
			{Source: "targets", Name: "www.example.test:443", Up: true, LastSuccess: time.Date(2026, 3, 1, 11, 58, 0, 0, time.UTC), Errors: map[string]uint64{"dns": 0}},
			{Source: "files", Name: "/etc/ssl/*.pem", Errors: map[string]uint64{"permission": 2, "parse": 1, "not_found": 0, "io": 1}, Error: "/etc/ssl/a.pem: open /etc/ssl/a.pem: permission denied"},
			{Source: "certbot_log", Name: "/var/log/letsencrypt/letsencrypt.log", Up: true, LastSuccess: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC), Errors: map[string]uint64{}},
		},
		ProbeTarget: "www.example.test:443", ProbeModule: "tls",
	}
	for i := range 12 {
		l.Problems = append(l.Problems, source.Problem{Source: "file", Where: fmt.Sprintf("/etc/ssl/%02d.pem", i), Reason: "permission", Message: "open: permission denied"})
	}
	return l
}

func getLanding(t *testing.T, l Landing, method, path string, withTLS bool) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Host = "certhost.test:9117"
	if withTLS {
		req.TLS = &tls.ConnectionState{}
	}
	rec := httptest.NewRecorder()
	LandingHandler(func() Landing { return l }).ServeHTTP(rec, req)
	return rec
}

// TestLanding: the landing page says at a glance which sources are down and why, and what to do
// next: the scrape job for the address the reader used, where the rules, dashboard and docs are,
// and a probe example that works (a configured target).
func TestLanding(t *testing.T) {
	rec := getLanding(t, landingState(), http.MethodGet, "/", false)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" || rec.Header().Get("Content-Security-Policy") != landingCSP {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	for _, want := range []string{
		`<p class="meta">Prometheus exporter that warns days ahead that a TLS certificate will lapse, and why. Version (version=1.2.3, branch=main, revision=abc).</p>`,
		`<p id="health" class="down">2 of 3 sources up, 1 down.</p>`,
		// Down first, errors by count.
		`<tbody>
<tr class="down"><td>down</td><td>files</td><td><code>/etc/ssl/*.pem</code></td><td>never</td><td>permission ×2, io ×1, parse ×1</td><td>/etc/ssl/a.pem: open /etc/ssl/a.pem: permission denied</td></tr>
<tr class="up"><td>up</td><td>certbot_log</td><td><code>/var/log/letsencrypt/letsencrypt.log</code></td><td>2026-03-01T11:59:00Z</td><td>none</td><td></td></tr>
<tr class="up"><td>up</td><td>targets</td><td><code>www.example.test:443</code></td><td>2026-03-01T11:58:00Z</td><td>none</td><td></td></tr>
</tbody>`,
		`<li><code>/etc/ssl/09.pem</code> (file): permission — open: permission denied</li>
<li>and 2 more on <a href="/certificates">/certificates</a>.</li>
</ul>`,
		`<pre id="scrape-config">scrape_configs:
  - job_name: cert_expiry_exporter
    static_configs:
      - targets: [&#34;certhost.test:9117&#34;]
rule_files: [&#34;cert_expiry_exporter.rules.yml&#34;]
</pre>`,
		`<a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/alerts/cert_expiry_exporter.rules.yml">alerts/cert_expiry_exporter.rules.yml</a>`,
		`<a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/dashboards/cert_expiry_exporter.json">dashboards/cert_expiry_exporter.json</a>`,
		`<label>Target <input type="text" name="target" value="www.example.test:443" placeholder="host:port"></label>
<label>Module <input type="text" name="module" value="tls" placeholder="tls"></label>`,
		`<p>For example <a href="/probe?module=tls&amp;target=www.example.test%3A443">/probe?module=tls&amp;target=www.example.test%3A443</a>, a configured target.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("landing page lacks\n%s\n\npage:\n%s", want, body)
		}
	}
	for _, link := range []string{"/certificates", "/certificates.json", "/metrics", "/config", "/-/healthy", "/-/ready"} {
		if !strings.Contains(body, `<a href="`+link+`">`+link+`</a>`) {
			t.Errorf("no link to %s", link)
		}
	}
	if strings.Contains(body, "example.com") || strings.Contains(body, "/debug/pprof") || strings.Contains(body, "<script") {
		t.Errorf("example.com, pprof or a script on the page:\n%s", body)
	}
	checkRepoLinks(t, body)

	// Served over TLS, the job scrapes https; nothing configured, nothing to show.
	body = getLanding(t, Landing{Pprof: true}, http.MethodGet, "/", true).Body.String()
	for _, want := range []string{
		"  - job_name: cert_expiry_exporter\n    scheme: https\n    static_configs:\n",
		`<p id="health" class="up">0 of 0 sources up.</p>`,
		`<tr><td colspan="5">No source is configured.</td></tr>`,
		`<li>None.</li>`,
		`<li><a href="/debug/pprof/">/debug/pprof/</a>: Go profiling</li>`,
		`<input type="text" name="target" value="" placeholder="host:port">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("empty landing page lacks\n%s\n\npage:\n%s", want, body)
		}
	}
	if strings.Contains(body, "For example") {
		t.Error("a probe example without a configured target")
	}

	if rec := getLanding(t, landingState(), http.MethodGet, "/nothing", false); rec.Code != http.StatusNotFound {
		t.Errorf("/nothing: %d", rec.Code)
	}
	if rec := getLanding(t, landingState(), http.MethodPost, "/", false); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", rec.Code)
	}
}

var repoLink = regexp.MustCompile(`href="` + regexp.QuoteMeta(repoURL) + `([^"#]+)(?:#([^"]*))?"`)

// checkRepoLinks fails for a link into the repository whose file, or Markdown heading (the
// anchor as GitHub makes it), does not exist.
func checkRepoLinks(t *testing.T, body string) {
	t.Helper()
	ms := repoLink.FindAllStringSubmatch(body, -1)
	if len(ms) == 0 {
		t.Fatal("no link into the repository")
	}
	for _, m := range ms {
		text, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(m[1])))
		if err != nil {
			t.Errorf("link to %s: %v", m[1], err)
			continue
		}
		if m[2] != "" && !hasAnchor(string(text), m[2]) {
			t.Errorf("link to %s#%s: no such heading", m[1], m[2])
		}
	}
}

// hasAnchor says whether a Markdown heading of text has GitHub's anchor a: lower case, spaces
// as dashes, punctuation but - and _ dropped.
func hasAnchor(text, a string) bool {
	for _, l := range strings.Split(text, "\n") {
		h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " ")
		if !ok || !strings.HasPrefix(l, "#") {
			continue
		}
		slug := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z':
				return r
			}
			return -1
		}, strings.ToLower(strings.TrimSpace(h)))
		if slug == a {
			return true
		}
	}
	return false
}
