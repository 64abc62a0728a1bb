package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// defaultPorts are used when a target names no port: the STARTTLS protocol's well-known port,
// else HTTPS.
var defaultPorts = map[string]string{
	"": "443", "smtp": "25", "imap": "143", "pop3": "110", "ftp": "21",
	"ldap": "389", "postgres": "5432", "mysql": "3306", "xmpp": "5222",
}

// maxTargetBytes bounds a target: a DNS name is at most 253 bytes, an IPv6 address with a
// zone and a port fits easily. The target is a label value of every probe series and echoed in
// errors, so a longer one is refused before it is used or printed.
const maxTargetBytes = 300

// ParseTarget splits "host:port", "host", "[v6]:port" or a bare IPv6 address. It refuses URLs
// and paths outright: a probe target is a network endpoint, never something to open locally.
func ParseTarget(target, starttls string) (host, port string, err error) {
	switch {
	case target == "":
		return "", "", errors.New("target is empty")
	case len(target) > maxTargetBytes:
		return "", "", fmt.Errorf("target is %d bytes long, at most %d", len(target), maxTargetBytes)
	case strings.Contains(target, "://"):
		return "", "", fmt.Errorf("target %q is a URL; want host:port", target)
	case strings.ContainsAny(target, "/\\ \t\r\n"):
		return "", "", fmt.Errorf("target %q is not host:port", target)
	}
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(target, "["), "]")); ip != nil {
		return ip.String(), defaultPorts[starttls], nil
	}
	host, port, err = net.SplitHostPort(target)
	if err != nil {
		if strings.Contains(target, ":") {
			return "", "", fmt.Errorf("target %q: %w", target, err)
		}
		host, port = target, defaultPorts[starttls]
	}
	if host == "" {
		return "", "", fmt.Errorf("target %q has no host", target)
	}
	if strings.ContainsAny(host, "[]") { // brackets only enclose an IPv6 address ("[" alone got through)
		return "", "", fmt.Errorf("target %q is not host:port", target)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", "", fmt.Errorf("target %q: bad port %q", target, port)
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String() // one spelling per address: [0::1]:443 is ::1 port 443
	}
	return host, port, nil
}

// HasTarget reports whether target (host:port) is one of targets: (the same host and port):
// a source that discovers targets leaves those to targets:, whose series they would repeat.
func (c *Config) HasTarget(target string) bool {
	for _, t := range c.Targets {
		host, port, err := ParseTarget(t.Target, c.Modules[t.Module].StartTLS)
		if err == nil && strings.EqualFold(net.JoinHostPort(host, port), target) {
			return true
		}
	}
	return false
}
