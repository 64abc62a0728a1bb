package certs

import (
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
