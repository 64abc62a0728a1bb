package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/ari"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// TestARIGolden: the window series, and the joins on the certificate series: the ARI start
// replaces the default renewal point (for the file and the served copy alike), and a file of a
// lineage renewing against a staging server is staging although its issuer is not.
func TestARIGolden(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Golden", now)
	// Short-lived (160 h) and on time: the window lies ahead.
	short := certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"short.example"}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(136 * time.Hour)}).Cert)
	other := certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"plain.example"}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(44 * 24 * time.Hour)}).Cert)
	start, end := now.Add(80*time.Hour), now.Add(100*time.Hour)
	snap := ari.NewSnapshot([]ari.Entry{{Cert: short, Info: ari.Info{Lineage: "short", Domain: "short.example", Serial: short.Serial,
		Window: ari.Window{Start: start, End: end, ExplanationURL: "https://ca.example/ari?a=1"}, FetchedAt: now}}}, nil)
	j := joins{ari: snap, staging: map[string]bool{"short": true}}
	chains := []certs.Chain{
		{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/letsencrypt/live/short/cert.pem", Lineage: "short"}, Certs: []certs.Cert{short}},
		{Location: certs.Location{Source: certs.SourceProbe, Target: "short.example:443", IP: "127.0.0.1"}, Certs: []certs.Cert{short}},
		{Location: certs.Location{Source: certs.SourceFile, Path: "/srv/plain.pem"}, Certs: []certs.Cert{other}},
	}
	c := funcCollector(func(ch chan<- prometheus.Metric) {
		collectARI(ch, snap)
		collectChains(ch, chains, now, j)
	})
	ts := func(t time.Time) string { return fmt.Sprintf("%g", float64(t.Unix())) }
	file := fmt.Sprintf(`domain="short.example",index="0",ip="",issuer="Golden Intermediate CA",lineage="short",path="/etc/letsencrypt/live/short/cert.pem",serial=%q,source="file",target=""`, short.Serial)
	served := fmt.Sprintf(`domain="short.example",index="0",ip="127.0.0.1",issuer="Golden Intermediate CA",lineage="",path="",serial=%q,source="probe",target="short.example:443"`, short.Serial)
	plain := fmt.Sprintf(`domain="plain.example",index="0",ip="",issuer="Golden Intermediate CA",lineage="",path="/srv/plain.pem",serial=%q,source="file",target=""`, other.Serial)
	want := fmt.Sprintf(`
# HELP cert_ari_info The CA's explanation URL for the renewal window; always 1.
# TYPE cert_ari_info gauge
cert_ari_info{domain="short.example",explanation_url="https://ca.example/ari?a=1",lineage="short",serial=%[1]q} 1
# HELP cert_ari_window_end_timestamp_seconds End of the renewal window the CA suggests; in the past when the CA wants the certificate replaced now.
# TYPE cert_ari_window_end_timestamp_seconds gauge
cert_ari_window_end_timestamp_seconds{domain="short.example",lineage="short",serial=%[1]q} %[3]s
# HELP cert_ari_window_start_timestamp_seconds Start of the renewal window the CA suggests (ACME Renewal Information, RFC 9773).
# TYPE cert_ari_window_start_timestamp_seconds gauge
cert_ari_window_start_timestamp_seconds{domain="short.example",lineage="short",serial=%[1]q} %[2]s
# HELP cert_renewal_due_timestamp_seconds When the certificate should have been renewed: NotBefore + 2/3 of its lifetime, or the ARI window start when known.
# TYPE cert_renewal_due_timestamp_seconds gauge
cert_renewal_due_timestamp_seconds{%[4]s} %[2]s
cert_renewal_due_timestamp_seconds{%[5]s} %[2]s
cert_renewal_due_timestamp_seconds{%[6]s} %[7]s
# HELP cert_staging 1 when the certificate comes from a staging/test CA.
# TYPE cert_staging gauge
cert_staging{%[4]s} 1
cert_staging{%[5]s} 0
cert_staging{%[6]s} 0
`, short.Serial, ts(start), ts(end), file, served, plain, ts(other.NotBefore.Add(other.Lifetime()*2/3)))
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"cert_ari_info", "cert_ari_window_start_timestamp_seconds", "cert_ari_window_end_timestamp_seconds",
		"cert_renewal_due_timestamp_seconds", "cert_staging"); err != nil {
		t.Fatal(err)
	}
	// Both quiet conditions of the short-lived certificate hold: renewal point and window ahead.
	if !start.After(now) || !end.After(now) {
		t.Fatal("window not ahead")
	}
}
