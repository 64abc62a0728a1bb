package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// TestJoinsGolden: what other sources add to a certificate's series. A CA's renewal window
// (another source's snapshot) replaces the default renewal point, for the file and the served
// copy alike; a file of a lineage renewing against a staging server is staging although its
// issuer is not; a lineage's renewal state gives cert_renewal_failure.
func TestJoinsGolden(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Golden", now)
	// Short-lived (160 h) and on time: the window lies ahead.
	short := certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"short.example"}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(136 * time.Hour)}).Cert)
	other := certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"plain.example"}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(44 * 24 * time.Hour)}).Cert)
	start, end := now.Add(80*time.Hour), now.Add(100*time.Hour)
	stored := &source.Snapshot{
		Chains: []certs.Chain{
			{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/letsencrypt/live/short/cert.pem", Lineage: "short"}, Certs: []certs.Cert{short}},
			{Location: certs.Location{Source: certs.SourceFile, Path: "/srv/plain.pem"}, Certs: []certs.Cert{other}},
		},
		Renewals: []source.Renewal{{Client: "certbot", Lineage: "short", Domain: "short.example", Reason: "dns", Server: "https://acme-staging-v02.api.letsencrypt.org/directory"}},
	}
	served := &source.Snapshot{Chains: []certs.Chain{
		{Location: certs.Location{Source: certs.SourceProbe, Target: "short.example:443", IP: "127.0.0.1"}, Certs: []certs.Cert{short}},
	}}
	windows := &source.Snapshot{Windows: []source.Window{{Cert: short.Key(), Lineage: "short", Domain: "short.example", Serial: short.Serial, Start: start, End: end}}}
	c := New(storeWith(stored, served, windows), func() time.Time { return now })
	ts := func(t time.Time) string { return fmt.Sprintf("%g", float64(t.Unix())) }
	file := fmt.Sprintf(`domain="short.example",index="0",ip="",issuer="Golden Intermediate CA",lineage="short",path="/etc/letsencrypt/live/short/cert.pem",serial=%q,source="file",target=""`, short.Serial)
	probed := fmt.Sprintf(`domain="short.example",index="0",ip="127.0.0.1",issuer="Golden Intermediate CA",lineage="",path="",serial=%q,source="probe",target="short.example:443"`, short.Serial)
	plain := fmt.Sprintf(`domain="plain.example",index="0",ip="",issuer="Golden Intermediate CA",lineage="",path="/srv/plain.pem",serial=%q,source="file",target=""`, other.Serial)
	want := fmt.Sprintf(`
# HELP cert_renewal_due_timestamp_seconds When the certificate should have been renewed: NotBefore + 2/3 of its lifetime, or the ARI window start when known.
# TYPE cert_renewal_due_timestamp_seconds gauge
cert_renewal_due_timestamp_seconds{%[2]s} %[1]s
cert_renewal_due_timestamp_seconds{%[3]s} %[5]s
cert_renewal_due_timestamp_seconds{%[4]s} %[1]s
# HELP cert_renewal_failure 1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.
# TYPE cert_renewal_failure gauge
cert_renewal_failure{client="certbot",domain="short.example",lineage="short",reason="dns"} 1
# HELP cert_staging 1 when the certificate comes from a staging/test CA.
# TYPE cert_staging gauge
cert_staging{%[2]s} 1
cert_staging{%[3]s} 0
cert_staging{%[4]s} 0
`, ts(start), file, plain, probed, ts(other.NotBefore.Add(other.Lifetime()*2/3)))
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"cert_renewal_due_timestamp_seconds", "cert_staging", "cert_renewal_failure"); err != nil {
		t.Fatal(err)
	}
}
