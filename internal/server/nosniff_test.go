package server

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/jonboulle/clockwork"
)

// TestNosniff: every endpoint, errors and unknown paths included, says nosniff.
func TestNosniff(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "config.yml")
	writeFile(t, cfgPath, "drift: {grace_period: 1h}\n")
	e := start(t, cfgPath, clockwork.NewFakeClockAt(fixedNow))
	h := e.Handler(HTTPOptions{})
	for _, path := range []string{"/", "/metrics", "/certificates", "/certificates.json", "/config", "/-/healthy", "/-/ready", "/-/reload", "/probe", "/nowhere"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s (%d): X-Content-Type-Options %q", path, rec.Code, got)
		}
	}
}
