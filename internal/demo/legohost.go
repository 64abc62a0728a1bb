package demo

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// legoTime is the timestamp format of lego's log (Go's log package: local time, no zone).
const legoTime = "2006/01/02 15:04:05"

// legoCert is one certificate of the demo's lego host, renewed by a daily cron job.
type legoCert struct {
	name             string
	issued, lifetime time.Duration
	// failType/failDetail: the ACME problem of its failing renewals; empty when not due.
	failType, failDetail string
}

var legoCerts = []legoCert{
	{name: "lego-ok.demo.test", issued: 30 * day, lifetime: 90 * day},
	{name: "lego-failing.demo.test", issued: 70 * day, lifetime: 90 * day, failType: "unauthorized",
		failDetail: "203.0.113.20: Invalid response from http://lego-failing.demo.test/.well-known/acme-challenge/Xq3v9KcT0pLw2mZ8rN5sB1yH7dF4gJ6aE0uQ2iVoCtM: 404"},
}

// legoHost lays out a lego --path (certificates/<name>.crt, .issuer.crt, .key, .json as lego
// writes them) under dir/lego and the log its cron line appends stderr to, dir/log/lego.log:
// the last two daily runs for each certificate, in lego 4.9.1's wording (as captured from a real
// lego against Pebble).
func legoHost(dir string, pki *testcerts.PKI, now time.Time) error {
	certs := filepath.Join(dir, "lego", "certificates")
	notAfter := map[string]time.Time{}
	for _, c := range legoCerts {
		leaf := pki.Leaf(testcerts.Options{DNSNames: []string{c.name}, Now: now, NotBefore: now.Add(-c.issued), NotAfter: now.Add(-c.issued + c.lifetime)})
		notAfter[c.name] = leaf.Cert.NotAfter
		url := fmt.Sprintf("https://acme-v02.api.letsencrypt.org/acme/cert/%x", leaf.Cert.SerialNumber)
		meta := fmt.Sprintf("{\n\t\"domain\": %q,\n\t\"certUrl\": %q,\n\t\"certStableUrl\": %q\n}", c.name, url, url)
		for name, data := range map[string][]byte{
			c.name + ".crt": testcerts.Bundle(leaf, pki.Intermediate), c.name + ".issuer.crt": pki.Intermediate.PEM(),
			c.name + ".key": leaf.KeyPEM(), c.name + ".json": []byte(meta),
		} {
			if err := write(filepath.Join(certs, name), data, 0o600); err != nil {
				return err
			}
		}
	}
	var b strings.Builder
	for _, runAt := range []time.Time{now.Add(-25 * time.Hour), now.Add(-time.Hour)} {
		for i, c := range legoCerts {
			legoRun(&b, runAt.Add(time.Duration(i)*time.Minute).In(time.Local), c, notAfter[c.name])
		}
	}
	return write(filepath.Join(dir, "log", "lego.log"), []byte(b.String()), 0o600)
}

// legoRun writes one `lego … renew --days 30` invocation.
func legoRun(b *strings.Builder, t time.Time, c legoCert, notAfter time.Time) {
	line := func(format string, args ...any) {
		fmt.Fprintf(b, "%s %s\n", t.Format(legoTime), fmt.Sprintf(format, args...))
		t = t.Add(time.Second)
	}
	left := notAfter.Sub(t)
	if c.failType == "" {
		line("[%s] The certificate expires in %d days, the number of days defined to perform the renewal is 30: no renewal.", c.name, int(left.Hours()/24))
		return
	}
	line("[INFO] [%s] acme: Trying renewal with %d hours remaining", c.name, int(left.Hours()))
	line("[INFO] [%s] acme: Obtaining bundled SAN certificate", c.name)
	line("[INFO] [%s] AuthURL: https://acme-v02.api.letsencrypt.org/acme/authz-v3/4211790157", c.name)
	line("[INFO] [%s] acme: use http-01 solver", c.name)
	line("[INFO] [%s] acme: Trying to solve HTTP-01", c.name)
	line("[INFO] Deactivating auth: https://acme-v02.api.letsencrypt.org/acme/authz-v3/4211790157")
	line("error: one or more domains had a problem:\n[%s] acme: error: 403 :: urn:ietf:params:acme:error:%s :: %s", c.name, c.failType, c.failDetail)
}
