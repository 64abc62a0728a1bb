package certbot

import (
	"os"
	"testing"
)

func TestParseRenewalConfReal(t *testing.T) {
	// Written by certbot 2.1.0 (logparse/testdata/capture.sh), plus the hooks of that run.
	data, err := os.ReadFile("testdata/certbot-2.1.0.conf")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseRenewalConf("a.example.test", data)
	if err != nil {
		t.Fatal(err)
	}
	want := RenewalConf{
		Lineage: "a.example.test", Cert: "/tmp/tmp.3wbini3bK7/conf/live/a.example.test/cert.pem",
		Server: "https://127.0.0.1:14000/dir", Authenticator: "standalone", KeyType: "ecdsa",
		PreHook: `sh -c "exit 3"`, PostHook: "false", DeployHook: "echo reloading; echo broken >&2; exit 1",
	}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// A CA on a loopback address can only be a test CA (here Pebble).
	if !got.Staging() {
		t.Error("Pebble on 127.0.0.1 must count as a staging directory")
	}
}

func TestParseRenewalConf(t *testing.T) {
	tests := []struct {
		name, text string
		want       RenewalConf
		err        bool
	}{
		{"certbot 5 with ARI and deploy_hook, staging", `version = 5.1.0
cert = /etc/letsencrypt/live/x/cert.pem
[renewalparams]
authenticator = webroot
server = https://acme-staging-v02.api.letsencrypt.org/directory
deploy_hook = systemctl reload nginx # reload
[[webroot_map]]
x.example = /var/www
[acme_renewal_info]
ari_retry_after = 2025-10-01T12:00:00
`, RenewalConf{Lineage: "x", Cert: "/etc/letsencrypt/live/x/cert.pem", Authenticator: "webroot",
			Server: "https://acme-staging-v02.api.letsencrypt.org/directory", KeyType: "rsa",
			DeployHook: "systemctl reload nginx", ARIRetryAfter: "2025-10-01T12:00:00"}, false},
		{"webroot_map section does not shadow renewalparams keys", `[renewalparams]
authenticator = nginx
[[webroot_map]]
server = not-this
`, RenewalConf{Lineage: "x", Authenticator: "nginx", KeyType: "rsa"}, false},
		{"broken header", "this is = [not a\n[renewalparams\n", RenewalConf{}, true},
		{"no key", "[renewalparams]\njust words\n", RenewalConf{}, true},
		{"no authenticator", "[renewalparams]\nserver = https://x/dir\n", RenewalConf{}, true},
	}
	for _, tt := range tests {
		got, err := parseRenewalConf("x", []byte(tt.text))
		if (err != nil) != tt.err {
			t.Errorf("%s: err = %v, want error %v", tt.name, err, tt.err)
			continue
		}
		if !tt.err && got != tt.want {
			t.Errorf("%s:\n got  %+v\n want %+v", tt.name, got, tt.want)
		}
	}
}

func FuzzParseRenewalConf(f *testing.F) {
	if data, err := os.ReadFile("testdata/certbot-2.1.0.conf"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("[renewalparams]\nauthenticator = 'a # b'\n[[x]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseRenewalConf("l", data)
		if err == nil && (c.Authenticator == "" || c.KeyType == "" || c.Lineage != "l") {
			t.Fatalf("accepted conf without authenticator/key type: %+v", c)
		}
	})
}
