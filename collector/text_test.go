package collector

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// TestWriteChains: the /metrics fast path writes exactly the certificate and chain series the
// registry path emits (same names, help, labels and values, for files and probed chains,
// label values that need escaping included, empty ones left out by both), and a Scrape
// collects none of them.
func TestWriteChains(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 250e6, time.UTC) // fractional expiry seconds
	pki := testcerts.NewPKI("Text", now)
	// Publicly trusted (below) and valid for 300 days: over ballot SC-081's 200 (cert_policy_violation).
	odd := pki.Leaf(testcerts.Options{CN: "quote\" back\\slash\nnewline", DNSNames: []string{"a.test", "b.test"}, Now: now, NotAfter: now.Add(300 * 24 * time.Hour)})
	leaf := pki.Leaf(testcerts.Options{CN: "www.text.test", Now: now})
	stored := &source.Snapshot{Chains: []certs.Chain{
		{Location: certs.Location{Source: certs.SourceFile, Path: "/etc/\"odd\"\\dir/ü.pem", Lineage: "odd-0001"},
			Certs:            []certs.Cert{certs.New(odd.Cert), certs.New(pki.Intermediate.Cert)},
			Verify:           certs.VerifyResult{Reason: certs.ReasonOK, ChainExpiry: now.Add(time.Hour), Public: true},
			KeyMatch:         new(bool),
			DuplicateLineage: true},
		{Location: certs.Location{Source: certs.SourceFile, Path: "/empty.pem"}},
	}}
	served := certs.Chain{Location: certs.Location{Source: certs.SourceProbe, Target: "www.text.test:443", IP: "127.0.0.1"},
		Certs:      []certs.Cert{certs.New(leaf.Cert)},
		Verify:     certs.VerifyResult{Reason: certs.ReasonUnknownAuthority},
		Revocation: &certs.Revocation{Method: "crl", CheckedAt: now.Add(-time.Minute)}}
	clock := func() time.Time { return now }
	c := New(storeWith(stored, &source.Snapshot{Chains: []certs.Chain{served}}), clock)

	var text bytes.Buffer
	if err := c.Scrape().WriteChains(&text); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(text.Bytes(), []byte(`=""`)) {
		t.Errorf("WriteChains writes an empty label:\n%s", text.String())
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fast, err := parser.TextToMetricFamilies(bytes.NewReader(text.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, text.String())
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	full, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	chainNames := map[string]bool{}
	for _, f := range chainFamilies {
		chainNames[f.name] = true
	}
	want := map[string]*dto.MetricFamily{}
	for _, mf := range full {
		if chainNames[mf.GetName()] {
			want[mf.GetName()] = mf
		}
	}
	if len(want) != len(chainFamilies) {
		t.Fatalf("fixture covers %d of %d families", len(want), len(chainFamilies))
	}
	if got, exp := canonical(fast), canonical(want); got != exp {
		t.Errorf("WriteChains:\n%s\nregistry:\n%s", got, exp)
	}

	rest := prometheus.NewRegistry()
	rest.MustRegister(c.Scrape())
	mfs, err := rest.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if chainNames[mf.GetName()] {
			t.Errorf("a Scrape still collects %s", mf.GetName())
		}
	}
	for _, f := range chainFamilies {
		if strings.ContainsAny(f.help, "\\\"\n") {
			t.Errorf("help of %s needs escaping, which textHeader does not do", f.name)
		}
	}
}

// canonical renders families independently of series and label order.
func canonical(mfs map[string]*dto.MetricFamily) string {
	var lines []string
	for name, mf := range mfs {
		lines = append(lines, fmt.Sprintf("%s %s %s", name, mf.GetType(), mf.GetHelp()))
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			lines = append(lines, fmt.Sprintf("%s{%s} %v", name, strings.Join(ls, ","), m.GetGauge().GetValue()))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// BenchmarkMetrics10k renders the series of 10,000 files (11,000 certificates, as
// gen-certs.go writes them) through the /metrics fast path and through the registry.
func BenchmarkMetrics10k(b *testing.B) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Bench", now)
	var leaves []certs.Cert
	for i := range 100 {
		leaves = append(leaves, certs.New(pki.Leaf(testcerts.Options{CN: fmt.Sprintf("host%06d.bench.test", i), Now: now}).Cert))
	}
	ca := certs.New(pki.Intermediate.Cert)
	chains := make([]certs.Chain, 10000)
	for i := range chains {
		c := &chains[i]
		c.Location = certs.Location{Source: certs.SourceFile, Path: fmt.Sprintf("/bench/d%04d/%06d-cert.pem", i/100, i)}
		c.Certs = []certs.Cert{leaves[i%100]}
		if i%10 == 0 {
			c.Certs = append(c.Certs, ca)
		}
		c.Verify = certs.VerifyResult{Reason: certs.ReasonOK, ChainExpiry: leaves[i%100].NotAfter}
	}
	c := New(storeWith(&source.Snapshot{Chains: chains}), func() time.Time { return now })
	b.Run("WriteChains", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.WriteChains(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("registry", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		b.ReportAllocs()
		for b.Loop() {
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			for _, mf := range mfs {
				if _, err := expfmt.MetricFamilyToText(io.Discard, mf); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// TestAppendFloat: whole values are written as integers (shorter, same value), the rest as
// expfmt writes them.
func TestAppendFloat(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{
		{1813257483, "1813257483"},
		{-86400, "-86400"},
		{0, "0"},
		{1, "1"},
		{0.25, "0.25"},
		{1.5e15, "1500000000000000"},
		{1e300, "1e+300"},
		{math.Copysign(0, -1), "-0"},
		{math.NaN(), "NaN"},
		{math.Inf(-1), "-Inf"},
	} {
		if got := string(appendFloat(nil, c.in)); got != c.want {
			t.Errorf("appendFloat(%v) = %q, want %q", c.in, got, c.want)
		}
		if v, err := strconv.ParseFloat(string(appendFloat(nil, c.in)), 64); err == nil && v != c.in && !math.IsNaN(c.in) {
			t.Errorf("appendFloat(%v) parses back as %v", c.in, v)
		}
	}
}
