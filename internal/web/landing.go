package web

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// repoURL is where the landing page sends readers for the files it names (rule file,
// dashboard, docs): the repository's main branch, as the alert rules' runbook_base_url.
const repoURL = "https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/"

var (
	//go:embed landing/page.html
	landingHTML string
	//go:embed landing/style.css
	landingCSS string

	landingTmpl = template.Must(template.New("landing").Funcs(template.FuncMap{
		"when":   when,
		"errors": errorCounts,
		"repo":   func(path string) string { return repoURL + path },
	}).Parse(landingHTML))

	// No script at all; the only style is the embedded one (source names and problem messages
	// come from files and remote servers).
	landingCSP = fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'", hash(landingCSS))
)

// maxLandingProblems bounds the problem list: with thousands of unreadable files the page stays
// a glance, and /certificates has them all.
const maxLandingProblems = 10

// Landing is what the landing page shows that changes: the sources' health and what to probe.
type Landing struct {
	Version string
	Pprof   bool
	// Sources are the sources' health as in cert_expiry_exporter_source_up; Problems what they
	// could not read or reach right now.
	Sources  []source.Status
	Problems []source.Problem
	// ProbeTarget and ProbeModule fill the probe form: a configured target, so that the
	// example works (empty when none is configured).
	ProbeTarget, ProbeModule string
}

type landingPage struct {
	Landing
	Up, Down     int
	MoreProblems int
	ScrapeConfig string
	ProbeExample string
	CSS          template.CSS
}

// LandingHandler serves the landing page at / (and 404 under it).
func LandingHandler(state func() Landing) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Only GET requests allowed", http.StatusMethodNotAllowed)
			return
		}
		p := landingPage{Landing: state(), CSS: template.CSS(landingCSS)}
		// Down first: what needs a look leads.
		p.Sources = slices.Clone(p.Sources)
		slices.SortStableFunc(p.Sources, func(a, b source.Status) int {
			return cmp.Or(boolOrder(a.Up, b.Up), cmp.Compare(a.Source, b.Source), cmp.Compare(a.Name, b.Name))
		})
		for _, s := range p.Sources {
			if s.Up {
				p.Up++
			} else {
				p.Down++
			}
		}
		if n := len(p.Problems); n > maxLandingProblems {
			p.Problems, p.MoreProblems = p.Problems[:maxLandingProblems], n-maxLandingProblems
		}
		p.ScrapeConfig = scrapeConfig(r)
		if p.ProbeTarget != "" {
			p.ProbeExample = "/probe?" + url.Values{"target": {p.ProbeTarget}, "module": {p.ProbeModule}}.Encode()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", landingCSP)
		w.Header().Set("Cache-Control", "no-store")
		if err := landingTmpl.Execute(w, p); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// scrapeConfig is the exporter's scrape job. Its target is the address the reader reached the
// page by: the listen address (":9117") names no host, and Prometheus usually reaches the
// exporter the same way a browser does. The job name is the one CertExpiryExporterDown selects.
func scrapeConfig(r *http.Request) string {
	var b strings.Builder
	b.WriteString("scrape_configs:\n  - job_name: cert_expiry_exporter\n")
	if r.TLS != nil {
		b.WriteString("    scheme: https\n")
	}
	fmt.Fprintf(&b, "    static_configs:\n      - targets: [%q]\nrule_files: [\"cert_expiry_exporter.rules.yml\"]\n", r.Host)
	return b.String()
}

// errorCounts says how often a source failed, per reason, worst first ("none" when never).
func errorCounts(m map[string]uint64) string {
	var s []string
	for _, r := range slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) }) {
		if m[r] > 0 {
			s = append(s, fmt.Sprintf("%s ×%d", r, m[r]))
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// boolOrder puts false first.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
