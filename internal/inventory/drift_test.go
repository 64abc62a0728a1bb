package inventory

import (
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/targets"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

func servedSnapshot(at time.Time, chains ...certs.Chain) *targets.Snapshot {
	byTarget := map[string]*targets.Probe{}
	snap := &targets.Snapshot{}
	for _, c := range chains {
		p := byTarget[c.Target]
		if p == nil {
			p = &targets.Probe{Target: c.Target, Module: "default", At: at, Result: probe.Result{Target: c.Target}}
			byTarget[c.Target] = p
			snap.Probes = append(snap.Probes, p)
		}
		p.Result.Addrs = append(p.Result.Addrs, probe.Addr{IP: c.IP, Success: true, Chain: c})
	}
	return snap
}

// TestDrift drives the join through the inventory's publishers with an injected clock.
func TestDrift(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	now := t0
	pki := testcerts.NewPKI("Drift", t0)
	names := []string{"a.example", "www.a.example"}
	leaf := func(notBefore time.Time, names ...string) certs.Cert {
		return certs.New(pki.Leaf(testcerts.Options{DNSNames: names, NotBefore: notBefore, NotAfter: notBefore.Add(90 * 24 * time.Hour)}).Cert)
	}
	old, renewed := leaf(t0.Add(-60*24*time.Hour), names...), leaf(t0.Add(-time.Hour), "a.example", "WWW.a.example")
	subset := leaf(t0, "a.example") // other names: never paired
	file := func(path, lineage string, c ...certs.Cert) certs.Chain {
		return certs.Chain{Location: certs.Location{Source: certs.SourceFile, Path: path, Lineage: lineage}, Certs: c}
	}
	served := func(ip string, c certs.Cert) certs.Chain {
		return certs.Chain{Location: certs.Location{Source: certs.SourceProbe, Target: "a.example:443", IP: ip}, Certs: []certs.Cert{c, certs.New(pki.Intermediate.Cert)}}
	}
	inv := New()
	fgen, tgen := inv.Restart(Files, true), inv.Restart(Targets, true)
	pubFiles, pubTargets := inv.FilesPublisher(fgen), inv.TargetsPublisher(tgen)
	check := func(step string, want []Drift, outdated []bool) {
		t.Helper()
		got := inv.View().Drift
		if len(got) != len(want) {
			t.Fatalf("%s: drift %+v, want %+v", step, got, want)
		}
		for i := range got {
			if got[i] != want[i] || got[i].Outdated(now) != outdated[i] {
				t.Fatalf("%s: drift[%d] = %+v (outdated %v), want %+v (outdated %v)", step, i, got[i], got[i].Outdated(now), want[i], outdated[i])
			}
		}
	}
	lineagePath := "/etc/letsencrypt/live/a/fullchain.pem"
	pair := func(ip, path, lineage string, since time.Time) Drift {
		d := Drift{Target: "a.example:443", IP: ip, Path: path, Lineage: lineage, Domain: "a.example"}
		if !since.IsZero() {
			d.Since, d.OutdatedAt = since, since.Add(time.Hour)
		}
		return d
	}

	pubFiles(&files.Snapshot{Chains: []certs.Chain{file(lineagePath, "a", old), file("/srv/a-only.pem", "", subset), file("/etc/ssl/chain.pem", "", certs.New(pki.Intermediate.Cert))}})
	pubTargets(servedSnapshot(now, served("127.0.0.1", old), served("::1", old)))
	check("before SetDrift", nil, nil)
	inv.SetDrift(time.Hour, func() time.Time { return now })
	check("in sync", []Drift{pair("127.0.0.1", lineagePath, "a", time.Time{}), pair("::1", lineagePath, "a", time.Time{})}, []bool{false, false})

	// Renewed on disk; one address picked it up (reloaded), the other did not.
	now = t0.Add(time.Minute)
	pubFiles(&files.Snapshot{Chains: []certs.Chain{file(lineagePath, "a", renewed)}})
	check("renewed on disk", []Drift{pair("127.0.0.1", lineagePath, "a", now), pair("::1", lineagePath, "a", now)}, []bool{false, false})
	since := now
	now = t0.Add(30 * time.Minute)
	pubTargets(servedSnapshot(now, served("127.0.0.1", renewed), served("::1", old)))
	check("within grace", []Drift{pair("127.0.0.1", lineagePath, "a", time.Time{}), pair("::1", lineagePath, "a", since)}, []bool{false, false})
	now = since.Add(time.Hour + time.Second)
	check("after grace", []Drift{pair("127.0.0.1", lineagePath, "a", time.Time{}), pair("::1", lineagePath, "a", since)}, []bool{false, true})

	// A reload of the config keeps the first-seen time; the grace may change.
	inv.SetDrift(2*time.Hour, func() time.Time { return now })
	want := pair("::1", lineagePath, "a", since)
	want.OutdatedAt = since.Add(2 * time.Hour)
	check("grace changed", []Drift{pair("127.0.0.1", lineagePath, "a", time.Time{}), want}, []bool{false, false})

	// Deployed: cleared.
	pubTargets(servedSnapshot(now, served("127.0.0.1", renewed), served("::1", renewed)))
	check("deployed", []Drift{pair("127.0.0.1", lineagePath, "a", time.Time{}), pair("::1", lineagePath, "a", time.Time{})}, []bool{false, false})

	// The targets source stops: nothing to compare.
	inv.Restart(Targets, false)
	check("no targets", nil, nil)
}
