package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

type funcCollector func(ch chan<- prometheus.Metric)

func (funcCollector) Describe(chan<- *prometheus.Desc)      {}
func (f funcCollector) Collect(ch chan<- prometheus.Metric) { f(ch) }

// lbResult is a probe of a name with two addresses: one served a chain, one refused.
func lbResult(now time.Time) Result {
	pki := testcerts.NewPKI("Probe", now)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"lb.example"}, Now: now})
	loc := certs.Location{Source: certs.SourceProbe, Target: "lb.example:443", IP: "192.0.2.1"}
	return Result{
		Target:   "lb.example:443",
		Duration: 1500 * time.Millisecond,
		Addrs: []Addr{
			{IP: "192.0.2.1", Success: true, Duration: 250 * time.Millisecond, TLSVersion: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256",
				Chain: certs.Chain{Location: loc, Certs: []certs.Cert{certs.New(leaf.Cert), certs.New(pki.Intermediate.Cert)},
					Verify: certs.VerifyResult{Reason: certs.ReasonExpired, ChainExpiry: leaf.Cert.NotAfter}}},
			{IP: "2001:db8::1", Failure: failConnect, Error: "connection refused", Duration: time.Second,
				Chain: certs.Chain{Location: certs.Location{Source: certs.SourceProbe, Target: "lb.example:443", IP: "2001:db8::1"}}},
		},
	}
}

func TestTargetsGolden(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := now.Add(-time.Minute)
	lb := lbResult(now)
	// 2001:db8::1 failed just now; the chain it served an hour ago is still exported (stale).
	old := lb.Addrs[0].Chain
	old.IP = "2001:db8::1"
	old.Certs = old.Certs[:1]
	addrs := []served{
		{IP: "192.0.2.1", At: at, Chain: lb.Addrs[0].Chain},
		{IP: "2001:db8::1", At: at.Add(-time.Hour), Chain: old, FailingSince: at, Stale: true},
	}
	snap := &targetsSnapshot{Probes: []*lastProbe{
		{Target: "lb.example:443", Module: "tls", At: at, Result: lb, Served: addrs},
		{Target: "gone.example:25", Module: "smtp", At: at, Result: Result{Target: "gone.example:25", Failure: failDNS, Duration: 20 * time.Millisecond}},
	}}
	c := funcCollector(func(ch chan<- prometheus.Metric) {
		collector.Chains{Chains: snap.chains(), Now: now}.Collect(ch)
		snap.collect(ch)
	})
	want := `
# HELP cert_chain_verified 1 when the chain verifies, else 0, with the reason.
# TYPE cert_chain_verified gauge
cert_chain_verified{ip="192.0.2.1",reason="expired",source="probe",target="lb.example:443"} 0
cert_chain_verified{ip="2001:db8::1",reason="expired",source="probe",target="lb.example:443"} 0
# HELP cert_probe_duration_seconds Duration of the last probe.
# TYPE cert_probe_duration_seconds gauge
cert_probe_duration_seconds{ip="",module="smtp",target="gone.example:25"} 0.02
cert_probe_duration_seconds{ip="192.0.2.1",module="tls",target="lb.example:443"} 0.25
cert_probe_duration_seconds{ip="2001:db8::1",module="tls",target="lb.example:443"} 1
# HELP cert_probe_failure 1 with the reason when the last probe failed; absent when it succeeded.
# TYPE cert_probe_failure gauge
cert_probe_failure{ip="",module="smtp",reason="dns",target="gone.example:25"} 1
cert_probe_failure{ip="2001:db8::1",module="tls",reason="connect",target="lb.example:443"} 1
# HELP cert_probe_last_timestamp_seconds When the last probe finished.
# TYPE cert_probe_last_timestamp_seconds gauge
cert_probe_last_timestamp_seconds{ip="",module="smtp",target="gone.example:25"} 1.79560794e+09
cert_probe_last_timestamp_seconds{ip="192.0.2.1",module="tls",target="lb.example:443"} 1.79560794e+09
cert_probe_last_timestamp_seconds{ip="2001:db8::1",module="tls",target="lb.example:443"} 1.79560794e+09
# HELP cert_probe_last_success_timestamp_seconds When the address was last probed successfully; its certificate series are those of that probe while later ones fail.
# TYPE cert_probe_last_success_timestamp_seconds gauge
cert_probe_last_success_timestamp_seconds{ip="192.0.2.1",module="tls",target="lb.example:443"} 1.79560794e+09
cert_probe_last_success_timestamp_seconds{ip="2001:db8::1",module="tls",target="lb.example:443"} 1.79560434e+09
# HELP cert_probe_success 1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).
# TYPE cert_probe_success gauge
cert_probe_success{ip="",module="smtp",target="gone.example:25"} 0
cert_probe_success{ip="192.0.2.1",module="tls",target="lb.example:443"} 1
cert_probe_success{ip="2001:db8::1",module="tls",target="lb.example:443"} 0
# HELP cert_probe_tls_info TLS version and cipher negotiated; always 1.
# TYPE cert_probe_tls_info gauge
cert_probe_tls_info{cipher="TLS_AES_128_GCM_SHA256",ip="192.0.2.1",module="tls",target="lb.example:443",version="TLS 1.3"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"cert_probe_success", "cert_probe_duration_seconds", "cert_probe_last_timestamp_seconds", "cert_probe_last_success_timestamp_seconds", "cert_probe_tls_info",
		"cert_probe_failure", "cert_chain_verified"); err != nil {
		t.Error(err)
	}
	// The certificate series of the served and stale chains are there too (their rendering is
	// tested in TestChainsGolden); an intermediate has no cert_expiry_seconds of its own.
	if n := testutil.CollectAndCount(c, "cert_expiry_seconds"); n != 2 {
		t.Errorf("%d cert_expiry_seconds series, want 2", n)
	}
}

func TestProbeResultGolden(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r := lbResult(now)
	reg := prometheus.NewRegistry()
	reg.MustRegister(resultCollector{Result: &r, Module: "tls", Now: now})
	want := `
# HELP probe_duration_seconds How long the probe took.
# TYPE probe_duration_seconds gauge
probe_duration_seconds 1.5
# HELP probe_failure 1 per reason that made the probe fail.
# TYPE probe_failure gauge
probe_failure{reason="connect"} 1
# HELP probe_success 1 when every address of the target was probed successfully.
# TYPE probe_success gauge
probe_success 0
# HELP cert_probe_last_success_timestamp_seconds When the address was last probed successfully; its certificate series are those of that probe while later ones fail.
# TYPE cert_probe_last_success_timestamp_seconds gauge
cert_probe_last_success_timestamp_seconds{ip="192.0.2.1",module="tls",target="lb.example:443"} 1.79560794e+09
cert_probe_last_success_timestamp_seconds{ip="2001:db8::1",module="tls",target="lb.example:443"} 1.79560434e+09
# HELP cert_probe_success 1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).
# TYPE cert_probe_success gauge
cert_probe_success{ip="192.0.2.1",module="tls",target="lb.example:443"} 1
cert_probe_success{ip="2001:db8::1",module="tls",target="lb.example:443"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "probe_success", "probe_duration_seconds", "probe_failure", "cert_probe_success"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "cert_probe_last_timestamp_seconds"); err != nil || n != 0 {
		t.Errorf("/probe has no last-probe timestamp: %d %v", n, err)
	}
	if n, err := testutil.GatherAndCount(reg, "cert_not_after_timestamp_seconds"); err != nil || n != 2 {
		t.Errorf("%d certificate series, want 2 (%v)", n, err)
	}
}
