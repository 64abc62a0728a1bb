package ari

import (
	"net/url"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

func TestSubjects(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Subj", now)
	leaf := func(name string, notAfter time.Time) certs.Cert {
		return certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{name}, Now: now, NotAfter: notAfter}).Cert)
	}
	a, b, c, expired := leaf("a.example", time.Time{}), leaf("b.example", time.Time{}), leaf("c.example", time.Time{}), leaf("old.example", now)
	inter := certs.New(pki.Intermediate.Cert)
	self := certs.New(testcerts.New(testcerts.Options{CN: "self", Now: now}).Cert)
	file := func(path, lineage string, cs ...certs.Cert) certs.Chain {
		return certs.Chain{Location: certs.Location{Source: certs.SourceFile, Path: path, Lineage: lineage}, Certs: cs}
	}
	chains := []certs.Chain{
		file("/srv/copy/a.pem", "", a), // same certificate as the lineage's, seen first without lineage
		file("/etc/letsencrypt/live/a/fullchain.pem", "a", a, inter),
		file("/etc/letsencrypt/live/a/cert.pem", "a", a),
		file("/etc/letsencrypt/live/a/chain.pem", "a", inter),    // CA only
		file("/etc/letsencrypt/live/nodir/cert.pem", "nodir", b), // lineage without a server
		file("/opt/acme/certs/sub/c.pem", "", c),                 // configured directory
		file("/opt/acme/certs/old.pem", "", expired),             // expired
		file("/opt/acme/certs/self.pem", "", self),               // no AKI
		file("/opt/acme/empty.pem", ""),                          // no certificate
		{Location: certs.Location{Source: certs.SourceProbe, Target: "a.example:443"}, Certs: []certs.Cert{a}},
	}
	servers := map[string]string{"a": "https://acme-v02.api.letsencrypt.org/directory"}
	enabled, disabled := true, false
	dirs := []config.ARIDirectory{{Paths: []string{"/opt/acme/**/*.pem"}, Directory: mustURL(t, "https://ca.example/dir")}}
	id := func(c certs.Cert) string {
		s, err := CertID(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	type sub struct{ domain, lineage, dir, id string }
	for _, tc := range []struct {
		name string
		cfg  config.ARI
		want []sub
	}{
		{"lineages and directories", config.ARI{Enabled: &enabled, Directories: dirs}, []sub{
			{"a.example", "a", "https://acme-v02.api.letsencrypt.org/directory", id(a)},
			{"c.example", "", "https://ca.example/dir", id(c)},
		}},
		{"lineages off", config.ARI{Enabled: &disabled, Directories: dirs}, []sub{
			{"c.example", "", "https://ca.example/dir", id(c)},
		}},
		{"configured directory wins over the lineage", config.ARI{Enabled: &enabled, Directories: []config.ARIDirectory{
			{Paths: []string{"/etc/letsencrypt/live/a/cert.pem"}, Directory: mustURL(t, "https://other.example/dir")}}}, []sub{
			{"a.example", "a", "https://acme-v02.api.letsencrypt.org/directory", id(a)},
			{"a.example", "a", "https://other.example/dir", id(a)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []sub
			for _, s := range subjects(chains, servers, tc.cfg, now) {
				got = append(got, sub{s.Cert.Domain, s.Lineage, s.Directory, s.ID})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %+v\nwant %+v", got, tc.want)
				}
			}
		})
	}
}

func TestIsStagingDirectory(t *testing.T) {
	for dir, want := range map[string]bool{
		"https://acme-staging-v02.api.letsencrypt.org/directory": true,
		"https://acme-staging.api.letsencrypt.org/directory":     true,
		"https://acme.staging.example.com/directory":             true,
		"https://pebble:14000/dir":                               true,
		"https://localhost:14000/dir":                            true,
		"https://127.0.0.1:14000/dir":                            true,
		"https://[::1]:14000/dir":                                true,
		"https://acme-v02.api.letsencrypt.org/directory":         false,
		"https://acme.zerossl.com/v2/DV90":                       false,
		"https://stagingless.example/dir":                        true, // a label containing "staging"
		"https://10.0.0.1/dir":                                   false,
		"not a url":                                              false,
		"":                                                       false,
	} {
		if got := certs.IsStagingDirectory(dir); got != want {
			t.Errorf("certs.IsStagingDirectory(%q) = %v, want %v", dir, got, want)
		}
	}
}

func mustURL(t *testing.T, s string) config.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return config.URL{URL: u}
}

// TestSubjectsSkipKnownWindows: a certificate whose renewal client keeps the CA's window itself
// (Caddy) is not asked about again; the others of the same snapshots are.
func TestSubjectsSkipKnownWindows(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Known", now)
	leaf := func(name string) certs.Cert {
		return certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{name}, Now: now}).Cert)
	}
	stored, other := leaf("caddy.example"), leaf("file.example")
	caddy := &source.Snapshot{
		Chains:  []certs.Chain{{Location: certs.Location{Source: certs.SourceCaddy, Path: "/caddy/c.crt", Lineage: "caddy.example"}, Certs: []certs.Cert{stored}}},
		Windows: []source.Window{{Cert: stored.Key(), Lineage: "caddy.example", Domain: "caddy.example", Serial: stored.Serial}},
	}
	files := &source.Snapshot{Chains: []certs.Chain{{Location: certs.Location{Source: certs.SourceFile, Path: "/opt/acme/f.pem"}, Certs: []certs.Cert{other}}}}
	enabled := true
	cfg := config.ARI{Enabled: &enabled, Directories: []config.ARIDirectory{{Paths: []string{"/caddy/*.crt", "/opt/acme/*.pem"}, Directory: mustURL(t, "https://ca.example/dir")}}}
	var got []string
	for _, s := range subjectsOf([]*source.Snapshot{caddy, files}, cfg, now) {
		got = append(got, s.Cert.Domain)
	}
	if len(got) != 1 || got[0] != "file.example" {
		t.Errorf("subjects %q, want only file.example", got)
	}
}
