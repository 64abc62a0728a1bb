package config

import (
	"maps"
	"slices"
	"strings"
)

// ModuleCert is a probe module's own client certificate (tls_config.cert_file, watched like a
// files: entry of usage client, or the inline tls_config.cert), so that it is exported and
// alerted on before the server it authenticates to starts refusing it.
type ModuleCert struct {
	Module string
	// Files is the cert_file as a files: entry (no Paths for an inline certificate); its
	// Labels are the module's.
	Files Files
	// Inline is the PEM of an inline tls_config.cert ("" with a cert_file).
	Inline string
}

// ModuleCerts are the modules' client certificates, by module name.
func (c *Config) ModuleCerts() []ModuleCert {
	var out []ModuleCert
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		m := c.Modules[name]
		f := Files{Usage: UsageClient, Labels: m.Labels}
		switch {
		case m.TLSConfig.CertFile != "":
			f.Paths = []string{EscapeGlob(m.TLSConfig.CertFile)}
			f.defaults()
			out = append(out, ModuleCert{Module: name, Files: f})
		case m.TLSConfig.Cert != "":
			out = append(out, ModuleCert{Module: name, Files: f, Inline: m.TLSConfig.Cert})
		}
	}
	return out
}

// EscapeGlob makes a path a glob of the paths: syntax that matches that path alone, whatever
// characters (*, ?, [, \) its names hold.
func EscapeGlob(path string) string {
	var b strings.Builder
	for _, r := range path {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
