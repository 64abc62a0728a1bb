package certs

// The one staging rule: a certificate is a staging/test certificate when its issuer says so
// (IsStagingIssuer) or when the ACME directory it renews against is a staging or test CA
// (IsStagingDirectory). The inventory applies both; nothing else decides.

import (
	"crypto/x509"
	"net"
	"net/url"
	"strings"
)

// IsStagingDirectory reports whether an ACME directory URL is a staging or test CA whose
// certificates no client trusts: a host name with a "staging" or "pebble" label part (Let's
// Encrypt's acme-staging-v02.api.letsencrypt.org and other CAs' staging endpoints, Pebble),
// or a local address (localhost, loopback), where only test CAs run.
func IsStagingDirectory(directory string) bool {
	u, err := url.Parse(directory)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	for _, label := range strings.Split(host, ".") {
		if strings.Contains(label, "staging") || strings.Contains(label, "pebble") {
			return true
		}
	}
	return false
}

// stagingMarkers are issuer name fragments of CAs whose certificates no browser trusts:
// Let's Encrypt staging ("(STAGING) …", formerly "Fake LE …"), Pebble, and certbot's test CA.
var stagingMarkers = []string{"(staging)", "fake le ", "pebble", "happy hacker fake ca"}

// isStagingIssuer reports whether the certificate comes from a known staging/test CA.
func isStagingIssuer(c *x509.Certificate) bool {
	names := []string{strings.ToLower(c.Issuer.CommonName)}
	for _, o := range c.Issuer.Organization {
		names = append(names, strings.ToLower(o))
	}
	for _, n := range names {
		for _, m := range stagingMarkers {
			if strings.Contains(n+" ", m) {
				return true
			}
		}
	}
	return false
}
