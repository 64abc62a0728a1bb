package demo

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// caddyIssuer is the issuer directory Caddy files Let's Encrypt's certificates under.
const caddyIssuer = "acme-v02.api.letsencrypt.org-directory"

// caddyCert is one name the demo's Caddy serves.
type caddyCert struct {
	name             string
	issued, lifetime time.Duration
	// failing: its renewal fails (the name's DNS server fails) and Caddy retries.
	failing bool
}

var caddyCerts = []caddyCert{
	{name: "caddy-ok.demo.test", issued: 10 * day, lifetime: 90 * day},
	{name: "caddy-failing.demo.test", issued: 65 * day, lifetime: 90 * day, failing: true},
}

// caddyHost lays out Caddy's storage (certificates/<issuer>/<name>/<name>.crt, .key, .json as
// certmagic writes them) under dir/caddy and its JSON log, dir/log/caddy.log, in Caddy 2.6.2's
// wording (as captured from a real Caddy against Pebble): one name renewed, the other's renewal
// failing twice with the name's DNS server failing (SERVFAIL), with a retry scheduled. It
// returns the certificates Caddy serves, the stored ones, for its TLS listener.
func caddyHost(dir string, pki *testcerts.PKI, now time.Time) ([]tls.Certificate, error) {
	var served []tls.Certificate
	var log strings.Builder
	line := func(t time.Time, level, logger, msg string, fields ...any) {
		m := map[string]any{"level": level, "ts": float64(t.UnixNano()) / 1e9, "logger": logger, "msg": msg}
		for i := 0; i+1 < len(fields); i += 2 {
			m[fields[i].(string)] = fields[i+1]
		}
		b, _ := json.Marshal(m)
		log.Write(append(b, '\n'))
	}
	const ca = "https://acme-v02.api.letsencrypt.org/directory"
	for i, c := range caddyCerts {
		leaf := pki.Leaf(testcerts.Options{DNSNames: []string{c.name}, Now: now, NotBefore: now.Add(-c.issued), NotAfter: now.Add(-c.issued + c.lifetime)})
		served = append(served, leaf.TLS(pki.Intermediate))
		store := filepath.Join(dir, "caddy", "certificates", caddyIssuer, c.name)
		meta, _ := json.MarshalIndent(map[string]any{"sans": []string{c.name}, "issuer_data": map[string]any{
			"url": fmt.Sprintf("https://acme-v02.api.letsencrypt.org/acme/cert/%x", leaf.Cert.SerialNumber), "ca": ca}}, "", "\t")
		for name, data := range map[string][]byte{
			c.name + ".crt": testcerts.Bundle(leaf, pki.Intermediate), c.name + ".key": leaf.KeyPEM(), c.name + ".json": meta,
		} {
			if err := write(filepath.Join(store, name), data, 0o600); err != nil {
				return nil, err
			}
		}
		at := now.Add(-time.Duration(2-i) * time.Hour)
		if !c.failing {
			line(at, "info", "tls.renew", "renewing certificate", "identifier", c.name, "remaining", 30*day.Seconds())
			line(at.Add(time.Second), "info", "tls.renew", "certificate renewed successfully", "identifier", c.name)
			continue
		}
		for attempt, t := range []time.Time{at, at.Add(time.Minute)} {
			detail := fmt.Sprintf(`DNS problem: SERVFAIL looking up A for %s - the domain's nameservers may be malfunctioning`, c.name)
			line(t, "info", "tls.renew", "renewing certificate", "identifier", c.name, "remaining", (c.lifetime - c.issued).Seconds())
			line(t.Add(time.Second), "error", "tls.issuance.acme.acme_client", "challenge failed", "identifier", c.name,
				"challenge_type", "http-01", "status_code", 400, "problem_type", "urn:ietf:params:acme:error:dns", "error", detail)
			err := fmt.Sprintf("[%s] solving challenges: %s: authorization failed: HTTP 400 urn:ietf:params:acme:error:dns - %s (ca=%s)", c.name, c.name, detail, ca)
			line(t.Add(2*time.Second), "error", "tls.renew", "could not get certificate from issuer", "identifier", c.name, "issuer", caddyIssuer, "error", err)
			line(t.Add(2*time.Second), "error", "tls.renew", "will retry", "error", "["+c.name+"] Renew: "+err,
				"attempt", attempt+1, "retrying_in", 60*(attempt+1), "elapsed", 2.0, "max_duration", 2592000)
		}
	}
	return served, write(filepath.Join(dir, "log", "caddy.log"), []byte(log.String()), 0o600)
}
