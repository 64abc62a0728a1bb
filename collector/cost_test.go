package collector

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// BenchmarkSeriesCost reports what each kind of chain costs a Prometheus server: series and
// /metrics bytes per certificate and per chain (file or probed address), as WriteChains
// renders them. It measures the output, not the time: `go test -run - -bench SeriesCost
// ./collector/` (docs/performance.md#series-cost).
func BenchmarkSeriesCost(b *testing.B) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Bench", now)
	ca := certs.New(pki.Intermediate.Cert)
	const n = 1000
	leaves := make([]certs.Cert, n)
	for i := range leaves {
		name := fmt.Sprintf("host%06d.example.com", i)
		leaves[i] = certs.New(pki.Leaf(testcerts.Options{CN: name, DNSNames: []string{name, "www." + name}, Now: now}).Cert)
	}
	kinds := []struct {
		name  string
		chain func(i int) certs.Chain
	}{
		{"file_leaf", func(i int) certs.Chain { // certbot's cert.pem
			lineage := leaves[i].Domain
			return certs.Chain{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/letsencrypt/live/" + lineage + "/cert.pem", Lineage: lineage},
				Certs: []certs.Cert{leaves[i]}, Verify: certs.VerifyResult{Reason: certs.ReasonOK, ChainExpiry: leaves[i].NotAfter}}
		}},
		{"file_fullchain", func(i int) certs.Chain {
			lineage := leaves[i].Domain
			return certs.Chain{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/letsencrypt/live/" + lineage + "/fullchain.pem", Lineage: lineage},
				Certs: []certs.Cert{leaves[i], ca}, Verify: certs.VerifyResult{Reason: certs.ReasonOK, ChainExpiry: leaves[i].NotAfter}}
		}},
		{"probe", func(i int) certs.Chain {
			return certs.Chain{Location: certs.Location{Source: certs.SourceProbe, Target: leaves[i].Domain + ":443", IP: fmt.Sprintf("192.0.2.%d", i%250)},
				Certs: []certs.Cert{leaves[i], ca}, Verify: certs.VerifyResult{Reason: certs.ReasonOK, ChainExpiry: leaves[i].NotAfter}}
		}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			chains := make([]certs.Chain, n)
			nCerts := 0
			for i := range chains {
				chains[i] = k.chain(i)
				nCerts += len(chains[i].Certs)
			}
			c := New(storeWith(&source.Snapshot{Chains: chains}), func() time.Time { return now })
			var out bytes.Buffer
			for b.Loop() {
				out.Reset()
				if err := c.WriteChains(&out); err != nil {
					b.Fatal(err)
				}
			}
			series := 0
			for _, line := range bytes.Split(out.Bytes(), []byte("\n")) {
				if len(line) > 0 && line[0] != '#' {
					series++
				}
			}
			b.ReportMetric(float64(series)/n, "series/chain")
			b.ReportMetric(float64(series)/float64(nCerts), "series/cert")
			b.ReportMetric(float64(out.Len())/n, "bytes/chain")
			b.ReportMetric(float64(out.Len())/float64(nCerts), "bytes/cert")
		})
	}
}
