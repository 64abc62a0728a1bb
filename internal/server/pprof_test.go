package server

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestPprofOffByDefault: the profiling endpoints exist only with --web.enable-pprof
// (HTTPOptions.EnablePprof); by default every /debug/pprof path is 404 and the landing page
// does not link them.
func TestPprofOffByDefault(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	writeFile(t, p, "drift: {grace_period: 1h}\n")
	e := start(t, p, nil)
	paths := []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/goroutine", "/debug/pprof/symbol", "/debug/pprof/trace?seconds=0"}
	for _, tc := range []struct {
		opts    HTTPOptions
		want    int
		linked  bool
		variant string
	}{
		{HTTPOptions{}, http.StatusNotFound, false, "default"},
		{HTTPOptions{EnablePprof: true}, http.StatusOK, true, "--web.enable-pprof"},
	} {
		h := e.Handler(tc.opts)
		for _, path := range paths {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			if rec.Code != tc.want {
				t.Errorf("%s: GET %s = %d, want %d", tc.variant, path, rec.Code, tc.want)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if linked := strings.Contains(rec.Body.String(), `href="/debug/pprof`); linked != tc.linked {
			t.Errorf("%s: landing page links /debug/pprof: %v, want %v", tc.variant, linked, tc.linked)
		}
	}
}
