package collector

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// TestOwnerLabels: cert_info carries the union of the owner label names of every chain, each
// chain's own values (empty where its entry sets none), on both /metrics paths; the other
// families carry none.
func TestOwnerLabels(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Owner", now)
	leaf := certs.New(pki.Leaf(testcerts.Options{CN: "a.test", Now: now}).Cert)
	chain := func(loc certs.Location, l map[string]string) certs.Chain {
		return certs.Chain{Location: loc, Labels: certs.NewLabels(l), Certs: []certs.Cert{leaf}, Verify: certs.VerifyResult{Reason: certs.ReasonOK}}
	}
	files := &source.Snapshot{Chains: []certs.Chain{
		chain(certs.Location{Source: certs.SourceFile, Path: "/a.pem"}, map[string]string{"team": "web", "env": "prod"}),
		chain(certs.Location{Source: certs.SourceFile, Path: "/b.pem"}, nil),
	}}
	probes := &source.Snapshot{Chains: []certs.Chain{
		chain(certs.Location{Source: certs.SourceProbe, Target: "a.test:443", IP: "127.0.0.1"}, map[string]string{"team": "db"}),
	}}
	c := New(storeWith(files, probes), func() time.Time { return now })
	var text bytes.Buffer
	if err := c.WriteChains(&text); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&text)
	if err != nil {
		t.Fatal(err)
	}
	for name, mf := range fams {
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if (l.GetName() == "team" || l.GetName() == "env") && name != "cert_info" {
					t.Errorf("owner label %s on %s", l.GetName(), name)
				}
			}
		}
	}
	var got []string
	for _, m := range fams["cert_info"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.Label {
			l[p.GetName()] = p.GetValue()
		}
		got = append(got, fmt.Sprintf("path=%q target=%q team=%q env=%q", l["path"], l["target"], l["team"], l["env"]))
	}
	slices.Sort(got)
	want := []string{
		`path="" target="a.test:443" team="db" env=""`,
		`path="/a.pem" target="" team="web" env="prod"`,
		`path="/b.pem" target="" team="" env=""`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("cert_info owner labels:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "cert_info" {
			continue
		}
		var teams []string
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "team" {
					teams = append(teams, l.GetValue())
				}
			}
		}
		if slices.Sort(teams); !slices.Equal(teams, []string{"", "db", "web"}) {
			t.Errorf("registry cert_info team values %q", teams)
		}
	}
}

// TestReservedLabels: an owner label can never clash with a label the exporter sets on a
// certificate or chain series (config refuses the names listed in config.ReservedLabels).
func TestReservedLabels(t *testing.T) {
	for _, f := range chainFamilies {
		d := f.desc.String()
		i := strings.Index(d, "variableLabels: {")
		for _, n := range strings.Split(strings.TrimSuffix(d[i+len("variableLabels: {"):], "}}"), ",") {
			if !slices.Contains(config.ReservedLabels, n) {
				t.Errorf("%s: label %q is not in config.ReservedLabels", f.name, n)
			}
		}
	}
}
