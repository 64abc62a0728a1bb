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

// TestJoinsGolden: what other sources add to a certificate's series. A file of a lineage
// renewing against a staging server is staging although its issuer is not (its served copy,
// judged by the issuer, is not); a lineage's renewal state gives cert_renewal_failure. A CA's
// renewal window is no certificate series: the rules join cert_ari_window_start_timestamp_seconds.
func TestJoinsGolden(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Golden", now)
	short := certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"short.example"}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(136 * time.Hour)}).Cert)
	other := certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"plain.example"}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(44 * 24 * time.Hour)}).Cert)
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
	windows := &source.Snapshot{Windows: []source.Window{{Cert: short.Key(), Lineage: "short", Domain: "short.example", Serial: short.Serial, Start: now.Add(80 * time.Hour), End: now.Add(100 * time.Hour)}}}
	c := New(storeWith(stored, served, windows), func() time.Time { return now })
	const common = `index="0",issuer="Golden Intermediate CA",key_type="ecdsa-p256"`
	want := fmt.Sprintf(`
# HELP cert_info Descriptive certificate data; always 1.
# TYPE cert_info gauge
cert_info{domain="plain.example",eku="server_auth,client_auth",%[1]s,path="/srv/plain.pem",sans="plain.example",serial=%[3]q,signature_algorithm="ECDSA-SHA256",source="file"} 1
cert_info{domain="short.example",eku="server_auth,client_auth",index="0",ip="127.0.0.1",issuer="Golden Intermediate CA",key_type="ecdsa-p256",sans="short.example",serial=%[2]q,signature_algorithm="ECDSA-SHA256",source="probe",target="short.example:443"} 1
cert_info{domain="short.example",eku="server_auth,client_auth",%[1]s,lineage="short",path="/etc/letsencrypt/live/short/cert.pem",sans="short.example",serial=%[2]q,signature_algorithm="ECDSA-SHA256",source="file",staging="true"} 1
# HELP cert_renewal_failure 1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.
# TYPE cert_renewal_failure gauge
cert_renewal_failure{client="certbot",domain="short.example",lineage="short",reason="dns"} 1
`, common, short.Serial, other.Serial)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "cert_info", "cert_renewal_failure"); err != nil {
		t.Fatal(err)
	}
}
