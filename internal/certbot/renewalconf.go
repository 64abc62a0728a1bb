// Package certbot follows a certbot installation: it replays and tails certbot's log across
// rotations, reads the renewal configuration, and publishes per-lineage renewal state.
package certbot

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// RenewalConf is what the exporter uses from <config_dir>/renewal/<lineage>.conf. Hooks are
// only reported as configured, never run.
type RenewalConf struct {
	Lineage       string
	Cert          string // path of cert.pem
	Server        string
	Authenticator string
	Installer     string
	KeyType       string
	PreHook       string
	PostHook      string
	DeployHook    string // deploy_hook (5.x) or renew_hook (older)
	// ARIRetryAfter is certbot 5's [acme_renewal_info] ari_retry_after, as written.
	ARIRetryAfter string
}

// Staging says whether the lineage renews against a staging directory.
func (c RenewalConf) Staging() bool { return certs.IsStagingDirectory(c.Server) }

// maxConfBytes bounds a renewal conf; real ones are under 1 KiB.
const maxConfBytes = 1 << 20

// parseRenewalConf reads the configobj subset certbot writes: "key = value" lines, '#'
// comments, "[section]" headers (nesting by bracket depth), values optionally quoted.
func parseRenewalConf(lineage string, data []byte) (RenewalConf, error) {
	c := RenewalConf{Lineage: lineage}
	if len(data) > maxConfBytes {
		return c, fmt.Errorf("renewal conf larger than %d bytes", maxConfBytes)
	}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, maxConfBytes+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			depth := 0
			for depth < len(line) && line[depth] == '[' {
				depth++
			}
			name := strings.TrimLeft(line, "[")
			end := strings.IndexByte(name, ']')
			if end <= 0 || !strings.HasSuffix(strings.TrimSpace(name[end:]), strings.Repeat("]", depth)) {
				return c, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			section = strings.TrimSpace(name[:end])
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return c, fmt.Errorf("line %d: neither section nor key = value", n)
		}
		key, val = strings.TrimSpace(key), unquote(strings.TrimSpace(val))
		if key == "" {
			return c, fmt.Errorf("line %d: empty key", n)
		}
		switch section + "." + key {
		case ".cert":
			c.Cert = val
		case "renewalparams.server":
			c.Server = val
		case "renewalparams.authenticator":
			c.Authenticator = val
		case "renewalparams.installer":
			c.Installer = val
		case "renewalparams.key_type":
			c.KeyType = val
		case "renewalparams.pre_hook":
			c.PreHook = val
		case "renewalparams.post_hook":
			c.PostHook = val
		case "renewalparams.renew_hook", "renewalparams.deploy_hook":
			c.DeployHook = val
		case "acme_renewal_info.ari_retry_after":
			c.ARIRetryAfter = val
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if c.Authenticator == "" {
		// certbot skips such a file ("does not specify an authenticator").
		return c, fmt.Errorf("no authenticator in [renewalparams]")
	}
	if c.KeyType == "" {
		c.KeyType = "rsa" // certbot's default when the key predates key_type
	}
	return c, nil
}

// unquote strips one level of configobj quoting; a trailing "# comment" after an unquoted
// value is dropped as configobj does.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
			return v[1 : end+1]
		}
		return v
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v
}

// Hook returns the configured command of a hook kind (pre, post, deploy), "" when none.
func (c RenewalConf) Hook(kind string) string {
	switch kind {
	case "pre":
		return c.PreHook
	case "post":
		return c.PostHook
	case "deploy":
		return c.DeployHook
	}
	return ""
}
