package collector

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

func TestChainsGolden(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Golden", now)
	leaf := pki.Leaf(testcerts.Options{CN: "www.example.com", DNSNames: []string{"www.example.com", "example.com"},
		NotBefore: now.Add(-80 * 24 * time.Hour), NotAfter: now.Add(10 * 24 * time.Hour)})
	chain := certs.Chain{
		Location:   certs.Location{Source: certs.SourceProbe, Target: "www.example.com:443", IP: "127.0.0.1"},
		Certs:      []certs.Cert{certs.New(leaf.Cert), certs.New(pki.Intermediate.Cert)},
		Verify:     certs.VerifyResult{Reason: certs.ReasonOK, ChainExpiry: leaf.Cert.NotAfter},
		Revocation: &certs.Revocation{Method: "crl", CheckedAt: now.Add(-time.Minute)},
	}
	l, i := chain.Certs[0], chain.Certs[1]
	// Label names in the text must be sorted, as the registry sorts them; empty ones (path,
	// lineage of a probe) are left out.
	lbl := func(c certs.Cert, idx int, extra ...string) string {
		m := map[string]string{"domain": c.Domain, "index": fmt.Sprint(idx), "ip": "127.0.0.1", "issuer": c.Issuer,
			"serial": c.Serial, "source": "probe", "target": "www.example.com:443"}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] != "" {
				m[extra[i]] = extra[i+1]
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%q", k, m[k])
		}
		return strings.Join(parts, ",")
	}
	revLbl := lbl(l, 0, "method", "crl")
	infoLbl := func(c certs.Cert, idx int, isCA, sans, subject, eku string) string {
		return lbl(c, idx, "eku", eku, "is_ca", isCA, "key_type", "ecdsa-p256", "sans", sans, "signature_algorithm", "ECDSA-SHA256", "subject", subject)
	}
	ts := func(t time.Time) string { return fmt.Sprintf("%g", float64(t.Unix())) }
	// The chain expires with its leaf: no cert_chain_expiry_timestamp_seconds. The
	// intermediate has its NotAfter and cert_info only; false flags are left out.
	want := fmt.Sprintf(`
# HELP cert_chain_verified 1 when the chain verifies, else 0, with the reason.
# TYPE cert_chain_verified gauge
cert_chain_verified{ip="127.0.0.1",reason="ok",source="probe",target="www.example.com:443"} 1
# HELP cert_expiry_seconds Seconds until the certificate's NotAfter, computed at scrape time; negative when expired.
# TYPE cert_expiry_seconds gauge
cert_expiry_seconds{%[1]s} 864000
# HELP cert_info Descriptive certificate data; always 1.
# TYPE cert_info gauge
cert_info{%[8]s} 1
cert_info{%[9]s} 1
# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
cert_not_after_timestamp_seconds{%[1]s} %[3]s
cert_not_after_timestamp_seconds{%[2]s} %[4]s
# HELP cert_not_before_timestamp_seconds Certificate NotBefore as a Unix timestamp.
# TYPE cert_not_before_timestamp_seconds gauge
cert_not_before_timestamp_seconds{%[1]s} %[5]s
# HELP cert_revocation_checked_timestamp_seconds When the revocation status was last established.
# TYPE cert_revocation_checked_timestamp_seconds gauge
cert_revocation_checked_timestamp_seconds{%[7]s} %[6]s
# HELP cert_revoked 1 when the leaf is revoked, 0 when a revocation check says good.
# TYPE cert_revoked gauge
cert_revoked{%[7]s} 0
`, lbl(l, 0), lbl(i, 1), ts(l.NotAfter),
		ts(i.NotAfter), ts(l.NotBefore), ts(now.Add(-time.Minute)), revLbl,
		infoLbl(l, 0, "", "www.example.com,example.com", "CN=www.example.com", "server_auth,client_auth"),
		infoLbl(i, 1, "true", "", "CN=Golden Intermediate CA,O=Golden", "any"))
	if err := testutil.CollectAndCompare(Chains{Chains: []certs.Chain{chain}, Now: now}, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	// An intermediate that expires before the leaf is the chain's expiry.
	chain.Verify.ChainExpiry = now.Add(5 * 24 * time.Hour)
	want = fmt.Sprintf(`
# HELP cert_chain_expiry_timestamp_seconds Earliest NotAfter along the verified chain (the served certificates when it does not verify), when it is before the leaf's NotAfter.
# TYPE cert_chain_expiry_timestamp_seconds gauge
cert_chain_expiry_timestamp_seconds{ip="127.0.0.1",source="probe",target="www.example.com:443"} %s
`, ts(chain.Verify.ChainExpiry))
	if err := testutil.CollectAndCompare(Chains{Chains: []certs.Chain{chain}, Now: now}, strings.NewReader(want), "cert_chain_expiry_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
	// Expected renewal point of the 90-day leaf: 60 days after NotBefore, i.e. 20 days ago.
	if got := l.RenewalDue(); !got.Equal(now.Add(-20 * 24 * time.Hour)) {
		t.Fatalf("renewal due = %v", got)
	}
}

// TestFileChainFlags: the private-key check and the duplicate-lineage mark are chain series,
// present only when they apply (check_key enabled; a name-0001 lineage).
func TestFileChainFlags(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	leaf := testcerts.NewPKI("Flags", now).Leaf(testcerts.Options{CN: "a.example", Now: now})
	match, mismatch := true, false
	chain := func(path, lineage string, key *bool, dup bool) certs.Chain {
		return certs.Chain{Location: certs.Location{Source: certs.SourceFile, Path: path, Lineage: lineage},
			Certs: []certs.Cert{certs.New(leaf.Cert)}, KeyMatch: key, DuplicateLineage: dup}
	}
	chains := []certs.Chain{
		chain("/etc/letsencrypt/live/a/fullchain.pem", "a", &match, false),
		chain("/etc/letsencrypt/live/a-0001/fullchain.pem", "a-0001", &mismatch, true),
		chain("/srv/unchecked.pem", "", nil, false),
	}
	want := `
# HELP cert_key_match With check_key: 1 when the private key matches the leaf's public key, 0 when it does not.
# TYPE cert_key_match gauge
cert_key_match{lineage="a",path="/etc/letsencrypt/live/a/fullchain.pem",source="file"} 1
cert_key_match{lineage="a-0001",path="/etc/letsencrypt/live/a-0001/fullchain.pem",source="file"} 0
# HELP cert_lineage_duplicate 1 for files of a certbot lineage named like name-0001, a duplicate created by re-running certonly.
# TYPE cert_lineage_duplicate gauge
cert_lineage_duplicate{lineage="a-0001",path="/etc/letsencrypt/live/a-0001/fullchain.pem",source="file"} 1
`
	if err := testutil.CollectAndCompare(Chains{Chains: chains, Now: now}, strings.NewReader(want), "cert_key_match", "cert_lineage_duplicate"); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyViolations: a leaf that breaks a policy has one cert_policy_violation series per
// policy, with the certificate's labels; the chains that break none have no series at all.
func TestPolicyViolations(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Policy", now)
	// 398 days from 2026-11-24: over the 200 days ballot SC-081 allows from 2026-03-15.
	long := certs.New(pki.Leaf(testcerts.Options{CN: "long.example", NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(397 * 24 * time.Hour)}).Cert)
	short := certs.New(pki.Leaf(testcerts.Options{CN: "short.example", Now: now}).Cert)
	public := certs.VerifyResult{Reason: certs.ReasonOK, Public: true}
	chains := []certs.Chain{
		{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/ssl/long.pem"}, Certs: []certs.Cert{long}, Verify: public},
		{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/ssl/private-ca.pem"}, Certs: []certs.Cert{long}, Verify: certs.VerifyResult{Reason: certs.ReasonOK}},
		{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/ssl/short.pem"}, Certs: []certs.Cert{short}, Verify: public},
	}
	want := fmt.Sprintf(`
# HELP cert_policy_violation 1 for a leaf certificate that breaks the policy named by the policy label.
# TYPE cert_policy_violation gauge
cert_policy_violation{domain="long.example",index="0",issuer="Policy Intermediate CA",path="/etc/ssl/long.pem",policy="max_validity",serial=%q,source="file"} 1
`, long.Serial)
	if err := testutil.CollectAndCompare(Chains{Chains: chains, Now: now}, strings.NewReader(want), "cert_policy_violation"); err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	if err := New(storeWith(&source.Snapshot{Chains: chains}), func() time.Time { return now }).WriteChains(&text); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(text.String(), "cert_policy_violation{"); n != 1 {
		t.Errorf("WriteChains: %d cert_policy_violation series, want 1:\n%s", n, text.String())
	}
}
