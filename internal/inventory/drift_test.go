package inventory

import (
	"slices"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// TestDrift drives the served-vs-disk join through the store: files and probes published by
// two sources, the files dated by their last change, the probes by when they were served.
func TestDrift(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Drift", t0)
	names := []string{"a.example", "www.a.example"}
	leaf := func(notBefore time.Time, names ...string) certs.Cert {
		return certs.New(pki.Leaf(testcerts.Options{DNSNames: names, NotBefore: notBefore, NotAfter: notBefore.Add(90 * 24 * time.Hour)}).Cert)
	}
	old, renewed := leaf(t0.Add(-60*24*time.Hour), names...), leaf(t0.Add(-time.Hour), "a.example", "WWW.a.example")
	subset := leaf(t0, "a.example") // other names: never paired
	file := func(path, lineage string, changed time.Time, c ...certs.Cert) certs.Chain {
		return certs.Chain{Location: certs.Location{Source: certs.SourceFile, Path: path, Lineage: lineage}, Certs: c, Changed: changed}
	}
	served := func(ip string, seen time.Time, c certs.Cert) certs.Chain {
		return certs.Chain{Location: certs.Location{Source: certs.SourceProbe, Target: "a.example:443", IP: ip}, Certs: []certs.Cert{c, certs.New(pki.Intermediate.Cert)}, Seen: seen}
	}
	store := New("files", "targets")
	store.SetGrace(time.Hour)
	pubFiles, pubTargets := store.Restart("files", true), store.Restart("targets", true)
	check := func(step string, want []Drift) {
		t.Helper()
		got := store.View().Drift
		if len(got) != len(want) {
			t.Fatalf("%s: drift %+v, want %+v", step, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: drift[%d] = %+v, want %+v", step, i, got[i], want[i])
			}
		}
	}
	lineagePath := "/etc/letsencrypt/live/a/fullchain.pem"
	pair := func(ip string, since time.Time, outdated bool) Drift {
		return Drift{Target: "a.example:443", IP: ip, Path: lineagePath, Lineage: "a", Domain: "a.example", Since: since, Outdated: outdated}
	}

	pubFiles(&source.Snapshot{Chains: []certs.Chain{file(lineagePath, "a", t0.Add(-60*24*time.Hour), old),
		file("/srv/a-only.pem", "", t0, subset), file("/etc/ssl/chain.pem", "", t0, certs.New(pki.Intermediate.Cert))}})
	check("no probe yet", nil)
	if store.View().joined.idx != nil {
		t.Fatal("no probe yet: the stored chains were indexed for a join that has nothing to pair")
	}
	pubTargets(&source.Snapshot{Chains: []certs.Chain{served("127.0.0.1", t0, old), served("::1", t0, old)}})
	check("in sync", []Drift{pair("127.0.0.1", time.Time{}, false), pair("::1", time.Time{}, false)})

	// Renewed on disk at t1; one address picked it up (reloaded), the other did not.
	t1 := t0.Add(time.Minute)
	pubFiles(&source.Snapshot{Chains: []certs.Chain{file(lineagePath, "a", t1, renewed)}})
	check("renewed on disk, not probed since", []Drift{pair("127.0.0.1", t1, false), pair("::1", t1, false)})
	pubTargets(&source.Snapshot{Chains: []certs.Chain{served("127.0.0.1", t1.Add(30*time.Minute), renewed), served("::1", t1.Add(30*time.Minute), old)}})
	check("within grace", []Drift{pair("127.0.0.1", time.Time{}, false), pair("::1", t1, false)})
	pubTargets(&source.Snapshot{Chains: []certs.Chain{served("127.0.0.1", t1.Add(time.Hour), renewed), served("::1", t1.Add(time.Hour), old)}})
	check("at the end of the grace", []Drift{pair("127.0.0.1", time.Time{}, false), pair("::1", t1, false)})
	pubTargets(&source.Snapshot{Chains: []certs.Chain{served("127.0.0.1", t1.Add(time.Hour+time.Second), renewed), served("::1", t1.Add(time.Hour+time.Second), old)}})
	check("after grace", []Drift{pair("127.0.0.1", time.Time{}, false), pair("::1", t1, true)})

	// The grace may change on reload.
	store.SetGrace(2 * time.Hour)
	check("grace changed", []Drift{pair("127.0.0.1", time.Time{}, false), pair("::1", t1, false)})
	store.SetGrace(time.Hour)

	// A file of unknown age (no change time) is dated by its leaf's NotBefore.
	pubFiles(&source.Snapshot{Chains: []certs.Chain{file(lineagePath, "a", time.Time{}, renewed)}})
	check("undated file", []Drift{pair("127.0.0.1", time.Time{}, false), pair("::1", renewed.NotBefore, true)})

	// Deployed: cleared.
	pubTargets(&source.Snapshot{Chains: []certs.Chain{served("127.0.0.1", t1.Add(2*time.Hour), renewed), served("::1", t1.Add(2*time.Hour), renewed)}})
	check("deployed", []Drift{pair("127.0.0.1", time.Time{}, false), pair("::1", time.Time{}, false)})

	// The targets source stops: nothing to compare.
	store.Restart("targets", false)
	check("no targets", nil)
}

// TestDriftIgnoresClientCerts: a probe module's client certificate is no server's: a newer one
// for the names an endpoint serves is not "renewed but not deployed", and it does not pair.
func TestDriftIgnoresClientCerts(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("DriftClient", t0)
	leaf := func(notBefore time.Time) certs.Cert {
		return certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"c.example"}, NotBefore: notBefore, NotAfter: notBefore.Add(90 * 24 * time.Hour)}).Cert)
	}
	store := New("client", "targets")
	store.SetGrace(time.Hour)
	store.Restart("client", true)(&source.Snapshot{Chains: []certs.Chain{{
		Location: certs.Location{Source: certs.SourceClient, Path: "/etc/prom/client.pem", Module: "mtls"}, Certs: []certs.Cert{leaf(t0)}, Changed: t0}}})
	store.Restart("targets", true)(&source.Snapshot{Chains: []certs.Chain{{
		Location: certs.Location{Source: certs.SourceProbe, Target: "c.example:443", IP: "127.0.0.1"}, Certs: []certs.Cert{leaf(t0.Add(-60 * 24 * time.Hour))}, Seen: t0.Add(2 * time.Hour)}}})
	if d := store.View().Drift; len(d) != 0 {
		t.Errorf("drift %+v, want none: a client certificate is not deployed to the endpoint", d)
	}
}

// TestDriftIgnoresConfigMapBundles: a pinned certificate in a ConfigMap's CA bundle newer than
// the served one is no renewal waiting to be deployed; the same certificate in a Secret is.
func TestDriftIgnoresConfigMapBundles(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("DriftTrust", t0)
	leaf := func(notBefore time.Time) certs.Cert {
		return certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{"p.example"}, NotBefore: notBefore, NotAfter: notBefore.Add(90 * 24 * time.Hour)}).Cert)
	}
	for _, tc := range []struct {
		loc   certs.Location
		drift int
	}{
		{certs.Location{Source: certs.SourceKubernetes, Namespace: "web", ConfigMap: "trust", Key: "ca.crt"}, 0},
		{certs.Location{Source: certs.SourceKubernetes, Namespace: "web", Secret: "p-tls", Key: "tls.crt"}, 1},
	} {
		store := New("kubernetes", "targets")
		store.SetGrace(time.Hour)
		store.Restart("kubernetes", true)(&source.Snapshot{Chains: []certs.Chain{{Location: tc.loc, Certs: []certs.Cert{leaf(t0)}, Changed: t0}}})
		store.Restart("targets", true)(&source.Snapshot{Chains: []certs.Chain{{
			Location: certs.Location{Source: certs.SourceProbe, Target: "p.example:443", IP: "127.0.0.1"}, Certs: []certs.Cert{leaf(t0.Add(-60 * 24 * time.Hour))}, Seen: t0.Add(2 * time.Hour)}}})
		if d := store.View().Drift; len(d) != tc.drift {
			t.Errorf("%+v: drift %+v, want %d", tc.loc, d, tc.drift)
		}
	}
}

// TestDriftPairsReferencedSecrets: a target discovered from an Ingress or a Gateway is
// compared with the Secrets they name, whatever the names of their certificates, and not with
// copies of a certificate in other Secrets or files; by names when none of its Secrets is
// stored.
func TestDriftPairsReferencedSecrets(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("DriftRefs", t0)
	leaf := func(notBefore time.Time, names ...string) certs.Cert {
		return certs.New(pki.Leaf(testcerts.Options{DNSNames: names, NotBefore: notBefore, NotAfter: notBefore.Add(90 * 24 * time.Hour)}).Cert)
	}
	old := leaf(t0.Add(-60*24*time.Hour), "a.example")
	renamed := leaf(t0.Add(-time.Hour), "a.example", "b.example") // renewed with one more name
	newer := leaf(t0.Add(-2*time.Hour), "a.example")              // another namespace's copy, renewed apart
	secret := func(ns, name string, c certs.Cert) certs.Chain {
		return certs.Chain{Location: certs.Location{Source: certs.SourceKubernetes, Namespace: ns, Secret: name, Key: "tls.crt"}, Certs: []certs.Cert{c}, Changed: c.NotBefore}
	}
	stored := []certs.Chain{
		secret("web", "site", renamed),
		secret("copy", "site", old),
		secret("copy2", "site", newer),
		{Location: certs.Location{Source: certs.SourceKubernetes, Namespace: "web", Secret: "site", Key: "extra.pem"}, Certs: []certs.Cert{newer}}, // not what a controller serves
		{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/ssl/a.pem"}, Certs: []certs.Cert{newer}, Changed: newer.NotBefore},
	}
	pair := func(ns, name, key, path string, since time.Time) Drift {
		return Drift{Target: "a.example:443", IP: "127.0.0.1", Namespace: ns, Secret: name, Key: key, Path: path, Domain: "a.example", Since: since, Outdated: !since.IsZero()}
	}
	// By names: the copies, the file and the Secret's other key; not the renamed tls.crt.
	byNames := []Drift{pair("", "", "", "/etc/ssl/a.pem", newer.NotBefore), pair("copy", "site", "tls.crt", "", time.Time{}),
		pair("copy2", "site", "tls.crt", "", newer.NotBefore), pair("web", "site", "extra.pem", "", newer.NotBefore)}
	for _, tc := range []struct {
		name    string
		served  certs.Cert
		deploys []source.Deploy
		want    []Drift
	}{
		{"the named Secret, renewed with other names", old, []source.Deploy{{Target: "a.example:443", Namespace: "web", Secret: "site"}},
			[]Drift{pair("web", "site", "tls.crt", "", renamed.NotBefore)}},
		{"another target's Secret", old, []source.Deploy{{Target: "b.example:443", Namespace: "web", Secret: "site"}},
			byNames},
		{"a Secret not stored: by names", old, []source.Deploy{{Target: "a.example:443", Namespace: "web", Secret: "gone"}},
			byNames},
		// Two objects name the host with two Secrets: the one served is deployed.
		{"two Secrets, one served", newer, []source.Deploy{{Target: "a.example:443", Namespace: "web", Secret: "site"}, {Target: "a.example:443", Namespace: "copy2", Secret: "site"}},
			[]Drift{pair("copy2", "site", "tls.crt", "", time.Time{})}},
		{"two Secrets, neither served", old, []source.Deploy{{Target: "a.example:443", Namespace: "web", Secret: "site"}, {Target: "a.example:443", Namespace: "copy2", Secret: "site"}},
			[]Drift{pair("copy2", "site", "tls.crt", "", newer.NotBefore), pair("web", "site", "tls.crt", "", renamed.NotBefore)}},
	} {
		store := New("kubernetes", "kubernetes_ingresses")
		store.SetGrace(time.Hour)
		store.Restart("kubernetes", true)(&source.Snapshot{Chains: stored})
		store.Restart("kubernetes_ingresses", true)(&source.Snapshot{Deploys: tc.deploys, Chains: []certs.Chain{{
			Location: certs.Location{Source: certs.SourceProbe, Target: "a.example:443", IP: "127.0.0.1"}, Certs: []certs.Cert{tc.served}, Seen: t0.Add(2 * time.Hour)}}})
		if got := store.View().Drift; !slices.Equal(got, tc.want) {
			t.Errorf("%s:\ndrift %+v\nwant  %+v", tc.name, got, tc.want)
		}
	}
}
