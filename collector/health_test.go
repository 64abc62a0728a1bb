package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

type funcCollector func(ch chan<- prometheus.Metric)

func (funcCollector) Describe(chan<- *prometheus.Desc)      {}
func (f funcCollector) Collect(ch chan<- prometheus.Metric) { f(ch) }

// storeWith is a store holding snaps as published by sources s0, s1…
func storeWith(snaps ...*source.Snapshot) *inventory.Store {
	names := make([]string, len(snaps))
	for i := range snaps {
		names[i] = fmt.Sprintf("s%d", i)
	}
	store := inventory.New(names...)
	for i, s := range snaps {
		store.Restart(names[i], true)(s)
	}
	return store
}

func TestHealthGolden(t *testing.T) {
	ok := time.Unix(1700000000, 0)
	statuses := []source.Status{
		{Source: "files", Name: "/etc/letsencrypt/live/*/fullchain.pem", Up: true, LastSuccess: ok, Errors: source.NewErrors("parse", "permission")},
		{Source: "targets", Name: "a:443", Up: true, LastSuccess: ok, Errors: map[string]uint64{"timeout": 1, "dns": 0}},
		{Source: "targets", Name: "b:443", Up: false, Errors: map[string]uint64{"timeout": 2, "dns": 1}},
	}
	want := `
# HELP cert_expiry_exporter_errors_total Errors by source and fixed reason.
# TYPE cert_expiry_exporter_errors_total counter
cert_expiry_exporter_errors_total{reason="dns",source="targets"} 1
cert_expiry_exporter_errors_total{reason="parse",source="files"} 0
cert_expiry_exporter_errors_total{reason="permission",source="files"} 0
cert_expiry_exporter_errors_total{reason="timeout",source="targets"} 3
# HELP cert_expiry_exporter_source_last_success_timestamp_seconds When the source last worked.
# TYPE cert_expiry_exporter_source_last_success_timestamp_seconds gauge
cert_expiry_exporter_source_last_success_timestamp_seconds{name="/etc/letsencrypt/live/*/fullchain.pem",source="files"} 1.7e+09
cert_expiry_exporter_source_last_success_timestamp_seconds{name="a:443",source="targets"} 1.7e+09
# HELP cert_expiry_exporter_source_up 1 when the source's last pass worked.
# TYPE cert_expiry_exporter_source_up gauge
cert_expiry_exporter_source_up{name="/etc/letsencrypt/live/*/fullchain.pem",source="files"} 1
cert_expiry_exporter_source_up{name="a:443",source="targets"} 1
cert_expiry_exporter_source_up{name="b:443",source="targets"} 0
`
	c := funcCollector(func(ch chan<- prometheus.Metric) { collectHealth(ch, statuses) })
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestJoinBounded(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		max  int
		want string
	}{
		{[]string{"a", "b"}, 10, "a,b"},
		{[]string{"aaaa", "bbbb"}, 6, "aaaa,b…"},
		{[]string{"ééé"}, 3, "é…"}, // never cuts inside a UTF-8 sequence
	} {
		if got := joinBounded(tc.in, tc.max); got != tc.want {
			t.Errorf("joinBounded(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestBoundedLabel(t *testing.T) {
	long := strings.Repeat("a", 1000)
	if got := Bounded(long); got != long[:maxLabelBytes]+"…" {
		t.Errorf("Bounded(1000 bytes) = %d bytes", len(got))
	}
	if got := Bounded("www.example.com"); got != "www.example.com" {
		t.Errorf("bounded changed a short value: %q", got)
	}
}
