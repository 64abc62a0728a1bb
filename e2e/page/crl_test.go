package page

import (
	"math/big"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/web"
)

// crlReport: one certificate, and CRL files read from generated CRLs: team pki's bundle with a
// fresh list and a stale one, and a fresh list of no team.
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
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"healthy.test"}, Now: pageNow, NotBefore: pageNow.Add(-20 * day), NotAfter: pageNow.Add(70 * day)})
	store := inventory.New("files")
	store.Restart("files", true)(&source.Snapshot{
		Chains: []certs.Chain{{Location: certs.Location{Source: certs.SourceFile, Path: "/certs/healthy.pem"}, Certs: []certs.Cert{certs.New(leaf.Cert)}}},
		CRLs: []source.CRLFile{
			{Path: "/etc/nginx/crl.pem", Labels: certs.NewLabels(map[string]string{"team": "pki"}), CRLs: decode(
				testcerts.CRL(pki.Intermediate, pageNow.Add(-day), pageNow.Add(6*day), big.NewInt(1)),
				testcerts.CRL(pki.Root, pageNow.Add(-2*day), pageNow.Add(-time.Hour)))},
			{Path: "/var/lib/crl/root.crl", CRLs: decode(testcerts.CRL(pki.Root, pageNow.Add(-day), pageNow.Add(6*day)))},
		},
	})
	return func() inventory.Report { return inventory.Build(store.View(), pageNow, inventory.DefaultThresholds) }
}

type crlRow struct {
	Text   string `json:"text"`
	Colour string `json:"colour"`
}

const readCRLs = `Array.from(document.querySelectorAll("#crl-table tbody tr[data-state]")).filter(tr => !tr.hidden).map(tr => ({
  text: tr.querySelector(".where code").textContent + " " + tr.dataset.state,
  colour: getComputedStyle(tr.querySelector(".badge")).backgroundColor,
}))`

// TestPageCRLsInChromium: the CRL table is coloured as the alerts page (stale: critical), and
// the embedded script filters it as one types or chooses, as the server does.
func TestPageCRLsInChromium(t *testing.T) {
	ctx := browser(t)
	srv := httptest.NewServer(web.CertificatesHandler(crlReport(t), false))
	defer srv.Close()
	do(t, ctx, chromedp.Navigate(srv.URL+"/certificates"), chromedp.WaitVisible(chromedp.CSS("#crl-table")))
	ok, critical := "rgb(26, 127, 55)", "rgb(207, 34, 46)"
	want := []crlRow{{"/etc/nginx/crl.pem ok", ok}, {"/etc/nginx/crl.pem stale", critical}, {"/var/lib/crl/root.crl ok", ok}}
	if got := eval[[]crlRow](t, ctx, readCRLs); !slices.Equal(got, want) {
		t.Errorf("CRL rows:\n got %+v\nwant %+v", got, want)
	}
	choose := func(selector, value string) {
		eval[bool](t, ctx, `(() => { const s = document.querySelector(`+"`"+selector+"`"+`); s.value = "`+value+`"; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	}
	choose(`select[name=label]`, "team=pki")
	if got := eval[[]crlRow](t, ctx, readCRLs); !slices.Equal(got, want[:2]) {
		t.Errorf("team=pki: %+v", got)
	}
	choose(`select[name=severity]`, "warning")
	if got := eval[[]crlRow](t, ctx, readCRLs); !slices.Equal(got, want[1:2]) {
		t.Errorf("team=pki, at least warning: %+v", got)
	}
	choose(`select[name=label]`, "")
	choose(`select[name=severity]`, "ok")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS(`input[name="q"]`), "root.crl"))
	if got := eval[[]crlRow](t, ctx, readCRLs); !slices.Equal(got, want[2:]) {
		t.Errorf("q=root.crl: %+v", got)
	}
	choose(`select[name=source]`, "probe")
	if got := eval[[]crlRow](t, ctx, readCRLs); len(got) != 0 {
		t.Errorf("source=probe: %+v", got)
	}
	if url := eval[string](t, ctx, `location.href`); !strings.Contains(url, "source=probe") {
		t.Errorf("url %s", url)
	}
}
