// Package testexpo renders a source's snapshot as the exporter exposes it, for the sources'
// golden tests.
package testexpo

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Families publishes snap as the only snapshot of source name, as the exporter does, and
// returns the text exposition at now of the named families, in the registry's order.
func Families(t testing.TB, name string, snap *source.Snapshot, now time.Time, families ...string) string {
	t.Helper()
	store := inventory.New(name)
	store.Restart(name, true)(snap)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.New(store, func() time.Time { return now }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if slices.Contains(families, mf.GetName()) {
			if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	return buf.String()
}
