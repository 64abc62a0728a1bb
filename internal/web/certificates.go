// Package web serves the certificate inventory: the /certificates page and its JSON.
package web

import (
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/caddy"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/kube"
)

var (
	//go:embed certificates/page.html
	pageHTML string
	//go:embed certificates/style.css
	pageCSS string
	//go:embed certificates/filter.js
	pageJS string

	pageTmpl = template.Must(template.New("certificates").Funcs(template.FuncMap{
		"rfc3339":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"when":           when,
		"days":           func(s int64) string { return fmt.Sprint(float64(s) / 86400) },
		"timeLeft":       inventory.TimeLeft,
		"join":           strings.Join,
		"labels":         labelText,
		"runbook":        runbook,
		"problemRunbook": problemRunbook,
		"renewalState":   renewalState,
		"crlSeverity":    crlSeverity,
	}).Parse(pageHTML))

	// The page's only style and script are the embedded ones: certificate fields are
	// attacker-controlled, and even an escaping bug could then not run a script.
	pageCSP = fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; script-src 'sha256-%s'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		hash(pageCSS), hash(pageJS))
)

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(h[:])
}

// CertificatesHandler serves the inventory page (/certificates) and, when json is set, the
// same rows as JSON (/certificates.json). Both take the same query parameters, documented in
// docs/certificates.md: q, severity, source, leaf, label, sort, order.
func CertificatesHandler(report func() inventory.Report, asJSON bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Only GET requests allowed", http.StatusMethodNotAllowed)
			return
		}
		v, err := parseView(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rep := report()
		owners := ownerOptions(rep.Certificates, rep.CRLs, v.Labels)
		rep.Certificates = v.apply(rep.Certificates)
		rep.CRLs = v.applyCRLs(rep.CRLs)
		rep.Summary = inventory.Summarize(rep.Certificates)
		w.Header().Set("Cache-Control", "no-store")
		if asJSON {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep) // a failed write is the client's disconnect
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", pageCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if err := pageTmpl.Execute(w, v.page(rep, owners, r.URL.RawQuery)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// view is what the query asks for: a filter and an order.
type view struct {
	Q        string
	Severity inventory.Severity // at least this
	Source   string             // file, probe, or "" for both
	Leaf     bool               // only rows the alerts judge
	Labels   certs.Labels       // owner labels a row must have (label=name=value), sorted
	Sort     string
	Order    string
}

// sortKeys are the sortable columns; each compares two rows ascending.
var sortKeys = map[string]func(a, b inventory.Row) int{
	"expiry":   func(a, b inventory.Row) int { return a.NotAfter.Compare(b.NotAfter) },
	"severity": func(a, b inventory.Row) int { return cmp.Compare(a.Severity, b.Severity) },
	"domain":   func(a, b inventory.Row) int { return cmp.Compare(strings.ToLower(a.Domain), strings.ToLower(b.Domain)) },
	"issuer":   func(a, b inventory.Row) int { return cmp.Compare(strings.ToLower(a.Issuer), strings.ToLower(b.Issuer)) },
	"location": func(a, b inventory.Row) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Target, b.Target), cmp.Compare(a.IP, b.IP),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Secret, b.Secret), cmp.Compare(a.ConfigMap, b.ConfigMap), cmp.Compare(a.Key, b.Key))
	},
	"lineage": func(a, b inventory.Row) int { return cmp.Compare(a.Lineage, b.Lineage) },
}

func parseView(q url.Values) (view, error) {
	v := view{Q: strings.TrimSpace(q.Get("q")), Source: q.Get("source"), Sort: cmp.Or(q.Get("sort"), "expiry"), Order: cmp.Or(q.Get("order"), "asc")}
	if s := q.Get("severity"); s != "" {
		if err := v.Severity.UnmarshalText([]byte(s)); err != nil {
			return v, err
		}
	}
	switch v.Source {
	case "", "file", "probe":
	default:
		return v, fmt.Errorf("unknown source %q (file or probe)", v.Source)
	}
	switch l := q.Get("leaf"); l {
	case "", "0", "false":
	case "1", "true":
		v.Leaf = true
	default:
		return v, fmt.Errorf("leaf must be 1 or 0, not %q", l)
	}
	for _, l := range q["label"] {
		if l == "" {
			continue // the form's "any"
		}
		name, value, ok := strings.Cut(l, "=")
		if !ok || name == "" || value == "" {
			return v, fmt.Errorf("label must be name=value, not %q", l)
		}
		v.Labels = append(v.Labels, certs.Label{Name: name, Value: value})
	}
	slices.SortFunc(v.Labels, func(a, b certs.Label) int { return cmp.Compare(a.Name, b.Name) })
	if sortKeys[v.Sort] == nil {
		keys := make([]string, 0, len(sortKeys))
		for k := range sortKeys {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return v, fmt.Errorf("unknown sort %q (one of %s)", v.Sort, strings.Join(keys, ", "))
	}
	if v.Order != "asc" && v.Order != "desc" {
		return v, fmt.Errorf("order must be asc or desc, not %q", v.Order)
	}
	return v, nil
}

// apply filters and sorts rows (already soonest expiry first, which breaks ties).
func (v view) apply(rows []inventory.Row) []inventory.Row {
	q := strings.ToLower(v.Q)
	out := []inventory.Row{}
	for _, r := range rows {
		if r.Severity < v.Severity || v.Source != "" && r.Source != v.Source || v.Leaf && !r.Judged ||
			!hasLabels(r.Labels, v.Labels) || q != "" && !strings.Contains(searchText(r), q) {
			continue
		}
		out = append(out, r)
	}
	less := sortKeys[v.Sort]
	slices.SortStableFunc(out, func(a, b inventory.Row) int {
		if v.Order == "desc" {
			return less(b, a)
		}
		return less(a, b)
	})
	return out
}

// applyCRLs filters the stored CRLs as the rows: by owner labels and search text; a severity
// above ok keeps the CRLs that are not ok; source probe keeps none (they are files). Their
// order stays by path.
func (v view) applyCRLs(crls []inventory.CRL) []inventory.CRL {
	q := strings.ToLower(v.Q)
	out := []inventory.CRL{}
	for _, c := range crls {
		if v.Source == certs.SourceProbe || v.Severity > inventory.OK && c.State == inventory.CRLOK || !hasLabels(c.Labels, v.Labels) ||
			q != "" && !strings.Contains(strings.ToLower(strings.Join([]string{c.Path, c.Issuer, c.Problem, labelText(c.Labels)}, "\n")), q) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// crlSeverity colours a CRL's row as the alert that pages for it: CertificateRevocationListStale
// is critical, CertExpiryExporterFileError (the file cannot be read) a warning.
func crlSeverity(s inventory.CRLState) inventory.Severity {
	switch s {
	case inventory.CRLStale:
		return inventory.Critical
	case inventory.CRLError:
		return inventory.Warning
	}
	return inventory.OK
}

// hasLabels says whether have holds every label of want.
func hasLabels(have, want certs.Labels) bool {
	for _, l := range want {
		if have.Get(l.Name) != l.Value {
			return false
		}
	}
	return true
}

// owner is the filter of one owner label name: its values among all rows.
type owner struct {
	Name    string
	Options []option
}

// ownerOptions lists every owner label name of rows and CRLs with its values, the selected
// ones marked.
func ownerOptions(rows []inventory.Row, crls []inventory.CRL, selected certs.Labels) []owner {
	values := map[string][]string{}
	add := func(ls certs.Labels) {
		for _, l := range ls {
			if !slices.Contains(values[l.Name], l.Value) {
				values[l.Name] = append(values[l.Name], l.Value)
			}
		}
	}
	for _, r := range rows {
		add(r.Labels)
	}
	for _, c := range crls {
		add(c.Labels)
	}
	var out []owner
	for _, name := range slices.Sorted(maps.Keys(values)) {
		o := owner{Name: name, Options: []option{{Value: "", Label: "any"}}}
		vs := values[name]
		slices.Sort(vs)
		for _, x := range vs {
			o.Options = append(o.Options, option{Value: name + "=" + x, Label: x, Selected: selected.Get(name) == x})
		}
		out = append(out, o)
	}
	return out
}

// labelText is a row's owner labels for the page's script, one name=value a line.
func labelText(l certs.Labels) string {
	s := make([]string, len(l))
	for i, x := range l {
		s[i] = x.Name + "=" + x.Value
	}
	return strings.Join(s, "\n")
}

func searchText(r inventory.Row) string {
	secret := ""
	switch { // so that "shop/web-tls" finds its rows
	case r.Secret != "":
		secret = inventory.SecretPlace(r.Namespace, r.Secret, r.Key)
	case r.ConfigMap != "":
		secret = inventory.ConfigMapPlace(r.Namespace, r.ConfigMap, r.Key)
	}
	return strings.ToLower(strings.Join(append([]string{r.Domain, r.Subject, r.Issuer, r.Serial, r.Path,
		r.Lineage, r.Target, r.IP, secret, r.Chain.Reason, labelText(r.Labels)}, append(slices.Clone(r.SANs), r.ProblemTexts()...)...), "\n"))
}

type option struct {
	Value, Label string
	Selected     bool
}

type column struct {
	Label, Href, Arrow, AriaSort string
	Active                       bool
}

type pageData struct {
	R                   inventory.Report
	Rows                []inventory.Row
	Down                []inventory.SourceState
	CRLProblems         int // the CRLs shown that are not ok
	Q, Sort, Order      string
	Leaf                bool
	Query               string
	Severities, Sources []option
	Owners              []owner
	Columns             []column
	CSS                 template.CSS
	JS                  template.JS
}

func (v view) page(rep inventory.Report, owners []owner, rawQuery string) pageData {
	d := pageData{R: rep, Rows: rep.Certificates, Q: v.Q, Sort: v.Sort, Order: v.Order, Leaf: v.Leaf, Owners: owners,
		CSS: template.CSS(pageCSS), JS: template.JS(pageJS)}
	if rawQuery != "" {
		d.Query = "?" + rawQuery
	}
	d.CRLProblems = len(rep.CRLProblems())
	for _, s := range rep.Sources {
		if !s.Up {
			d.Down = append(d.Down, s)
		}
	}
	for _, s := range []inventory.Severity{inventory.OK, inventory.Warning, inventory.Critical, inventory.Expired} {
		label := s.String()
		if s == inventory.OK {
			label = "any"
		}
		d.Severities = append(d.Severities, option{Value: s.String(), Label: label, Selected: s == v.Severity})
	}
	for _, s := range [][2]string{{"", "all"}, {"file", "files"}, {"probe", "probes"}} {
		d.Sources = append(d.Sources, option{Value: s[0], Label: s[1], Selected: s[0] == v.Source})
	}
	for _, c := range [][2]string{{"Days left", "expiry"}, {"Domain", "domain"}, {"Where", "location"}, {"Issuer", "issuer"},
		{"Not after", "expiry"}, {"Chain", ""}, {"Revocation", ""}, {"Renewal", "lineage"}, {"Problems", "severity"}} {
		col := column{Label: c[0]}
		if c[1] != "" {
			order := "asc"
			if c[1] == "severity" {
				order = "desc" // worst first is what one wants from a first click
			}
			if c[1] == v.Sort && c[0] != "Not after" {
				col.Active = true
				col.AriaSort, col.Arrow = "ascending", " ▲"
				if v.Order == "desc" {
					col.AriaSort, col.Arrow = "descending", " ▼"
				}
				order = map[string]string{"asc": "desc", "desc": "asc"}[v.Order]
			}
			col.Href = v.link(c[1], order)
		}
		d.Columns = append(d.Columns, col)
	}
	return d
}

// link keeps the filter and changes the order.
func (v view) link(sort, order string) string {
	q := url.Values{"sort": {sort}, "order": {order}}
	if v.Q != "" {
		q.Set("q", v.Q)
	}
	if v.Severity != inventory.OK {
		q.Set("severity", v.Severity.String())
	}
	if v.Source != "" {
		q.Set("source", v.Source)
	}
	if v.Leaf {
		q.Set("leaf", "1")
	}
	for _, l := range v.Labels {
		q.Add("label", l.Name+"="+l.Value)
	}
	return "/certificates?" + q.Encode()
}

// when is the page's one date format: RFC 3339 in UTC, as the JSON, the problem texts and the
// alerts write times.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// runbook is the runbook section of an alert: the reason's section, or Fix for alerts without
// a reason label. The runbooks are the repository's, as the shipped rules' runbook_url.
func runbook(alert, reason string) string {
	return repoURL + "docs/runbooks/" + alert + ".md#" + cmp.Or(reason, "fix")
}

// problemRunbook is the runbook section of a source problem: a probe's, a file's, or an ACME
// client store's (its Source is the client, as cert_expiry_exporter_errors_total's lego_store),
// or Caddy's names past the probes' bound.
// A directory that cannot be watched is no file's error, whichever source reads it through the
// files source.
func problemRunbook(p inventory.Problem) string {
	switch {
	case p.Source == certs.SourceProbe:
		return runbook("CertificateProbeFailed", p.Reason)
	case p.Source == certs.SourceKubernetes && (slices.Contains(kube.ErrorReasons, p.Reason) || slices.Contains(kube.IngressReasons, p.Reason)):
		return runbook("CertExpiryExporterErrors", "kubernetes-"+p.Reason)
	case p.Source == certs.SourceKubernetes:
		// A Secret key without a usable certificate, or a cert-manager Certificate whose status
		// cannot be read: the page of CertExpiryExporterKubernetesObjectError.
		return runbook("CertExpiryExporterKubernetesObjectError", p.Reason)
	case p.Source == certs.SourceCaddy && p.Reason == caddy.ReasonTooManyTargets:
		return runbook("CertExpiryExporterErrors", "caddy-"+p.Reason)
	case !slices.Contains(files.Reasons, p.Reason):
		return runbook("CertExpiryExporterErrors", "files-"+p.Reason)
	case p.Source == certs.SourceFile, p.Source == certs.SourceClient:
		return runbook("CertExpiryExporterFileError", p.Reason)
	}
	return runbook("CertExpiryExporterErrors", p.Source+"_store-"+p.Reason)
}

// renewal is the Renewal column's verdict.
type renewal struct {
	Text string
	Bad  bool
}

// renewalState is the one renewal verdict of a row: a failed attempt, else an overdue
// certificate (the last attempt, if any, did not renew it: "ok" would contradict the problem
// "renewal overdue"), else ok once an attempt was seen.
func renewalState(x inventory.Row) renewal {
	switch r := x.Renewal; {
	case r == nil:
		return renewal{}
	case r.Failed:
		return renewal{"failed: " + r.Reason, true}
	case x.RenewalOverdue && r.LastAttempt != nil:
		return renewal{"overdue: the last attempt did not renew it", true}
	case x.RenewalOverdue:
		return renewal{"overdue: no attempt seen", true}
	case r.LastAttempt != nil:
		return renewal{"ok", false}
	}
	return renewal{"no attempt seen", false}
}
