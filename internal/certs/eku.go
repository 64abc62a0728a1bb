package certs

import (
	"crypto/x509"
	"strings"
)

// ekuNames are the label names of the extended key usages worth telling apart, in label order;
// any other usage (IPsec, Microsoft's, unknown OIDs) is "other", so that cert_info's eku label
// has a bounded set of values however a certificate is made.
var ekuNames = []struct {
	usage x509.ExtKeyUsage
	name  string
}{
	{x509.ExtKeyUsageServerAuth, "server_auth"},
	{x509.ExtKeyUsageClientAuth, "client_auth"},
	{x509.ExtKeyUsageCodeSigning, "code_signing"},
	{x509.ExtKeyUsageEmailProtection, "email_protection"},
	{x509.ExtKeyUsageTimeStamping, "time_stamping"},
	{x509.ExtKeyUsageOCSPSigning, "ocsp_signing"},
	{x509.ExtKeyUsageAny, "any"},
}

// ekuLabel is the eku label value of a certificate: its usages comma-joined in ekuNames order,
// "any" without the extension (no restriction, as Go's and browsers' verifiers read it), and ""
// for serverAuth alone, the WebPKI default (Chrome's root program requires serverAuth-only
// hierarchies from 2026, Let's Encrypt's classic profile dropped clientAuth on 2026-02-11), so
// that most leaves pay nothing for it.
func ekuLabel(c *x509.Certificate) string {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return "any"
	}
	var names []string
	other := len(c.UnknownExtKeyUsage) > 0
	for _, u := range c.ExtKeyUsage {
		known := false
		for _, n := range ekuNames {
			known = known || n.usage == u
		}
		other = other || !known
	}
	for _, n := range ekuNames {
		for _, u := range c.ExtKeyUsage {
			if u == n.usage {
				names = append(names, n.name)
				break
			}
		}
	}
	if other {
		names = append(names, "other")
	}
	if len(names) == 1 && names[0] == "server_auth" {
		return ""
	}
	return strings.Join(names, ",")
}
