package inventory

import (
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// viewOf joins snapshots as the store does, with no drift grace.
func viewOf(snaps ...*source.Snapshot) *View { return newView(snaps, 0, nil) }

// TestStagingJoin: the one staging rule. A stored certificate is staging when its issuer says
// so or when its lineage renews against a staging or test directory; a served one only by its
// issuer (an endpoint has no lineage).
func TestStagingJoin(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Join", now)
	leaf := certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"a.example"}, Now: now}).Cert)
	v := viewOf(&source.Snapshot{Renewals: []source.Renewal{
		{Client: "certbot", Lineage: "prod", Server: "https://acme-v02.api.letsencrypt.org/directory"},
		{Client: "certbot", Lineage: "stg", Server: "https://acme-staging-v02.api.letsencrypt.org/directory"},
		{Client: "certbot", Lineage: "pebble", Server: "https://127.0.0.1:14000/dir"},
		{Client: "certbot", Lineage: "noconf"},
	}})
	for _, tc := range []struct {
		loc  certs.Location
		want bool
	}{
		{certs.Location{Source: certs.SourceFile, Lineage: "prod"}, false},
		{certs.Location{Source: certs.SourceFile, Lineage: "stg"}, true},
		{certs.Location{Source: certs.SourceFile, Lineage: "pebble"}, true},
		{certs.Location{Source: certs.SourceFile, Lineage: "noconf"}, false},
		{certs.Location{Source: certs.SourceFile, Lineage: "unknown"}, false},
		{certs.Location{Source: certs.SourceFile}, false},
		{certs.Location{Source: certs.SourceProbe, Target: "a.example:443"}, false},
	} {
		if got := v.Staging(leaf, tc.loc); got != tc.want {
			t.Errorf("Staging(%+v) = %v, want %v", tc.loc, got, tc.want)
		}
	}
	var none *View
	if none.Staging(leaf, certs.Location{Source: certs.SourceFile, Lineage: "stg"}) || none.Renewal(certs.Location{Source: certs.SourceFile, Lineage: "stg"}) != nil {
		t.Error("a nil view joins nothing")
	}
}

// TestRenewalJoinByClient: two clients on one host may manage the same name (a move from
// certbot to lego): each chain joins its own client's renewal.
func TestRenewalJoinByClient(t *testing.T) {
	v := viewOf(&source.Snapshot{Renewals: []source.Renewal{{Client: "certbot", Lineage: "a.example", Reason: "dns"}}},
		&source.Snapshot{Renewals: []source.Renewal{{Client: "lego", Lineage: "a.example", Reason: "none"}}})
	for _, tc := range []struct {
		loc  certs.Location
		want string
	}{
		{certs.Location{Source: certs.SourceFile, Path: "/etc/letsencrypt/live/a.example/fullchain.pem", Lineage: "a.example"}, "dns"},
		{certs.Location{Source: "lego", Path: "/var/lib/lego/certificates/a.example.crt", Lineage: "a.example"}, "none"},
		{certs.Location{Source: "caddy", Lineage: "a.example"}, ""},
		{certs.Location{Source: certs.SourceProbe, Target: "a.example:443", Lineage: "a.example"}, ""},
	} {
		got := ""
		if r := v.Renewal(tc.loc); r != nil {
			got = r.Reason
		}
		if got != tc.want {
			t.Errorf("Renewal(%+v) reason %q, want %q", tc.loc, got, tc.want)
		}
	}
}
