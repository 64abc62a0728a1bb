package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/registry"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// TestScrapeReadsOneView: the files source publishes while a scrape is being rendered (here on
// every read of the clock, the one hook inside a scrape); the scrape still shows one view: the
// certificate series and source_up name the same snapshot.
func TestScrapeReadsOneView(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgPath, "drift: {grace_period: 1h}\n")
	e, err := New(ConfigSource{File: cfgPath}, registry.Sources, slog.New(slog.DiscardHandler), clockwork.NewFakeClockAt(fixedNow))
	if err != nil {
		t.Fatal(err)
	}
	leaf := testcerts.NewPKI("View", fixedNow).Leaf(testcerts.Options{CN: "view.test", Now: fixedNow})
	snap := func(n int64) *source.Snapshot {
		path := fmt.Sprintf("/certs/%d.pem", n)
		return &source.Snapshot{
			Chains: []certs.Chain{{Location: certs.Location{Source: certs.SourceFile, Path: path}, Certs: []certs.Cert{certs.New(leaf.Cert)}}},
			Status: []source.Status{{Source: "files", Name: path, Up: true}},
		}
	}
	publish := e.store.Restart("files", true)
	var gen atomic.Int64
	publish(snap(0))
	e.now = func() time.Time { publish(snap(gen.Add(1))); return fixedNow }
	h := e.metricsHandler()
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		mfs, err := parseExposition(rec.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		up := mfs["cert_expiry_exporter_source_up"].GetMetric()
		paths := leafSerials(mfs)
		if len(up) != 1 || len(paths) != 1 {
			t.Fatalf("%d source_up and %d certificates, want one each:\n%s", len(up), len(paths), rec.Body)
		}
		name := ""
		for _, l := range up[0].GetLabel() {
			if l.GetName() == "name" {
				name = l.GetValue()
			}
		}
		if _, ok := paths[name]; !ok {
			t.Fatalf("one scrape, two views: source_up names %s, the certificate series %v", name, paths)
		}
	}
}
