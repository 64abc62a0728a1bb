// Package page tests the /certificates page in a real headless Chromium, and its JSON. It lives
// in the e2e module because of the browser driver, which the exporter itself does not need.
package page

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/web"
)

var pageNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	day     = 24 * time.Hour
	hostile = `<script>window.pwned=1</script>`
)

// testReport is a small inventory: one certificate per severity, a probe whose chain lacks
// its intermediate, and a certificate whose subject and SAN are hostile markup.
func testReport(t *testing.T) func() inventory.Report {
	t.Helper()
	pki := testcerts.NewPKI("Page", pageNow)
	var chains []certs.Chain
	owners := map[string]map[string]string{
		"/certs/healthy.pem":  {"team": "web", "env": "prod"},
		"/certs/two.pem":      {"team": "web", "env": "staging"},
		"incomplete.test:443": {"team": "db"},
	}
	add := func(loc certs.Location, withInter bool, o testcerts.Options) {
		o.Now, o.Serial = pageNow, big.NewInt(int64(len(chains)+100))
		leaf := pki.Leaf(o)
		xs := []*x509.Certificate{leaf.Cert}
		if withInter {
			xs = append(xs, pki.Intermediate.Cert)
		}
		ch := certs.Chain{Location: loc, Labels: certs.NewLabels(owners[loc.Path+loc.Target]), Verify: certs.Verify(xs, certs.VerifyOptions{Roots: pki.Pool(), Now: pageNow})}
		for _, x := range xs {
			ch.Certs = append(ch.Certs, certs.New(x))
		}
		chains = append(chains, ch)
	}
	at := func(age, life time.Duration) (time.Time, time.Time) {
		return pageNow.Add(-age), pageNow.Add(-age + life)
	}
	file := func(p string) certs.Location { return certs.Location{Source: certs.SourceFile, Path: p} }
	nb, na := at(20*day, 90*day)
	add(file("/certs/healthy.pem"), true, testcerts.Options{DNSNames: []string{"healthy.test"}, NotBefore: nb, NotAfter: na})
	nb, na = at(84*day, 90*day)
	add(file("/certs/six.pem"), true, testcerts.Options{DNSNames: []string{"six-days.test"}, NotBefore: nb, NotAfter: na})
	nb, na = at(88*day, 90*day)
	add(file("/certs/two.pem"), true, testcerts.Options{DNSNames: []string{"two-days.test"}, NotBefore: nb, NotAfter: na})
	nb, na = at(91*day, 90*day)
	add(file("/certs/expired.pem"), true, testcerts.Options{DNSNames: []string{"expired.test"}, NotBefore: nb, NotAfter: na})
	nb, na = at(30*day, 90*day)
	add(file("/certs/hostile.pem"), true, testcerts.Options{CN: hostile, DNSNames: []string{`"><img src=x onerror="window.pwned=2">`}, NotBefore: nb, NotAfter: na})
	nb, na = at(10*day, 90*day)
	add(certs.Location{Source: certs.SourceProbe, Target: "incomplete.test:443", IP: "127.0.0.1"}, false,
		testcerts.Options{DNSNames: []string{"incomplete.test"}, NotBefore: nb, NotAfter: na})
	// Rows are judged by each chain's Location, so one snapshot can carry the probe's chain too.
	store := inventory.New("test")
	store.Restart("test", true)(&source.Snapshot{Chains: chains})
	return func() inventory.Report { return inventory.Build(store.View(), pageNow, inventory.DefaultThresholds) }
}

func TestQueryErrors(t *testing.T) {
	h := web.CertificatesHandler(testReport(t), true)
	for q, want := range map[string]string{
		"severity=bad": `unknown severity "bad" (one of ok, warning, critical, expired)`,
		"source=disk":  `unknown source "disk" (file or probe)`,
		"sort=color":   `unknown sort "color" (one of domain, expiry, issuer, lineage, location, severity)`,
		"order=up":     `order must be asc or desc, not "up"`,
		"leaf=yes":     `leaf must be 1 or 0, not "yes"`,
		"label=team":   `label must be name=value, not "team"`,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/certificates.json?"+q, nil))
		if rec.Code != http.StatusBadRequest || strings.TrimSpace(rec.Body.String()) != want {
			t.Errorf("%s: %d %q, want 400 %q", q, rec.Code, rec.Body.String(), want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/certificates.json", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// TestJSONQuery: filters and sorts apply to the JSON as to the page.
func TestJSONQuery(t *testing.T) {
	h := web.CertificatesHandler(testReport(t), true)
	for q, want := range map[string][]string{
		"":                                     {"expired.test", "two-days.test", "six-days.test", hostile},
		"severity=critical":                    {"expired.test", "two-days.test", "incomplete.test"},
		"severity=warning&sort=domain":         {"expired.test", "incomplete.test", "six-days.test", "two-days.test"},
		"leaf=1&sort=domain&order=desc":        {"two-days.test", "six-days.test", "incomplete.test", "healthy.test", "expired.test", hostile},
		"q=IMG+SRC&source=file":                {hostile},
		"source=probe":                         {"incomplete.test"},
		"q=nothing-matches-this":               {},
		"severity=expired&sort=severity":       {"expired.test"},
		"q=hostname&severity=critical":         {},
		"q=incomplete_chain&leaf=1":            {"incomplete.test"},
		"label=team=web&leaf=1":                {"two-days.test", "healthy.test"},
		"leaf=1&label=team=web&label=env=prod": {"healthy.test"},
		"label=team=db&label=":                 {"incomplete.test"},
		"label=team=nobody":                    {},
		"q=staging&leaf=1":                     {"two-days.test"},
		"sort=severity&order=desc&leaf=1":      {"expired.test", "two-days.test", "incomplete.test", "six-days.test", hostile, "healthy.test"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/certificates.json?"+q, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", q, rec.Code, rec.Body)
		}
		var r inventory.Report
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, x := range r.Certificates {
			got = append(got, x.Domain)
		}
		if q == "" {
			got = got[:min(len(got), 4)] // soonest first; the rest are covered by other rows
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", q, got, want)
		}
		if q == "leaf=1&label=team=web&label=env=prod" && (len(r.Certificates) == 0 || r.Certificates[0].Labels.Get("env") != "prod") {
			t.Errorf("%q: labels not in the JSON: %+v", q, r.Certificates)
		}
	}
}

// chromium finds the browser; a missing one fails in CI and skips elsewhere.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required in CI (apt-get install chromium)")
	}
	t.Skip("chromium not installed")
	return ""
}

func browser(t *testing.T) context.Context {
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1500, 1000),
	)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type pageRow struct {
	Domain   string `json:"domain"`
	Severity string `json:"severity"`
	Colour   string `json:"colour"`
	Hidden   bool   `json:"hidden"`
}

const readRows = `Array.from(document.querySelectorAll("#certificates tbody tr[data-severity]")).map(tr => ({
  domain: tr.querySelector(".domain strong").textContent,
  severity: tr.dataset.severity,
  colour: getComputedStyle(tr.querySelector(".badge")).backgroundColor,
  hidden: tr.hidden,
}))`

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func TestPageInChromium(t *testing.T) {
	ctx := browser(t)
	srv := httptest.NewServer(web.CertificatesHandler(testReport(t), false))
	defer srv.Close()

	do(t, ctx, chromedp.Navigate(srv.URL+"/certificates?leaf=1"), chromedp.WaitVisible(chromedp.CSS("#certificates")))
	rows := eval[[]pageRow](t, ctx, readRows)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("CERTIFICATES_SCREENSHOT"); p != "" {
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Soonest expiry first, each coloured by its severity (style-src allowed the embedded CSS).
	colours := map[string]string{"ok": "rgb(26, 127, 55)", "warning": "rgb(179, 89, 0)", "critical": "rgb(207, 34, 46)", "expired": "rgb(110, 11, 20)"}
	want := []pageRow{
		{"expired.test", "expired", colours["expired"], false},
		{"two-days.test", "critical", colours["critical"], false},
		{"six-days.test", "warning", colours["warning"], false},
		{hostile, "ok", colours["ok"], false},
		{"healthy.test", "ok", colours["ok"], false},
		{"incomplete.test", "critical", colours["critical"], false},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("rows:\n got %+v\nwant %+v", rows, want)
	}
	// The hostile subject is text, its SAN no image, and only the page's own script exists.
	pwned := eval[int](t, ctx, `window.pwned || 0`)
	scripts := eval[int](t, ctx, `document.scripts.length`)
	images := eval[int](t, ctx, `document.images.length`)
	subject := eval[string](t, ctx, `Array.from(document.querySelectorAll(".domain strong")).map(e => e.textContent).find(s => s.includes("script"))`)
	if pwned != 0 || scripts != 1 || images != 0 || subject != hostile {
		t.Errorf("hostile input not inert: pwned=%d scripts=%d images=%d subject=%q", pwned, scripts, images, subject)
	}

	// The embedded script filters as one types, without a round trip.
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "-days"))
	visible := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#certificates tbody tr[data-severity]")).filter(tr => !tr.hidden).map(tr => tr.querySelector(".domain strong").textContent)`)
	url := eval[string](t, ctx, `location.href`)
	if !slices.Equal(visible, []string{"two-days.test", "six-days.test"}) || !strings.Contains(url, "q=-days") {
		t.Errorf("live filter: visible %q, url %s", visible, url)
	}

	// One select per owner label name, with the values seen; choosing one filters live too.
	eval[bool](t, ctx, `(() => { document.querySelector("input[name=q]").value = ""; return true })()`)
	options := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("select[name=label] option")).map(o => o.value)`)
	if want := []string{"", "env=prod", "env=staging", "", "team=db", "team=web"}; !slices.Equal(options, want) {
		t.Errorf("owner label options %q, want %q", options, want)
	}
	eval[bool](t, ctx, `(() => { const s = document.querySelectorAll("select[name=label]")[1]; s.value = "team=web"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	visible = eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#certificates tbody tr[data-severity]")).filter(tr => !tr.hidden).map(tr => tr.querySelector(".domain strong").textContent)`)
	url = eval[string](t, ctx, `location.href`)
	if !slices.Equal(visible, []string{"two-days.test", "healthy.test"}) || !strings.Contains(url, "label=team%3Dweb") {
		t.Errorf("owner label filter: visible %q, url %s", visible, url)
	}
}

// TestPageWithoutJavaScript: sorting and filtering work with plain links and the form.
func TestPageWithoutJavaScript(t *testing.T) {
	ctx := browser(t)
	srv := httptest.NewServer(web.CertificatesHandler(testReport(t), false))
	defer srv.Close()
	domains := func() []string {
		var out []string
		for _, r := range eval[[]pageRow](t, ctx, readRows) {
			out = append(out, r.Domain)
		}
		return out
	}
	noScript := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	do(t, ctx, noScript,
		chromedp.Navigate(srv.URL+"/certificates?severity=warning&leaf=1"),
		chromedp.Click(`//th/a[starts-with(., "Domain")]`),
		chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="ascending"]`)),
	)
	if got := domains(); !slices.Equal(got, []string{"expired.test", "incomplete.test", "six-days.test", "two-days.test"}) {
		t.Errorf("sorted by domain: %q", got)
	}
	do(t, ctx,
		chromedp.Click(`//th/a[starts-with(., "Domain")]`),
		chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="descending"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="q"]`), "two"),
		chromedp.Submit(chromedp.CSS(`#filter`)),
		chromedp.WaitNotPresent(`//strong[.="six-days.test"]`),
	)
	if got := domains(); !slices.Equal(got, []string{"two-days.test"}) {
		t.Errorf("filtered: %q", got)
	}
}
