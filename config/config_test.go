package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown top-level key", "filez: []", "filez: field not found (line 1)"},
		{"unknown nested key names its path", "files:\n  - paths: [a]\n  - pathz: [b]", "files[1].pathz: field not found (line 3)"},
		{"unknown module key", "modules:\n  smtp:\n    starttls: smtp\n    timout: 5s", "modules.smtp.timout: field not found (line 4)"},
		{"inline cert not PEM", "modules:\n  m:\n    tls_config: {cert: nope, key: k}", "modules.m.tls_config.cert: no PEM certificate"},
		{"inline cert a key", "modules:\n  m:\n    tls_config:\n      cert: \"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"\n      key: k", "modules.m.tls_config.cert: PEM block 1 is a private key, which /config would show: put it in key"},
		{"inline cert garbage", "modules:\n  m:\n    tls_config:\n      cert: \"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n\"\n      key: k", "modules.m.tls_config.cert: certificate 1: x509: malformed certificate"},
		{"unknown certbot key", "certbot:\n  log: /x", "certbot.log: field not found (line 2)"},
		{"files without paths", "files:\n  - exclude: [a]", "files[0].paths: must list at least one glob"},
		{"bad glob", "files:\n  - paths: ['[']", `files[0].paths: bad glob "[" (#0): syntax error in pattern`},
		{"password and file", "files:\n  - paths: [a]\n    password: x\n    password_file: y", "files[0].password_file: password and password_file are mutually exclusive"},
		{"bad starttls", "modules:\n  m:\n    starttls: smtps", `modules.m.starttls: unknown protocol "smtps" (one of smtp, imap, pop3, ftp, ldap, postgres, mysql, xmpp)`},
		{"bad min version", "modules:\n  m:\n    tls_config:\n      min_version: SSL3", `modules.m.tls_config.min_version: unknown TLS version: SSL3 (line 4)`},
		{"cert without key", "modules:\n  m:\n    tls_config: {cert_file: a}", "modules.m.tls_config: exactly one of key or key_file must be configured when a client certificate is configured (line 3)"},
		{"cert file with inline key", "modules:\n  m:\n    tls_config: {cert_file: a, key: k}", "modules.m.tls_config.cert_file: cert_file and key_file go together (or cert and key, inline)"},
		{"unknown tls_config key", "modules:\n  m:\n    tls_config:\n      ca_fil: x", "modules.m.tls_config.ca_fil: field not found (line 4)"},
		{"module key moved to tls_config", "modules:\n  m:\n    ca_file: x", "modules.m.ca_file: field not found: it is now modules.m.tls_config.ca_file (line 3)"},
		{"secret references", "modules:\n  m:\n    tls_config: {ca_ref: x}", "modules.m.tls_config.ca_ref: secret references are not supported; use the _file or inline form"},
		{"max below min", "modules:\n  m:\n    tls_config: {min_version: TLS13, max_version: TLS12}", "modules.m.tls_config.max_version: must not be lower than min_version"},
		{"proxy not http", "modules:\n  m:\n    proxy_url: socks5://p:1080", `modules.m.proxy_url: want an http:// CONNECT proxy, got scheme "socks5"`},
		{"proxy not a URL", "modules:\n  m:\n    proxy_url: proxy:3128", `modules.m.proxy_url: "proxy:3128" is not an absolute URL with a host (line 3)`},
		{"target is a URL", "targets:\n  - target: https://example.com", `targets[0].target: target "https://example.com" is a URL; want host:port`},
		{"target with a bad port", "targets:\n  - target: example.com:0", `targets[0].target: target "example.com:0": bad port "0"`},
		{"target with unknown module", "targets:\n  - target: example.com:443\n    module: nope", `targets[0].module: unknown module "nope"`},
		{"interval too short", "targets:\n  - target: example.com:443\n    interval: 10ms", "targets[0].interval: must be at least 1s"},
		{"bad timezone", "certbot:\n  log_timezone: Mars/Olympus", "certbot.log_timezone: unknown time zone Mars/Olympus"},
		{"bad duration names its path", "targets:\n  - target: a:1\n    interval: soon", `targets[0].interval: not a valid duration string: "soon" (line 3)`},
		{"negative duration", "drift:\n  grace_period: -1h", `drift.grace_period: not a valid duration string: "-1h" (line 2)`},
		{"second document", "files: []\n---\nfoo: 1\n", "line 2: a config file holds one YAML document, found a second"},
		{"duplicate files entry", "files:\n  - paths: [a, b]\n  - paths: [a, b]", "files[1].paths: same globs as files[0]"},
		{"ari directory without paths", "ari:\n  directories:\n    - directory: https://acme.example/dir", "ari.directories[0].paths: must list at least one glob"},
		{"ari client cert without key", "ari:\n  tls_config:\n    cert_file: c.pem", "ari.tls_config: exactly one of key or key_file must be configured"},
		{"ari directory not http", "ari:\n  directories:\n    - paths: [a]\n      directory: ftp://x/dir", `ari.directories[0].directory: want an http(s) ACME directory URL, got "ftp://x/dir"`},
		{"type error", "files: 3", "cannot unmarshal !!int `3` into []config.Files"},
		{"empty allow-list entry", "probe:\n  allowed_targets: ['']", "probe.allowed_targets[0]: empty pattern"},
		{"reserved owner label", "files:\n  - paths: [a]\n    labels: {severity: page}", `files[0].labels.severity: "severity" is a label the exporter or Prometheus sets; choose another name`},
		{"reserved owner label on a target", "targets:\n  - target: a:1\n    labels: {team: x, path: y}", `targets[0].labels.path: "path" is a label the exporter or Prometheus sets; choose another name`},
		{"reserved owner label on a module", "modules:\n  mtls:\n    labels: {module: x}", `modules.mtls.labels.module: "module" is a label the exporter or Prometheus sets; choose another name`},
		{"too many owner label names with a module", "files:\n  - paths: [a]\n    labels: {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1}\n  - paths: [b]\n    labels: {i: 1, j: 1, k: 1, l: 1, m: 1, n: 1, o: 1, p: 1}\nmodules:\n  mtls:\n    labels: {q: 1}", "modules.mtls.labels: the config uses more than 16 distinct owner label names"},
		{"bad owner label name", "files:\n  - paths: [a]\n    labels: {team-name: x}", "files[0].labels.team-name: invalid label name (want [a-zA-Z_][a-zA-Z0-9_]*)"},
		{"owner label for Prometheus", "files:\n  - paths: [a]\n    labels: {__x: y}", "files[0].labels.__x: label names starting with __ are reserved for Prometheus"},
		{"empty owner label value", "files:\n  - paths: [a]\n    labels: {team: ''}", "files[0].labels.team: empty value"},
		{"owner label value too long", "files:\n  - paths: [a]\n    labels: {team: " + strings.Repeat("x", 129) + "}", "files[0].labels.team: value longer than 128 bytes"},
		{"too many owner labels", "files:\n  - paths: [a]\n    labels: {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, i: 1}", "files[0].labels: 9 labels, at most 8"},
		{"too many owner label names", "files:\n  - paths: [a]\n    labels: {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1}\n  - paths: [b]\n    labels: {i: 1, j: 1, k: 1, l: 1, m: 1, n: 1, o: 1, p: 1}\ntargets:\n  - target: a:1\n    labels: {q: 1}", "targets[0].labels: the config uses more than 16 distinct owner label names"},
		{"unknown usage", "files:\n  - paths: [a]\n  - paths: [b]\n    usage: clinet", `files[1].usage: unknown usage "clinet" (one of server, client)`},
		{"usage not a string", "files:\n  - paths: [a]\n    usage: [client]", "cannot unmarshal !!seq into string"},
		{"owner labels not a map", "files:\n  - paths: [a]\n    labels: [team]", "cannot unmarshal !!seq into config.Labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEmptyConfigWatchesNothing(t *testing.T) {
	for _, in := range []string{"", "\n# only a comment\n", "{}"} {
		cfg, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if len(cfg.Files) != 0 || cfg.Certbot != nil || len(cfg.Targets) != 0 {
			t.Fatalf("%q: config watches something: %+v", in, cfg)
		}
		if _, ok := cfg.Modules[DefaultModule]; !ok {
			t.Fatalf("default module %q missing", DefaultModule)
		}
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte("files:\n  - paths: [/x/*.pem]\ncertbot: {}\ntargets:\n  - target: example.com:443\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Files[0].MaxFileSize; got != 4<<20 {
		t.Errorf("max_file_size default = %d", got)
	}
	if got := time.Duration(cfg.Files[0].RescanInterval); got != 5*time.Minute {
		t.Errorf("rescan_interval default = %v", got)
	}
	if cfg.Certbot.ConfigDir != "/etc/letsencrypt" || cfg.Certbot.LogFile != "/var/log/letsencrypt/letsencrypt.log" {
		t.Errorf("certbot defaults = %+v", cfg.Certbot)
	}
	if cfg.Targets[0].Module != DefaultModule || cfg.Targets[0].Interval != model.Duration(5*time.Minute) {
		t.Errorf("target defaults = %+v", cfg.Targets[0])
	}
	if time.Duration(cfg.Modules[DefaultModule].Timeout) != 10*time.Second {
		t.Errorf("module timeout default = %v", cfg.Modules[DefaultModule].Timeout)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := `files:
  - paths: ["/etc/letsencrypt/live/*/fullchain.pem", "/srv/**/*.p12"]
    exclude: ["/srv/old/**"]
    password_file: PASSFILE
certbot:
  config_dir: /etc/letsencrypt
  log_timezone: UTC
targets:
  - target: mail.example.com:25
    module: smtp
    interval: 1m
modules:
  smtp:
    starttls: smtp
    timeout: 5s
probe:
  allowed_targets: ["*.example.com", "10.0.0.0/8"]
`
	pass := filepath.Join(dir, "p12pass")
	if err := os.WriteFile(pass, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in = strings.Replace(in, "PASSFILE", pass, 1)
	p := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parsing the rendered config: %v\n%s", err, out)
	}
	out2, _ := again.Redacted()
	if string(out) != string(out2) {
		t.Fatalf("round trip differs:\n%s\n---\n%s", out, out2)
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	cfg, err := Parse([]byte("files:\n  - paths: [a.p12]\n    password: hunter2\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := cfg.Redacted()
	if strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), redacted) {
		t.Fatalf("secret not redacted:\n%s", out)
	}
	if cfg.Files[0].Password != "hunter2" {
		t.Fatal("Redacted modified the live config")
	}
}

// TestRedactedURLsAndKeys: every secret a URL or tls_config can carry is hidden on /config:
// userinfo passwords, query values (tokens), inline keys.
func TestRedactedURLsAndKeys(t *testing.T) {
	now := time.Now()
	cert := testcerts.New(testcerts.Options{CN: "client", Now: now, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	cfg, err := Parse(fmt.Appendf(nil, `
modules:
  p:
    proxy_url: http://user:s3cret@proxy.example:3128
    tls_config: {cert: %q, key: "pr1vate"}
ari:
  directories:
    - paths: [/a/*.pem]
      directory: https://acme:pa55@ca.example/dir?token=t0ken&x=1
`, cert.PEM()))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := cfg.Redacted()
	for _, secret := range []string{"s3cret", "pr1vate", "pa55", "t0ken"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("%q not redacted:\n%s", secret, out)
		}
	}
	for _, kept := range []string{"http://user:%3Csecret%3E@proxy.example:3128", "https://acme:%3Csecret%3E@ca.example/dir?token=%3Csecret%3E&x=%3Csecret%3E", "key: <secret>"} {
		if !strings.Contains(string(out), kept) {
			t.Errorf("want %q in:\n%s", kept, out)
		}
	}
	if u := cfg.ARI.Directories[0].Directory; u.URL.String() != "https://acme:pa55@ca.example/dir?token=t0ken&x=1" || u.String() == u.URL.String() {
		t.Errorf("the live URL must stay whole and print redacted: %s / %s", u.URL.String(), u.String())
	}
}

func TestLoadChecksReferencedFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(p, []byte("modules:\n  m:\n    tls_config:\n      ca_file: "+filepath.Join(dir, "nope.pem")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), "modules.m.tls_config.ca_file: open ") {
		t.Fatalf("err = %v", err)
	}
	if err := os.WriteFile(p, []byte("ari:\n  tls_config:\n    ca_file: "+filepath.Join(dir, "nope.pem")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "ari.tls_config.ca_file: open ") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := Default()
	if len(cfg.Files) != 1 || cfg.Files[0].Paths[0] != "/etc/letsencrypt/live/*/fullchain.pem" || cfg.Certbot == nil {
		t.Fatalf("built-in default = %+v", cfg)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("files:\n  - paths: [a]\n"))
	f.Add([]byte("targets:\n  - target: a:1\n    module: tls\nmodules:\n  tls: {}\n"))
	f.Add([]byte("certbot: {log_timezone: UTC}\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if _, err := cfg.Redacted(); err != nil {
			t.Fatalf("valid config does not render: %v", err)
		}
	})
}

// TestLoadEmptyFile: an empty file is what a reload reads while the file is being rewritten in
// place; loading it as a config would stop every source.
func TestLoadEmptyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	if err := os.WriteFile(p, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "the config file is empty") {
		t.Fatalf("err = %v", err)
	}
}

// usage: is server when left out; both values parse.
func TestFilesUsage(t *testing.T) {
	cfg, err := Parse([]byte("files:\n  - paths: [/a/*.pem]\n  - paths: [/b/*.pem]\n    usage: server\n  - paths: [/c/*.pem]\n    usage: client\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range cfg.Files {
		got = append(got, f.Usage)
	}
	if want := []string{"", UsageServer, UsageClient}; !slices.Equal(got, want) {
		t.Errorf("usages %q, want %q", got, want)
	}
}

// TestInlineCertOtherBlocks: an inline client certificate may come with other PEM blocks and
// text, as crypto/tls accepts it (only a private key there is refused, above).
func TestInlineCertOtherBlocks(t *testing.T) {
	now := time.Now()
	cert := testcerts.New(testcerts.Options{CN: "client", Now: now})
	pemText := "issued by the vault\n" + string(cert.PEM()) + "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\ntrailing\n"
	if _, err := Parse(fmt.Appendf(nil, "modules:\n  m:\n    tls_config: {cert: %q, key: k}\n", pemText)); err != nil {
		t.Fatal(err)
	}
}

// TestREADMEReference: the README's configuration reference is a valid configuration, so it
// cannot drift from the strict parser (a renamed or removed key fails here).
func TestREADMEReference(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal("README: no ## Configuration section")
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatal("README: no yaml block under ## Configuration")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("README: the yaml block under ## Configuration is not closed")
	}
	if _, err := Parse([]byte(block)); err != nil {
		t.Errorf("README's configuration reference: %v", err)
	}
}
