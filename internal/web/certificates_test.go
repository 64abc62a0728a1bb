package web

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/caddy"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/kube"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

var pageNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// pageReport: certificates with hours and minutes left or expired hours ago, a certbot lineage
// whose renewal fails (with its intermediate), one whose last attempt succeeded but did not
// renew an overdue certificate, a probe missing its intermediate, and source problems.
func pageReport(t *testing.T) func() inventory.Report {
	t.Helper()
	pki := testcerts.NewPKI("Page", pageNow)
	var chains []certs.Chain
	add := func(loc certs.Location, withInter bool, name string, age, left time.Duration) {
		leaf := pki.Leaf(testcerts.Options{DNSNames: []string{name}, NotBefore: pageNow.Add(-age), NotAfter: pageNow.Add(left), Now: pageNow, Serial: big.NewInt(int64(len(chains) + 100))})
		xs := []*x509.Certificate{leaf.Cert}
		if withInter {
			xs = append(xs, pki.Intermediate.Cert)
		}
		ch := certs.Chain{Location: loc, Verify: certs.Verify(xs, certs.VerifyOptions{Roots: pki.Pool(), Now: pageNow})}
		for _, x := range xs {
			ch.Certs = append(ch.Certs, certs.New(x))
		}
		chains = append(chains, ch)
	}
	file := func(p, lineage string) certs.Location {
		return certs.Location{Source: certs.SourceFile, Path: p, Lineage: lineage}
	}
	const day = 24 * time.Hour
	add(file("/live/failing/fullchain.pem", "failing"), true, "failing.test", 90*day-(5*time.Hour+12*time.Minute), 5*time.Hour+12*time.Minute)
	add(file("/live/overdue/fullchain.pem", "overdue"), true, "overdue.test", 70*day, 20*day)
	add(file("/certs/minutes.pem", ""), true, "minutes.test", 90*day, 42*time.Minute)
	add(file("/certs/expired.pem", ""), true, "expired.test", 90*day, -3*time.Hour)
	add(certs.Location{Source: certs.SourceProbe, Target: "incomplete.test:443", IP: "127.0.0.1"}, false, "incomplete.test", 10*day, 80*day)
	attempt := pageNow.Add(-2 * time.Hour)
	store := inventory.New("test")
	store.Restart("test", true)(&source.Snapshot{
		Chains: chains,
		Renewals: []source.Renewal{
			{Client: "certbot", Lineage: "failing", LastAttempt: attempt, Reason: "dns", Message: "Some challenges have failed."},
			{Client: "certbot", Lineage: "overdue", LastAttempt: attempt, LastSuccess: attempt, Reason: "none"},
		},
		Problems: []source.Problem{
			{Source: certs.SourceFile, Where: "/certs/locked.pem", Reason: "permission", Message: "open /certs/locked.pem: permission denied"},
			{Source: certs.SourceProbe, Where: "gone.test:443", Reason: "dns", Message: "no such host"},
			{Source: "lego", Where: "/lego/certificates/a.json", Reason: "parse", Message: "bad JSON"},
			{Source: certs.SourceFile, Where: "/etc/ssl", Reason: "watch", Message: "not watched for changes"},
		},
	})
	return func() inventory.Report { return inventory.Build(store.View(), pageNow, inventory.DefaultThresholds) }
}

var (
	rowRE   = regexp.MustCompile(`(?s)<tr class="sev-[^"]*" data-severity.*?</tr>`)
	cellRE  = regexp.MustCompile(`(?s)<td class="(days|domain|renewal|problems)">(.*?)</td>`)
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// TestPageText: what each row says, exactly: time left in hours and minutes under a day, one
// date format, one renewal verdict that agrees with the problems, the renewal state on the leaf
// only (its intermediate does not repeat the failure), and a runbook link per problem.
func TestPageText(t *testing.T) {
	rec := httptest.NewRecorder()
	CertificatesHandler(pageReport(t), false).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/certificates", nil))
	body := rec.Body.String()
	var got []string
	for _, row := range rowRE.FindAllString(body, -1) {
		var cells []string
		for _, c := range cellRE.FindAllStringSubmatch(row, -1) {
			if c[1] == "domain" { // the name only, not the SANs and subject
				c[2], _, _ = strings.Cut(c[2], "</strong>")
			}
			cells = append(cells, strings.TrimSpace(spaceRE.ReplaceAllString(tagRE.ReplaceAllString(c[2], " "), " ")))
		}
		got = append(got, strings.TrimSpace(strings.Join(cells, " | ")))
	}
	want := []string{
		"expired expired 3h ago | expired.test | — |",
		"critical 42m | minutes.test | — | renewal overdue since 2026-01-30T12:28:00Z",
		"critical 5h 12m | failing.test | failed: dns last attempt 2026-03-01T10:00:00Z Some challenges have failed. | renewal overdue since 2026-01-30T17:12:00Z renewal failed: dns",
		"warning 20.0 days | overdue.test | overdue: the last attempt did not renew it last attempt 2026-03-01T10:00:00Z | renewal overdue since 2026-02-19T12:00:00Z",
		"critical 80.0 days | incomplete.test | — | chain does not verify: incomplete_chain",
	}
	for range 4 { // the intermediates behind the four files: no renewal state of their own
		want = append(want, "ok 1825.0 days | Page Intermediate CA | — |")
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, link := range []string{
		`<a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks/CertificateRenewalFailed.md#dns">renewal failed: dns</a>`,
		`<a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks/CertificateRenewalOverdue.md#fix">renewal overdue since 2026-02-19T12:00:00Z</a>`,
		`<a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks/CertificateVerifyFailed.md#incomplete_chain">chain does not verify: incomplete_chain</a>`,
		`file <code>/certs/locked.pem</code>: <a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks/CertExpiryExporterFileError.md#permission">permission</a> — open /certs/locked.pem: permission denied`,
		`probe <code>gone.test:443</code>: <a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks/CertificateProbeFailed.md#dns">dns</a> — no such host`,
		`lego <code>/lego/certificates/a.json</code>: <a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks/CertExpiryExporterErrors.md#lego_store-parse">parse</a> — bad JSON`,
		`file <code>/etc/ssl</code>: <a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks/CertExpiryExporterErrors.md#files-watch">watch</a> — not watched for changes`,
		`As of <time datetime="2026-03-01T12:00:00Z">2026-03-01T12:00:00Z</time>.`,
	} {
		if !strings.Contains(body, link) {
			t.Errorf("page lacks %s", link)
		}
	}
	if strings.Contains(body, " UTC") {
		t.Error(`a second date format ("… UTC") on the page`)
	}
	checkRepoLinks(t, body)
}

// TestRunbookAnchors: every section the page can link exists in docs/runbooks, for every reason
// the rows and source problems can carry.
func TestRunbookAnchors(t *testing.T) {
	var b strings.Builder
	link := func(u string) { fmt.Fprintf(&b, "<a href=\"%s\">\n", u) }
	for _, alert := range []string{"CertificateNotDeployed", "CertificateRenewalOverdue", "CertificateRevoked", "CertificateKeyMismatch",
		"CertificateChainExpiringSoon", "CertificateStaging", "CertificateValidityTooLong", "CertificateClientAuthMissing", "CertbotHookFailed"} {
		link(runbook(alert, ""))
	}
	// Rows carry the reasons CertificateVerifyFailed pages on (expiry and revocation have their
	// own alerts; a chain without a certificate has no row).
	for _, r := range []string{certs.ReasonNotYetValid, certs.ReasonUnknownAuthority, certs.ReasonHostnameMismatch, certs.ReasonIncompleteChain,
		certs.ReasonWrongOrder, certs.ReasonExpiredIntermediate, certs.ReasonOther} {
		link(runbook("CertificateVerifyFailed", r))
	}
	for _, r := range logparse.Reasons {
		link(runbook("CertificateRenewalFailed", r))
	}
	for _, r := range files.ErrorReasons {
		for _, src := range []string{certs.SourceFile, "lego", "caddy"} {
			link(problemRunbook(inventory.Problem{Source: src, Reason: r}))
		}
	}
	for _, r := range probe.FailureReasons {
		link(problemRunbook(inventory.Problem{Source: certs.SourceProbe, Reason: r}))
	}
	for _, r := range kube.Reasons {
		link(problemRunbook(inventory.Problem{Source: certs.SourceKubernetes, Reason: r}))
	}
	link(problemRunbook(inventory.Problem{Source: certs.SourceCaddy, Reason: caddy.ReasonTooManyTargets}))
	checkRepoLinks(t, b.String())
}

// TestPageWhere: the where cell names each kind of place a certificate is found in, a
// Kubernetes Secret's key among them, and the search finds a Secret by namespace/name.
func TestPageWhere(t *testing.T) {
	pki := testcerts.NewPKI("Where", pageNow)
	var chains []certs.Chain
	for i, loc := range []certs.Location{
		{Source: certs.SourceFile, Path: "/etc/ssl/a.pem"},
		{Source: certs.SourceProbe, Target: "b.test:443", IP: "192.0.2.1"},
		{Source: certs.SourceClient, Path: "/etc/prom/client.pem", Module: "mtls"},
		{Source: certs.SourceClient, Module: "vault"},
		{Source: certs.SourceKubernetes, Namespace: "shop", Secret: "web-tls", Key: "tls.crt", Lineage: "shop/web"},
		{Source: certs.SourceKubernetes, Namespace: "shop", ConfigMap: "trust", Key: "ca.crt"},
	} {
		leaf := pki.Leaf(testcerts.Options{DNSNames: []string{fmt.Sprintf("w%d.test", i)}, NotBefore: pageNow.Add(-time.Hour), NotAfter: pageNow.Add(time.Duration(i+10) * 24 * time.Hour), Now: pageNow})
		chains = append(chains, certs.Chain{Location: loc, Certs: []certs.Cert{certs.New(leaf.Cert)}})
	}
	store := inventory.New("test")
	store.Restart("test", true)(&source.Snapshot{Chains: chains})
	report := func() inventory.Report { return inventory.Build(store.View(), pageNow, inventory.DefaultThresholds) }
	whereRE := regexp.MustCompile(`(?s)<td class="where">(.*?)</td>`)
	cells := func(query string) []string {
		rec := httptest.NewRecorder()
		CertificatesHandler(report, false).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/certificates"+query, nil))
		var got []string
		for _, c := range whereRE.FindAllStringSubmatch(rec.Body.String(), -1) {
			got = append(got, strings.TrimSpace(spaceRE.ReplaceAllString(tagRE.ReplaceAllString(c[1], " "), " ")))
		}
		return got
	}
	want := []string{
		"file /etc/ssl/a.pem",
		"probe b.test:443 at 192.0.2.1",
		"client certificate of module mtls , file /etc/prom/client.pem",
		"client certificate of module vault , inline tls_config.cert",
		"Secret shop/web-tls key tls.crt lineage shop/web",
		"ConfigMap shop/trust key ca.crt",
	}
	if got := cells(""); !slices.Equal(got, want) {
		t.Errorf("where cells:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := cells("?q=shop/web-tls"); !slices.Equal(got, want[4:5]) {
		t.Errorf("search shop/web-tls: %q, want %q", got, want[4:5])
	}
	if got := cells("?q=shop/trust"); !slices.Equal(got, want[5:]) {
		t.Errorf("search shop/trust: %q, want %q", got, want[5:])
	}
}
