package web

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// crlReport: a files source's CRL files, read from real generated CRLs: an nginx bundle of
// team pki with a fresh list and one 19 minutes before its nextUpdate (1/20 of its validity
// is 20), a list past its nextUpdate without owner labels, and a file with a block that does
// not parse.
func crlReport(t *testing.T) func() inventory.Report {
	t.Helper()
	pki := testcerts.NewPKI("Page", pageNow)
	decode := func(der ...[]byte) []certs.CRLInfo {
		var out []certs.CRLInfo
		for _, d := range der {
			got, _, err := certs.DecodeCRLs(d)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, got...)
		}
		return out
	}
	const day = 24 * time.Hour
	team := certs.NewLabels(map[string]string{"team": "pki"})
	store := inventory.New("files")
	store.Restart("files", true)(&source.Snapshot{CRLs: []source.CRLFile{
		{Path: "/etc/nginx/crl.pem", Labels: team, CRLs: decode(
			testcerts.CRL(pki.Intermediate, pageNow.Add(-day), pageNow.Add(6*day), big.NewInt(1), big.NewInt(2)),
			testcerts.CRL(pki.Root, pageNow.Add(-6*time.Hour-21*time.Minute), pageNow.Add(19*time.Minute)))},
		{Path: "/var/lib/crl/late.crl", CRLs: decode(testcerts.CRL(pki.Root, pageNow.Add(-2*day), pageNow.Add(-3*time.Hour)))},
		{Path: "/var/lib/crl/half.pem", Labels: team, Error: "PEM block 1 (X509 CRL): x509: malformed tbs crl"},
	}})
	return func() inventory.Report { return inventory.Build(store.View(), pageNow, inventory.DefaultThresholds) }
}

var crlRowRE = regexp.MustCompile(`(?s)<tr class="sev-[a-z]+" data-state.*?</tr>`)

// crlRows is the text of the page's CRL rows, a cell a column.
func crlRows(body string) []string {
	var got []string
	for _, row := range crlRowRE.FindAllString(body, -1) {
		var cells []string
		for _, c := range regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(row, -1) {
			cells = append(cells, strings.TrimSpace(spaceRE.ReplaceAllString(tagRE.ReplaceAllString(c[1], " "), " ")))
		}
		class, _, _ := strings.Cut(strings.TrimPrefix(row, `<tr class="`), `"`)
		got = append(got, strings.TrimSpace(class+": "+strings.Join(cells, " | ")))
	}
	return got
}

// TestPageCRLs: the CRL section says, exactly, each list's state coloured as its alert, its
// file, position and owner labels, dates, revoked count and problem, with the stale alert's
// runbook; the filters apply to it as to the rows.
func TestPageCRLs(t *testing.T) {
	get := func(query string) string {
		rec := httptest.NewRecorder()
		CertificatesHandler(crlReport(t), false).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/certificates"+query, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", query, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	body := get("")
	want := []string{
		"sev-ok: ok | file /etc/nginx/crl.pem #0 in file team=pki | Page Intermediate CA | 2026-02-28T12:00:00Z | 2026-03-07T12:00:00Z | 2 |",
		"sev-critical: stale | file /etc/nginx/crl.pem #1 in file team=pki | Page Root CA | 2026-03-01T05:39:00Z | 2026-03-01T12:19:00Z | 0 | stale: nextUpdate in 19m, not replaced yet",
		"sev-warning: error | file /var/lib/crl/half.pem team=pki |  | — | — | — | cannot be read: PEM block 1 (X509 CRL): x509: malformed tbs crl",
		"sev-critical: stale | file /var/lib/crl/late.crl #0 in file | Page Root CA | 2026-02-27T12:00:00Z | 2026-03-01T09:00:00Z | 0 | stale: nextUpdate passed 3h ago",
	}
	if got := crlRows(body); !slices.Equal(got, want) {
		t.Errorf("CRL rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if link := `<a href="https://github.com/cert-expiry-exporter/cert_expiry_exporter/blob/main/docs/runbooks/CertificateRevocationListStale.md#fix">stale: nextUpdate in 19m, not replaced yet</a>`; !strings.Contains(body, link) {
		t.Errorf("page lacks %s", link)
	}
	if meta := "less than 1/20 of the list's validity, at most 6h, left before"; !strings.Contains(body, meta) {
		t.Errorf("page lacks %q", meta)
	}
	// The summary points at the CRL table below the certificates.
	if sum := `<li class="sev-critical"><a href="#crls">3 CRL problem(s)</a></li>`; !strings.Contains(body, sum) {
		t.Errorf("page lacks %s", sum)
	}
	// The owner select offers the CRL files' team, though no certificate has one.
	if opt := `<option value="team=pki">pki</option>`; !strings.Contains(body, opt) {
		t.Errorf("page lacks %s", opt)
	}
	checkRepoLinks(t, body)

	for _, tc := range []struct {
		query string
		paths []string
	}{
		{"?label=team%3Dpki", []string{"/etc/nginx/crl.pem", "/etc/nginx/crl.pem", "/var/lib/crl/half.pem"}},
		{"?severity=warning", []string{"/etc/nginx/crl.pem", "/var/lib/crl/half.pem", "/var/lib/crl/late.crl"}},
		{"?q=late", []string{"/var/lib/crl/late.crl"}},
		{"?q=malformed", []string{"/var/lib/crl/half.pem"}},
		{"?source=probe", nil},
	} {
		var paths []string
		for _, r := range crlRows(get(tc.query)) {
			paths = append(paths, regexp.MustCompile(`file (\S+)`).FindStringSubmatch(r)[1])
		}
		if !slices.Equal(paths, tc.paths) {
			t.Errorf("%s: CRLs of %v, want %v", tc.query, paths, tc.paths)
		}
	}
	if body := get("?source=probe"); strings.Contains(body, `id="crls"`) {
		t.Error("source=probe: the CRL section shows without CRLs")
	}
}

// TestCRLsJSON fixes /certificates.json's crls[] (docs/certificates.md), filtered as the page.
func TestCRLsJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	CertificatesHandler(crlReport(t), true).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/certificates.json?label=team%3Dpki", nil))
	var doc struct {
		CRLs json.RawMessage `json:"crls"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "state": "ok",
    "path": "/etc/nginx/crl.pem",
    "index": 0,
    "labels": {
      "team": "pki"
    },
    "issuer": "Page Intermediate CA",
    "this_update": "2026-02-28T12:00:00Z",
    "next_update": "2026-03-07T12:00:00Z",
    "entries": 2,
    "problem": "",
    "error": ""
  },
  {
    "state": "stale",
    "path": "/etc/nginx/crl.pem",
    "index": 1,
    "labels": {
      "team": "pki"
    },
    "issuer": "Page Root CA",
    "this_update": "2026-03-01T05:39:00Z",
    "next_update": "2026-03-01T12:19:00Z",
    "entries": 0,
    "problem": "stale: nextUpdate in 19m, not replaced yet",
    "error": ""
  },
  {
    "state": "error",
    "path": "/var/lib/crl/half.pem",
    "index": null,
    "labels": {
      "team": "pki"
    },
    "issuer": "",
    "this_update": null,
    "next_update": null,
    "entries": 0,
    "problem": "cannot be read: PEM block 1 (X509 CRL): x509: malformed tbs crl",
    "error": "PEM block 1 (X509 CRL): x509: malformed tbs crl"
  }
]`
	var got bytes.Buffer
	if err := json.Indent(&got, doc.CRLs, "", "  "); err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Errorf("crls:\n%s\nwant:\n%s", got.String(), want)
	}
}
