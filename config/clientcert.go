package config

import (
	"maps"
	"slices"
	"strings"
)

// ModuleCert is a probe module's own client certificate file (tls_config.cert_file), watched
// like a files: entry of usage client, so that it is exported and alerted on before the
// server it authenticates to starts refusing it.
type ModuleCert struct {
	Module string
	Files  Files
}

// ModuleCerts are the modules' client certificate files, by module name. An inline
// tls_config.cert is not among them: it is no file to watch.
func (c *Config) ModuleCerts() []ModuleCert {
	var out []ModuleCert
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		path := c.Modules[name].TLSConfig.CertFile
		if path == "" {
			continue
		}
		f := Files{Paths: []string{EscapeGlob(path)}, Usage: UsageClient, Labels: c.Modules[name].Labels}
		f.defaults()
		out = append(out, ModuleCert{Module: name, Files: f})
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
