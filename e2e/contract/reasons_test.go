package contract

import (
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/alerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/ari"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/caddy"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certbot"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/kube"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/lego"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// vocab is every combination of the labels that say why a series is set (reason, and source
// where the reasons differ by source) that a metric can carry.
type vocab []map[string]string

func reasons(extra map[string]string, rs ...string) vocab {
	var v vocab
	for _, r := range rs {
		e := maps.Clone(extra)
		if e == nil {
			e = map[string]string{}
		}
		e["reason"] = r
		v = append(v, e)
	}
	return v
}

// errorReasons is cert_expiry_exporter_errors_total's reason vocabulary per source, from the
// code that counts them.
var errorReasons = map[string][]string{
	"files":           files.ErrorReasons,
	"certbot_log":     certbot.LogErrorReasons,
	"certbot_renewal": certbot.RenewalErrorReasons,
	"lego_store":      files.ErrorReasons,
	"lego_log":        lego.LogErrorReasons,
	"caddy_store":     files.ErrorReasons,
	"client":          files.ErrorReasons,
	"caddy_log":       caddy.LogErrorReasons,
	"targets":         slices.Concat(probe.FailureReasons, probe.ProblemReasons),
	"ari":             ari.Reasons,
	"kubernetes":      kube.ErrorReasons,
}

// metricVocabularies are the reason vocabularies of every metric an alert can take a reason
// from, as the code sets them.
func metricVocabularies(t *testing.T) map[string]vocab {
	t.Helper()
	// A chain without a certificate has no series (docs/metrics.md), so no_certificate never
	// reaches cert_chain_verified.
	verify := slices.DeleteFunc(verifyReasons(t), func(r string) bool { return r == certs.ReasonNoCertificate })
	var chain, errs vocab
	for _, source := range []string{"file", "probe", "kubernetes"} {
		chain = append(chain, reasons(map[string]string{"source": source}, verify...)...)
	}
	for _, source := range slices.Sorted(maps.Keys(errorReasons)) {
		errs = append(errs, reasons(map[string]string{"source": source}, errorReasons[source]...)...)
	}
	return map[string]vocab{
		// logparse.Reasons leaves out "none", always 0.
		"cert_renewal_failure":              reasons(nil, logparse.Reasons...),
		"cert_probe_failure":                reasons(nil, probe.FailureReasons...),
		"cert_chain_verified":               chain,
		"cert_expiry_exporter_file_error":   reasons(nil, files.Reasons...),
		"cert_expiry_exporter_errors_total": errs,
		// The kubernetes source's per-object errors (a Secret key, a ConfigMap key, a cert-manager Certificate).
		"cert_expiry_exporter_kubernetes_secret_error":      reasons(nil, kube.SecretReasons...),
		"cert_expiry_exporter_kubernetes_configmap_error":   reasons(nil, kube.ConfigMapReasons...),
		"cert_expiry_exporter_kubernetes_certificate_error": reasons(nil, kube.CertificateReasons...),
	}
}

// verifyReasons are the string constants Reason* of package certs: the `reason` label of
// cert_chain_verified. certs declares no list of them, so they are read from its source.
func verifyReasons(t *testing.T) []string {
	t.Helper()
	module := strings.TrimSuffix(reflect.TypeFor[alerts.Config]().PkgPath(), "/alerts")
	rel, ok := strings.CutPrefix(reflect.TypeFor[certs.VerifyResult]().PkgPath(), module+"/")
	if !ok {
		t.Fatalf("package certs is not in module %s", module)
	}
	paths, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(rel), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i >= len(vs.Values) {
						break
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if strings.HasPrefix(name.Name, "Reason") && ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						out = append(out, v)
					}
				}
			}
		}
	}
	for _, want := range []string{certs.ReasonOK, certs.ReasonNoCertificate, certs.ReasonOther} {
		if !slices.Contains(out, want) {
			t.Fatalf("read %v from package certs, which lacks %q: did its constants move?", out, want)
		}
	}
	return out
}

// alertVocab is what an alert's expression can carry: the entries of each selected metric's
// vocabulary that the selector's own matchers admit.
func alertVocab(expr string, vocabs map[string]vocab) (vocab, error) {
	vs, err := selectors(expr)
	if err != nil {
		return nil, err
	}
	var out vocab
	for _, v := range vs {
		for _, e := range vocabs[selectorName(v)] {
			if admits(v.LabelMatchers, e) && !slices.ContainsFunc(out, func(o map[string]string) bool { return maps.Equal(o, e) }) {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

func admits(ms []*labels.Matcher, e map[string]string) bool {
	for _, m := range ms {
		if v, ok := e[m.Name]; ok && !m.Matches(v) {
			return false
		}
	}
	return true
}

// anchors are the GitHub anchors of a Markdown document's headings; a heading repeated would
// get a numbered anchor, which no alert can link to, so it is an error.
func anchors(doc string) (map[string]bool, error) {
	out := map[string]bool{}
	for line := range strings.Lines(doc) {
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
		if out[slug] {
			return nil, fmt.Errorf("two headings have the anchor #%s", slug)
		}
		out[slug] = true
	}
	return out, nil
}

var labelRef = regexp.MustCompile(`\{\{ *\$labels\.([a-zA-Z_][a-zA-Z0-9_]*) *\}\}`)

// missingSections lists, for every alert that carries a reason, each reason whose section its
// runbook_url does not reach: no #fragment, or a fragment that names no heading.
func missingSections(rules []alerts.Rule, vocabs map[string]vocab, runbook func(alert string) (string, error)) []string {
	var missing []string
	for _, r := range rules {
		v, err := alertVocab(r.Expr, vocabs)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s: %v", r.Alert, err))
			continue
		}
		if len(v) == 0 {
			continue
		}
		_, fragment, ok := strings.Cut(r.Annotations["runbook_url"], "#")
		if !ok {
			missing = append(missing, fmt.Sprintf("%s carries a reason but its runbook_url links no section", r.Alert))
			continue
		}
		doc, err := runbook(r.Alert)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s: %v", r.Alert, err))
			continue
		}
		have, err := anchors(doc)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s.md: %v", r.Alert, err))
			continue
		}
		for _, e := range v {
			anchor := labelRef.ReplaceAllStringFunc(fragment, func(ref string) string {
				return e[labelRef.FindStringSubmatch(ref)[1]]
			})
			if !have[anchor] {
				missing = append(missing, fmt.Sprintf("%s.md has no section for %v (#%s)", r.Alert, e, anchor))
			}
		}
	}
	return missing
}

// Every alert has a runbook section for each reason it can carry, and links it.
func TestRunbooksCoverEveryReason(t *testing.T) {
	rf, err := alerts.ParseRules(readFile(t, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	vocabs := metricVocabularies(t)
	runbook := func(alert string) (string, error) {
		b, err := os.ReadFile(filepath.Join(runbookDir, alert+".md"))
		return string(b), err
	}
	for _, m := range missingSections(rf.Rules(), vocabs, runbook) {
		t.Error(m)
	}
	// Each vocabulary reaches some alert: a metric that stops paging for its reasons is noticed.
	for metric := range vocabs {
		used := false
		for _, r := range rf.Rules() {
			if v, _ := alertVocab(r.Expr, map[string]vocab{metric: vocabs[metric]}); len(v) > 0 {
				used = true
			}
		}
		if !used {
			t.Errorf("no alert carries a reason of %s", metric)
		}
	}
}

// The check above must be able to fail.
func TestMissingSectionsRejectsGaps(t *testing.T) {
	vocabs := map[string]vocab{
		"m": reasons(nil, "dns", "lock"),
		"e": append(reasons(map[string]string{"source": "a"}, "io"), reasons(map[string]string{"source": "b"}, "io", "parse")...),
	}
	rule := func(name, expr, fragment string) alerts.Rule {
		return alerts.Rule{Alert: name, Expr: expr, Annotations: map[string]string{"runbook_url": "https://x/" + name + ".md" + fragment}}
	}
	rules := []alerts.Rule{
		rule("Complete", `m == 1`, "#{{ $labels.reason }}"),
		rule("Narrowed", `m{reason!="lock"} == 1`, "#{{ $labels.reason }}"),
		rule("NoLink", `m == 1`, ""),
		rule("Gap", `m == 1`, "#{{ $labels.reason }}"),
		rule("BySource", `e{source="b"} > 0`, "#{{ $labels.source }}-{{ $labels.reason }}"),
		rule("Twice", `m == 1`, "#{{ $labels.reason }}"),
		rule("NoReason", `up == 0`, ""),
	}
	docs := map[string]string{
		"Complete": "# Complete\n## Fix\n### dns\n### lock\n",
		"Narrowed": "# Narrowed\n### dns\n",
		"Gap":      "# Gap\n### dns\n### locks\n",
		"BySource": "# BySource\n### b: io\n### a: parse\n",
		"Twice":    "# Twice\n### dns\n### lock\n### dns\n",
	}
	got := missingSections(rules, vocabs, func(alert string) (string, error) { return docs[alert], nil })
	want := []string{
		"NoLink carries a reason but its runbook_url links no section",
		"Gap.md has no section for map[reason:lock] (#lock)",
		"BySource.md has no section for map[reason:parse source:b] (#b-parse)",
		"Twice.md: two headings have the anchor #dns",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// docs/metrics.md lists every reason the code can set, in the row (or, for the error counter,
// the table) of its metric.
func TestMetricsDocListsEveryReason(t *testing.T) {
	doc := string(readFile(t, metricsDoc))
	row := func(first string) string {
		for line := range strings.Lines(doc) {
			if strings.HasPrefix(line, "| `"+first+"` |") {
				return line
			}
		}
		t.Errorf("%s: no table row for `%s`", metricsDoc, first)
		return ""
	}
	check := func(where, line string, rs []string) {
		for _, r := range rs {
			if !strings.Contains(line, "`"+r+"`") {
				t.Errorf("%s: the row of %s does not list reason `%s`", metricsDoc, where, r)
			}
		}
	}
	check("cert_renewal_failure", row("cert_renewal_failure"), logparse.Reasons)
	check("cert_probe_failure", row("cert_probe_failure"), probe.FailureReasons)
	check("cert_chain_verified", row("cert_chain_verified"), slices.DeleteFunc(verifyReasons(t), func(r string) bool { return r == certs.ReasonNoCertificate }))
	check("cert_expiry_exporter_file_error", row("cert_expiry_exporter_file_error"), files.Reasons)
	check("cert_expiry_exporter_kubernetes_secret_error", row("cert_expiry_exporter_kubernetes_secret_error"), kube.SecretReasons)
	check("cert_expiry_exporter_kubernetes_configmap_error", row("cert_expiry_exporter_kubernetes_configmap_error"), kube.ConfigMapReasons)
	check("cert_expiry_exporter_kubernetes_certificate_error", row("cert_expiry_exporter_kubernetes_certificate_error"), kube.CertificateReasons)
	for source, rs := range errorReasons {
		check("source "+source+" of cert_expiry_exporter_errors_total", row(source), rs)
	}
	// Every documented source has its error vocabulary above.
	_, list, _ := strings.Cut(row("cert_expiry_exporter_source_up"), "`source` (")
	list, _, _ = strings.Cut(list, ")")
	var documented []string
	for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(list, -1) {
		documented = append(documented, m[1])
	}
	if got := slices.Sorted(maps.Keys(errorReasons)); !slices.Equal(got, slices.Sorted(slices.Values(documented))) {
		t.Errorf("error vocabularies for sources %v, but %s documents sources %v", got, metricsDoc, documented)
	}
}
