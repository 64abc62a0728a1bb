package inventory

import (
	"fmt"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// BenchmarkPublish100k: what a publish costs with 100k stored chains and one probed address,
// for a source without chains (certbot, every second; ARI) and for a probe (the served chains
// change, the stored index is reused).
func BenchmarkPublish100k(b *testing.B) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Bench", now)
	var leaves []certs.Cert
	for i := range 100 {
		leaves = append(leaves, certs.New(pki.Leaf(testcerts.Options{DNSNames: []string{fmt.Sprintf("h%d.bench.test", i)}, Now: now}).Cert))
	}
	stored := make([]certs.Chain, 100000)
	for i := range stored {
		stored[i] = certs.Chain{Location: certs.Location{Source: certs.SourceFile, Path: fmt.Sprintf("/c/%06d.pem", i)}, Certs: []certs.Cert{leaves[i%100]}}
	}
	served := func() *source.Snapshot {
		return &source.Snapshot{Chains: []certs.Chain{{Location: certs.Location{Source: certs.SourceProbe, Target: "h1.bench.test:443", IP: "127.0.0.1"}, Certs: []certs.Cert{leaves[1]}, Seen: now}}}
	}
	s := New("files", "targets", "certbot")
	s.Restart("files", true)(&source.Snapshot{Chains: stored})
	pubTargets := s.Restart("targets", true)
	pubTargets(served())
	pubCertbot := s.Restart("certbot", true)
	b.Run("no chains", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			pubCertbot(&source.Snapshot{Renewals: []source.Renewal{{Client: "certbot", Lineage: "a", Reason: "none"}}})
		}
	})
	b.Run("probe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			pubTargets(served())
		}
	})
}
