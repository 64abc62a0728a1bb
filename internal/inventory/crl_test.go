package inventory

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/alerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// TestDefaultThresholdsAreTheRules: the page's and check's defaults are alerts/config.yml's, so
// that a threshold changed there fails here until DefaultThresholds follows.
func TestDefaultThresholdsAreTheRules(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "alerts", alerts.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := alerts.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Thresholds
	want := Thresholds{
		Warning: time.Duration(c.ExpiringSoon), Critical: time.Duration(c.ExpiryCritical), Grace: time.Duration(c.RenewalOverdueGrace),
		ChainExpiring: time.Duration(c.ChainExpiringSoon), MaxRunGap: time.Duration(c.ClientMaxRunGap), CRLStaleSoon: time.Duration(c.CRLStaleSoon),
	}
	if DefaultThresholds != want {
		t.Errorf("DefaultThresholds %+v, alerts/config.yml %+v", DefaultThresholds, want)
	}
}

// TestCRLStaleAsRule: the rendered CertificateRevocationListStale expression is the one crlStale
// computes (a change of the rule fails here until crlStale follows), and crlStale turns at the
// evaluation times alerts/tests/crl.yml pins for it.
func TestCRLStaleAsRule(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "alerts", alerts.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	rf, err := alerts.ParseRules(data)
	if err != nil {
		t.Fatal(err)
	}
	var expr string
	for _, r := range rf.Rules() {
		if r.Alert == "CertificateRevocationListStale" {
			expr = r.Expr
		}
	}
	// The owner labels' join (owner_crl), when there is one, only adds labels.
	cond, _, _ := strings.Cut(strings.Join(strings.Fields(expr), " "), " * on(")
	want := "( cert_crl_next_update_timestamp_seconds - time() < clamp_max((cert_crl_next_update_timestamp_seconds - cert_crl_this_update_timestamp_seconds) / 20, " +
		strconv.Itoa(int(DefaultThresholds.CRLStaleSoon/time.Second)) + ") )"
	if cond != want {
		t.Errorf("CertificateRevocationListStale's expr is\n%s\ncrlStale computes\n%s", expr, want)
	}

	start := time.Unix(0, 0).UTC() // promtool's series start at 0 s
	for _, tc := range []struct {
		name       string
		this, next time.Duration // 0 next: none
		at         time.Duration
		stale      bool
	}{
		{"6h40m list: 20m left, exactly 1/20", 0, 24000 * time.Second, 380 * time.Minute, false},
		{"6h40m list: 19m left", 0, 24000 * time.Second, 381 * time.Minute, true},
		{"6h40m list: passed", 0, 24000 * time.Second, 401 * time.Minute, true},
		{"10-day list: exactly crl_stale_soon left", 0, 240 * time.Hour, 234 * time.Hour, false},
		{"10-day list: 5h55m left", 0, 240 * time.Hour, 234*time.Hour + 5*time.Minute, true},
		{"no nextUpdate", 0, 0, 1000 * time.Hour, false},
	} {
		c := certs.CRLInfo{ThisUpdate: start.Add(tc.this)}
		if tc.next != 0 {
			c.NextUpdate = start.Add(tc.next)
		}
		if got := crlStale(c, start.Add(tc.at), DefaultThresholds); got != tc.stale {
			t.Errorf("%s: stale %v, want %v", tc.name, got, tc.stale)
		}
	}
}

// TestCRLRows: the report's crls, exactly as /certificates.json writes them: by path, a file's
// error row (no index) before its lists, times null where absent, the texts of a stale list
// before and after its nextUpdate, owner labels.
func TestCRLRows(t *testing.T) {
	team := certs.NewLabels(map[string]string{"team": "pki"})
	v := viewOf(&source.Snapshot{CRLs: []source.CRLFile{
		{Path: "/etc/nginx/crl.pem", Labels: team, CRLs: []certs.CRLInfo{
			{Issuer: "Inter CA", ThisUpdate: now.Add(-6 * day), NextUpdate: now.Add(day), Entries: 3},
			{Issuer: "Root CA", ThisUpdate: now.Add(-7 * day), NextUpdate: now.Add(5*time.Hour + 30*time.Minute)},
		}},
		{Path: "/etc/nginx/half.pem", Error: "PEM block 1 (X509 CRL): x509: malformed tbs crl", CRLs: []certs.CRLInfo{
			{Issuer: "Old CA", ThisUpdate: now.Add(-2 * day), NextUpdate: now.Add(-90 * time.Minute)},
		}},
	}}, &source.Snapshot{CRLs: []source.CRLFile{
		{Path: "/var/lib/crl/gone.crl", Error: "symlink target /var/lib/crl/x.crl does not exist"},
		{Path: "/var/lib/crl/none.crl", CRLs: []certs.CRLInfo{{Issuer: "Lazy CA", ThisUpdate: now.Add(-day)}}},
	}})
	r := Build(v, now, DefaultThresholds)
	got, err := json.MarshalIndent(r.CRLs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "state": "ok",
    "path": "/etc/nginx/crl.pem",
    "index": 0,
    "labels": {
      "team": "pki"
    },
    "issuer": "Inter CA",
    "this_update": "2026-02-23T12:00:00Z",
    "next_update": "2026-03-02T12:00:00Z",
    "entries": 3,
    "problem": "",
    "error": ""
  },
  {
    "state": "stale",
    "path": "/etc/nginx/crl.pem",
    "index": 1,
    "labels": {
      "team": "pki"
    },
    "issuer": "Root CA",
    "this_update": "2026-02-22T12:00:00Z",
    "next_update": "2026-03-01T17:30:00Z",
    "entries": 0,
    "problem": "stale: nextUpdate in 5h 30m, not replaced yet",
    "error": ""
  },
  {
    "state": "error",
    "path": "/etc/nginx/half.pem",
    "index": null,
    "labels": {},
    "issuer": "",
    "this_update": null,
    "next_update": null,
    "entries": 0,
    "problem": "cannot be read: PEM block 1 (X509 CRL): x509: malformed tbs crl",
    "error": "PEM block 1 (X509 CRL): x509: malformed tbs crl"
  },
  {
    "state": "stale",
    "path": "/etc/nginx/half.pem",
    "index": 0,
    "labels": {},
    "issuer": "Old CA",
    "this_update": "2026-02-27T12:00:00Z",
    "next_update": "2026-03-01T10:30:00Z",
    "entries": 0,
    "problem": "stale: nextUpdate passed 1h 30m ago",
    "error": ""
  },
  {
    "state": "error",
    "path": "/var/lib/crl/gone.crl",
    "index": null,
    "labels": {},
    "issuer": "",
    "this_update": null,
    "next_update": null,
    "entries": 0,
    "problem": "cannot be read: symlink target /var/lib/crl/x.crl does not exist",
    "error": "symlink target /var/lib/crl/x.crl does not exist"
  },
  {
    "state": "ok",
    "path": "/var/lib/crl/none.crl",
    "index": 0,
    "labels": {},
    "issuer": "Lazy CA",
    "this_update": "2026-02-28T12:00:00Z",
    "next_update": null,
    "entries": 0,
    "problem": "",
    "error": ""
  }
]`
	if string(got) != want {
		t.Errorf("crls:\n%s\nwant:\n%s", got, want)
	}
	if n := len(r.CRLProblems()); n != 4 {
		t.Errorf("%d CRL problems, want 4 (two stale, two errors)", n)
	}
	if empty, _ := json.Marshal(Build(viewOf(&source.Snapshot{}), now, DefaultThresholds).CRLs); string(empty) != "[]" {
		t.Errorf("no CRL files: %s, want []", empty)
	}
}
