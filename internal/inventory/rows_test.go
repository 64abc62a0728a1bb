package inventory

import (
	"cmp"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/alerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

type fixture struct {
	pki *testcerts.PKI
}

// leaf makes a certificate for name issued `age` ago with the given lifetime.
func (f fixture) leaf(name string, serial int64, age, lifetime time.Duration) *testcerts.Cert {
	return f.pki.Leaf(testcerts.Options{DNSNames: []string{name}, Serial: big.NewInt(serial), Now: now,
		NotBefore: now.Add(-age), NotAfter: now.Add(-age + lifetime)})
}

func chain(loc certs.Location, verify string, cs ...*testcerts.Cert) certs.Chain {
	ch := certs.Chain{Location: loc, Verify: certs.VerifyResult{Reason: verify}}
	var xs []*x509.Certificate
	for _, c := range cs {
		ch.Certs = append(ch.Certs, certs.New(c.Cert))
		xs = append(xs, c.Cert)
	}
	ch.Verify.ChainExpiry = xs[0].NotAfter
	for _, x := range xs {
		if x.NotAfter.Before(ch.Verify.ChainExpiry) {
			ch.Verify.ChainExpiry = x.NotAfter
		}
	}
	return ch
}

func file(path, lineage string) certs.Location {
	return certs.Location{Source: certs.SourceFile, Path: path, Lineage: lineage}
}

func probed(target string) certs.Location {
	return certs.Location{Source: certs.SourceProbe, Target: target, IP: "127.0.0.1"}
}

type want struct {
	domain   string
	index    int
	severity Severity
	judged   bool
	problems []string
}

// TestBuild checks each rule the alerts use, one certificate per rule, and the order.
func TestBuild(t *testing.T) {
	f := fixture{testcerts.NewPKI("Test", now)}
	// An intermediate that expires in two days, before its leaf.
	dyingInter := testcerts.New(testcerts.Options{CN: "Dying Intermediate", IsCA: true, Issuer: f.pki.Root, Serial: big.NewInt(900), Now: now,
		NotBefore: now.Add(-400 * day), NotAfter: now.Add(2 * day)})
	dyingLeaf := testcerts.New(testcerts.Options{DNSNames: []string{"dying-chain.test"}, Issuer: dyingInter, Serial: big.NewInt(901), Now: now,
		NotBefore: now.Add(-10 * day), NotAfter: now.Add(80 * day)})
	expiredRoot := testcerts.New(testcerts.Options{CN: "Old Root", IsCA: true, Serial: big.NewInt(902), Now: now,
		NotBefore: now.Add(-3650 * day), NotAfter: now.Add(-day)})
	staging := testcerts.New(testcerts.Options{CN: "(STAGING) Counterfeit Cashew R10", IsCA: true, Serial: big.NewInt(903), Now: now,
		NotBefore: now.Add(-day), NotAfter: now.Add(999 * day)})
	stagingLeaf := testcerts.New(testcerts.Options{DNSNames: []string{"staging.test"}, Issuer: staging, Serial: big.NewInt(904), Now: now,
		NotBefore: now.Add(-10 * day), NotAfter: now.Add(80 * day)})

	revoked := chain(probed("revoked.test:443"), certs.ReasonRevoked, f.leaf("revoked.test", 13, 10*day, 90*day), f.pki.Intermediate)
	revoked.Revocation = &certs.Revocation{Method: "crl", Revoked: true, CheckedAt: now.Add(-time.Hour)}

	r := Build(viewOf(&source.Snapshot{
		Chains: []certs.Chain{
			chain(file("/le/live/healthy/fullchain.pem", "healthy"), certs.ReasonOK, f.leaf("healthy.test", 1, 20*day, 90*day), f.pki.Intermediate),
			chain(file("/certs/six.pem", ""), certs.ReasonOK, f.leaf("six-days.test", 2, 84*day, 90*day)),
			chain(file("/certs/two.pem", ""), certs.ReasonOK, f.leaf("two-days.test", 3, 88*day, 90*day)),
			chain(file("/certs/expired.pem", ""), certs.ReasonExpired, f.leaf("expired.test", 4, 91*day, 90*day)),
			// 160 hours: less than 7 days left from the start, quiet until its renewal point
			// (4.44 days) plus the grace (12h) has passed.
			chain(file("/certs/short-fresh.pem", ""), certs.ReasonOK, f.leaf("short-fresh.test", 5, day, 160*time.Hour)),
			chain(file("/certs/short-grace.pem", ""), certs.ReasonOK, f.leaf("short-grace.test", 6, 110*time.Hour, 160*time.Hour)),
			chain(file("/certs/short-late.pem", ""), certs.ReasonOK, f.leaf("short-late.test", 7, 120*time.Hour, 160*time.Hour)),
			// 90 days with 20 left: past its renewal point (30 days left) though far from 7 days.
			chain(file("/le/live/overdue/fullchain.pem", "overdue"), certs.ReasonOK, f.leaf("overdue.test", 8, 70*day, 90*day)),
			chain(file("/le/live/failing/fullchain.pem", "failing"), certs.ReasonOK, f.leaf("failing.test", 9, 30*day, 90*day)),
			chain(file("/certs/dying.pem", ""), certs.ReasonOK, dyingLeaf, dyingInter),
			chain(file("/etc/ssl/bundle.pem", ""), certs.ReasonExpired, expiredRoot),
			chain(file("/certs/incomplete.pem", ""), certs.ReasonIncompleteChain, f.leaf("file-incomplete.test", 10, 10*day, 90*day)),
			chain(probed("mismatch.test:443"), certs.ReasonHostnameMismatch, f.leaf("mismatch.test", 11, 11*day, 90*day), f.pki.Intermediate),
			chain(file("/le/live/staging/fullchain.pem", "staging"), certs.ReasonUnknownAuthority, stagingLeaf, staging),
			revoked,
		},
		Renewals: []source.Renewal{
			{Client: "certbot", Lineage: "healthy", LastAttempt: now.Add(-6 * time.Hour), Reason: "none"},
			{Client: "certbot", Lineage: "failing", LastAttempt: now.Add(-6 * time.Hour), Reason: "dns", Hooks: []string{"deploy"}},
		},
	}), now, DefaultThresholds)

	wants := []want{
		{"expired.test", 0, Expired, true, nil},
		{"Old Root", 0, Expired, false, nil}, // same NotAfter: ordered by path
		{"short-late.test", 0, Critical, true, []string{"renewal overdue since 2026-02-28T22:40:00Z"}},
		{"Dying Intermediate", 1, Critical, false, nil},
		{"two-days.test", 0, Critical, true, []string{"renewal overdue since 2026-02-01T12:00:00Z"}},
		{"short-grace.test", 0, OK, true, nil},
		{"short-fresh.test", 0, OK, true, nil},
		{"six-days.test", 0, Warning, true, []string{"renewal overdue since 2026-02-05T12:00:00Z"}},
		{"overdue.test", 0, Warning, true, []string{"renewal overdue since 2026-02-19T12:00:00Z"}},
		{"failing.test", 0, Warning, true, []string{"renewal failed: dns", "deploy hook failed"}},
		{"healthy.test", 0, OK, true, nil},
		{"mismatch.test", 0, Critical, true, []string{"chain does not verify: hostname_mismatch"}},
		{"dying-chain.test", 0, Warning, true, []string{"a chain certificate expires first, at 2026-03-03T12:00:00Z"}},
		{"file-incomplete.test", 0, Critical, true, []string{"chain does not verify: incomplete_chain"}}, // as CertificateVerifyFailed for files
		{"staging.test", 0, Warning, true, []string{"issued by a staging/test CA"}},
		{"revoked.test", 0, Critical, true, []string{"revoked (crl)"}},
	}
	var got []want
	for _, x := range r.Certificates {
		if x.IsCA && x.Index > 0 && x.Domain != "Dying Intermediate" {
			continue // the shared intermediates are checked by the count below
		}
		got = append(got, want{x.Domain, x.Index, x.Severity, x.Judged, x.ProblemTexts()})
	}
	if len(got) != len(wants) {
		for _, g := range got {
			t.Logf("%+v", g)
		}
		t.Fatalf("got %d rows, want %d", len(got), len(wants))
	}
	for i := range wants {
		w, g := wants[i], got[i]
		if g.domain != w.domain || g.index != w.index || g.severity != w.severity || g.judged != w.judged || !slices.Equal(g.problems, nonNil(w.problems)) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if len(r.Certificates) != 20 { // 15 chains, 5 with a second certificate
		t.Errorf("%d rows, want 20", len(r.Certificates))
	}
	for i := 1; i < len(r.Certificates); i++ {
		if r.Certificates[i].NotAfter.Before(r.Certificates[i-1].NotAfter) {
			t.Errorf("row %d expires before row %d", i, i-1)
		}
	}
	wantSummary := Summary{Total: 20, OK: 7, Warning: 5, Critical: 6, Expired: 2, Worst: Expired}
	if r.Summary != wantSummary {
		t.Errorf("summary %+v, want %+v", r.Summary, wantSummary)
	}

	// The join: a lineage's state reaches its leaf, and only that: the certificates behind it
	// are not what the lineage renews, and would repeat its failure.
	for _, x := range r.Certificates {
		switch {
		case (x.Lineage == "failing" || x.Lineage == "healthy") && x.Index == 0:
			if x.Renewal == nil || x.Renewal.Lineage != x.Lineage {
				t.Errorf("%s #%d: renewal %+v, want lineage %s", x.Domain, x.Index, x.Renewal, x.Lineage)
			}
		case x.Renewal != nil:
			t.Errorf("%s: unexpected renewal %+v", x.Domain, x.Renewal)
		}
		if (x.Revocation != nil) != (x.Domain == "revoked.test") {
			t.Errorf("%s #%d: revocation %+v", x.Domain, x.Index, x.Revocation)
		}
	}
}

// TestThresholds: `check --warning/--critical` move the fixed thresholds; the renewal point
// still gates them.
func TestThresholds(t *testing.T) {
	f := fixture{testcerts.NewPKI("Test", now)}
	v := viewOf(&source.Snapshot{Chains: []certs.Chain{
		chain(file("/a.pem", ""), certs.ReasonOK, f.leaf("ten-days.test", 1, 80*day, 90*day)),
		chain(file("/b.pem", ""), certs.ReasonOK, f.leaf("fresh-short.test", 2, time.Hour, 10*day)),
	}})
	for _, tc := range []struct {
		th   Thresholds
		want []Severity
	}{
		// Rows: fresh-short (9.96 days left, not due), then ten-days (overdue).
		{DefaultThresholds, []Severity{OK, Warning}},
		{Thresholds{Warning: 30 * day, Critical: 14 * day, Grace: 12 * time.Hour}, []Severity{OK, Critical}},
		{Thresholds{Warning: 11 * day, Critical: 5 * day, Grace: 12 * time.Hour}, []Severity{OK, Warning}},
	} {
		r := Build(v, now, tc.th)
		var got []Severity
		for _, x := range r.Certificates {
			got = append(got, x.Severity)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.th, got, tc.want)
		}
	}
}

func TestSeverityText(t *testing.T) {
	for _, s := range []Severity{OK, Warning, Critical, Expired} {
		b, _ := s.MarshalText()
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v: round trip gave %v, %v", s, back, err)
		}
	}
	var s Severity
	if err := s.UnmarshalText([]byte("bad")); err == nil || err.Error() != `unknown severity "bad" (one of ok, warning, critical, expired)` {
		t.Errorf("error %v", err)
	}
}

// TestVerifyPagesAsRule: `check` pages for a chain exactly when the shipped
// CertificateVerifyFailed rule's selectors match its cert_chain_verified series, for every
// source and reason; a rule change (a source or reason added) fails here until verifyPages
// follows. The rule's CA-first exclusion (cert_info is_ca) is not judged here: rows of CAs are
// not judged at all.
func TestVerifyPagesAsRule(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "alerts", alerts.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	rf, err := alerts.ParseRules(data)
	if err != nil {
		t.Fatal(err)
	}
	var expr string
	for _, r := range rf.Rules() {
		if r.Alert == "CertificateVerifyFailed" {
			expr = r.Expr
		}
	}
	var selectors [][]matcher
	for _, m := range regexp.MustCompile(`cert_chain_verified\{([^}]*)\}`).FindAllStringSubmatch(expr, -1) {
		selectors = append(selectors, parseSelector(t, m[1]))
	}
	if len(selectors) == 0 {
		t.Fatalf("no cert_chain_verified selector in CertificateVerifyFailed's expr:\n%s", expr)
	}
	var locs []certs.Location
	for _, src := range []string{certs.SourceFile, certs.SourceLego, certs.SourceCaddy, certs.SourceKubernetes} {
		for _, path := range []string{"/le/live/a/fullchain.pem", "/le/live/a/cert.pem", "/srv/private-ca.pem", ""} {
			locs = append(locs, certs.Location{Source: src, Path: path})
		}
	}
	locs = append(locs, certs.Location{Source: certs.SourceProbe, Target: "a:443", IP: "127.0.0.1"})
	reasons := []string{certs.ReasonOK, certs.ReasonExpired, certs.ReasonNotYetValid, certs.ReasonUnknownAuthority,
		certs.ReasonHostnameMismatch, certs.ReasonIncompleteChain, certs.ReasonWrongOrder, certs.ReasonExpiredIntermediate,
		certs.ReasonRevoked, certs.ReasonNoCertificate, certs.ReasonOther}
	pages := 0
	for _, loc := range locs {
		for _, reason := range reasons {
			series := map[string]string{"source": loc.Source, "path": loc.Path, "reason": reason}
			rule := slices.ContainsFunc(selectors, func(sel []matcher) bool {
				return !slices.ContainsFunc(sel, func(m matcher) bool { return !m.matches(series[m.name]) })
			})
			ch := certs.Chain{Location: loc, Verify: certs.VerifyResult{Reason: reason}}
			if got := verifyPages(&ch); got != rule {
				t.Errorf("verifyPages(%s %q, %s) = %v, the rule pages: %v", loc.Source, loc.Path, reason, got, rule)
			}
			if rule {
				pages++
			}
		}
	}
	// The rule as shipped: a probe for 8 reasons; files, lego, Caddy and Kubernetes for 3 each,
	// on the 3 paths that are not /cert.pem.
	if pages != 8+4*3*3 {
		t.Errorf("%d (location, reason) pairs page, want %d: the rule changed, update this count", pages, 8+4*3*3)
	}
}

// matcher is one label matcher of a PromQL selector: name op "value".
type matcher struct {
	name, op, value string
}

func (m matcher) matches(v string) bool {
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	}
	// PromQL regular expressions are anchored at both ends.
	return regexp.MustCompile("^(?s:"+m.value+")$").MatchString(v) == (m.op == "=~")
}

// parseSelector parses the matchers between a selector's braces, failing on anything else so
// that no matcher of the rule is silently left out of the comparison.
func parseSelector(t *testing.T, sel string) []matcher {
	t.Helper()
	re := regexp.MustCompile(`\s*(\w+)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*(,|$)`)
	var out []matcher
	for rest := sel; rest != ""; {
		m := re.FindStringSubmatchIndex(rest)
		if m == nil || m[0] != 0 {
			t.Fatalf("selector {%s}: cannot parse %q", sel, rest)
		}
		value, err := strconv.Unquote(rest[m[6]:m[7]])
		if err != nil {
			t.Fatalf("selector {%s}: %v", sel, err)
		}
		out = append(out, matcher{rest[m[2]:m[3]], rest[m[4]:m[5]], value})
		rest = rest[m[1]:]
	}
	return out
}

// TestARIRenewalPoint: when the CA's renewal window starts early (a mass revocation ahead),
// the page and `check` judge by it, as the alert rules do.
func TestARIRenewalPoint(t *testing.T) {
	f := fixture{testcerts.NewPKI("ARI", now)}
	asked := chain(file("/le/live/asked/fullchain.pem", "asked"), certs.ReasonOK, f.leaf("asked.test", 1, 20*day, 90*day), f.pki.Intermediate)
	plain := chain(file("/le/live/plain/fullchain.pem", "plain"), certs.ReasonOK, f.leaf("plain.test", 2, 20*day, 90*day), f.pki.Intermediate)
	start := now.Add(-2 * day)
	windows := &source.Snapshot{Windows: []source.Window{{Cert: asked.Certs[0].Key(), Lineage: "asked", Start: start, End: now.Add(day)}}}
	r := Build(viewOf(&source.Snapshot{Chains: []certs.Chain{asked, plain}}, windows), now, DefaultThresholds)
	got := map[string]Row{}
	for _, x := range r.Certificates {
		if x.Index == 0 {
			got[x.Domain] = x
		}
	}
	if a := got["asked.test"]; !a.RenewalDue.Equal(start) || !a.RenewalOverdue || a.Severity != Warning {
		t.Errorf("asked.test: due %v overdue %v severity %v; want the window start, overdue, warning", a.RenewalDue, a.RenewalOverdue, a.Severity)
	}
	if p := got["plain.test"]; !p.RenewalDue.Equal(p.NotBefore.Add(60*day)) || p.RenewalOverdue || p.Severity != OK {
		t.Errorf("plain.test: due %v overdue %v severity %v; want NotBefore+60d, not overdue, ok", p.RenewalDue, p.RenewalOverdue, p.Severity)
	}
}

// TestPolicyFindings: a publicly-trusted leaf valid for longer than ballot SC-081 allows is a
// warning that names CertificateValidityTooLong; the same leaf from a private CA is not.
func TestPolicyFindings(t *testing.T) {
	f := fixture{testcerts.NewPKI("Policy", now)}
	// Issued 2026-02-01, before the 200-day step: 398 days allowed, 399 and a second given.
	long := f.leaf("long.test", 1, 28*day, 399*day)
	public := chain(file("/etc/ssl/public.pem", ""), certs.ReasonOK, long, f.pki.Intermediate)
	public.Verify.Public = true
	private := chain(file("/etc/ssl/private.pem", ""), certs.ReasonOK, long, f.pki.Intermediate)
	r := Build(viewOf(&source.Snapshot{Chains: []certs.Chain{public, private}}), now, DefaultThresholds)
	for _, x := range r.Certificates {
		if x.Index != 0 {
			continue
		}
		var want []Finding
		sev := OK
		if x.Path == "/etc/ssl/public.pem" {
			want = []Finding{{Text: "valid for 400 days, longer than the 398 days ballot SC-081 allows a publicly-trusted certificate issued at 2026-02-01T12:00:00Z",
				Alert: "CertificateValidityTooLong"}}
			sev = Warning
		}
		if !slices.Equal(x.Problems, nonNil(want)) || x.Severity != sev {
			t.Errorf("%s: %v %+v, want %v %+v", x.Path, x.Severity, x.Problems, sev, want)
		}
	}
}

// TestClientAuthFinding: a client certificate without clientAuth is critical and names
// CertificateClientAuthMissing.
func TestClientAuthFinding(t *testing.T) {
	f := fixture{testcerts.NewPKI("Client", now)}
	leaf := f.pki.Leaf(testcerts.Options{CN: "api-client.test", Now: now, ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	ch := chain(file("/etc/ssl/client.pem", ""), certs.ReasonOK, leaf, f.pki.Intermediate)
	ch.Usage = certs.UsageClient
	r := Build(viewOf(&source.Snapshot{Chains: []certs.Chain{ch}}), now, DefaultThresholds)
	x := r.Certificates[0]
	want := []Finding{{Text: "used as a client certificate (usage: client) but its extended key usage lacks clientAuth", Alert: "CertificateClientAuthMissing"}}
	if x.Index != 0 || x.Severity != Critical || !slices.Equal(x.Problems, want) {
		t.Errorf("row %d: %v %+v, want critical %+v", x.Index, x.Severity, x.Problems, want)
	}
}

// TestKeystoreEntriesJudged: a Java keystore is a chain per private key entry (named by its
// alias, its leaf first) and one of its trusted entries; the leaf of every key entry is judged,
// as the alerts page on each index 0, and the CA certificates are not.
func TestKeystoreEntriesJudged(t *testing.T) {
	f := fixture{testcerts.NewPKI("Keystore", now)}
	entry := func(key string, xs ...*testcerts.Cert) certs.Chain {
		loc := file("/opt/app/keystore.jks", "")
		loc.Key = key
		ch := chain(loc, certs.ReasonOK, xs...)
		for i := range ch.Certs {
			ch.Certs[i].Alias = cmp.Or(key, "root")
		}
		ch.Verify.ChainExpiry = ch.Certs[0].NotAfter
		return ch
	}
	chains := []certs.Chain{
		entry("a", f.leaf("a.test", 1, 10*day, 90*day), f.pki.Intermediate),
		entry("b", f.leaf("b.test", 2, 80*day, 90*day)),
		entry("", f.pki.Root),
	}
	r := Build(viewOf(&source.Snapshot{Chains: chains}), now, DefaultThresholds)
	var got []string
	for _, x := range r.Certificates {
		got = append(got, x.Key+"/"+x.Alias+"#"+strconv.Itoa(x.Index)+" judged="+strconv.FormatBool(x.Judged)+" "+x.Severity.String())
	}
	want := []string{"b/b#0 judged=true warning", "a/a#0 judged=true ok", "a/a#1 judged=false ok", "/root#0 judged=false ok"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if r.Summary.Worst != Warning {
		t.Errorf("worst %v, want warning (b.test is past its renewal point)", r.Summary.Worst)
	}
}

// TestConfigMapBundleNotJudged: the certificates of a ConfigMap's CA bundle
// (kubernetes.configmaps) show their days left but are never judged, not even a pinned leaf
// there, as the alert rules' not_ca leaves them out; the same leaf in a Secret is.
func TestConfigMapBundleNotJudged(t *testing.T) {
	f := fixture{testcerts.NewPKI("Trust", now)}
	pinned := f.leaf("legacy.test", 1, 89*day, 90*day) // a day left
	inCM := certs.Location{Source: certs.SourceKubernetes, Namespace: "web", ConfigMap: "trust", Key: "ca.crt"}
	inSecret := certs.Location{Source: certs.SourceKubernetes, Namespace: "web", Secret: "legacy-tls", Key: "tls.crt"}
	r := Build(viewOf(&source.Snapshot{Chains: []certs.Chain{
		chain(inCM, certs.ReasonOK, pinned, f.pki.Root),
		chain(inSecret, certs.ReasonOK, pinned),
	}}), now, DefaultThresholds)
	var got []string
	for _, x := range r.Certificates {
		got = append(got, x.ConfigMap+x.Secret+"#"+strconv.Itoa(x.Index)+" judged="+strconv.FormatBool(x.Judged)+" "+x.Severity.String()+" "+strconv.Itoa(len(x.Problems)))
	}
	want := []string{"trust#0 judged=false critical 0", "legacy-tls#0 judged=true critical 1", "trust#1 judged=false ok 0"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
}
