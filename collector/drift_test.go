package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
)

// TestDriftGolden: 0 while the endpoint serves the disk's certificate, 0 during the grace,
// 1 after it.
func TestDriftGolden(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	drift := []inventory.Drift{
		{Target: "a.example:443", IP: "127.0.0.1", Path: "/etc/letsencrypt/live/a/fullchain.pem", Lineage: "a", Domain: "a.example"},
		{Target: "b.example:443", IP: "127.0.0.1", Path: "/etc/letsencrypt/live/b/fullchain.pem", Lineage: "b", Domain: "b.example",
			Since: now.Add(-30 * time.Minute)},
		{Target: "c.example:443", IP: "::1", Path: "/srv/c.pem", Domain: "c.example",
			Since: now.Add(-2 * time.Hour), Outdated: true},
	}
	c := funcCollector(func(ch chan<- prometheus.Metric) { collectDrift(ch, drift) })
	want := `
# HELP cert_served_outdated 1 when the endpoint serves an older certificate than the file or Secret it is to serve holds (the Secret its Ingress or Gateway names, else any with the same names), for longer than drift.grace_period; 0 while it matches.
# TYPE cert_served_outdated gauge
cert_served_outdated{domain="a.example",ip="127.0.0.1",key="",lineage="a",namespace="",path="/etc/letsencrypt/live/a/fullchain.pem",secret="",target="a.example:443"} 0
cert_served_outdated{domain="b.example",ip="127.0.0.1",key="",lineage="b",namespace="",path="/etc/letsencrypt/live/b/fullchain.pem",secret="",target="b.example:443"} 0
cert_served_outdated{domain="c.example",ip="::1",key="",lineage="",namespace="",path="/srv/c.pem",secret="",target="c.example:443"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
