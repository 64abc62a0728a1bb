package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// TestReloadStorm: 1,000 reloads by four clients at once while the config file is rewritten in
// place (as `cat > config.yml` or an editor does: truncated, then written), alternately with
// one of two good configs and a bad one. Every scrape meanwhile must hold every certificate
// and the health of every source: a reload either applies a whole good config or keeps the
// one in force.
func TestReloadStorm(t *testing.T) {
	const files, reloaders, scrapers, reloads = 20, 4, 4, 1000
	w := newWorld(t, files)
	e := start(t, w.cfgPath, clockwork.NewRealClock())
	h := e.Handler(HTTPOptions{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := srv.Client()
	fetch := func(method, path string) (int, []byte, error) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	// complete says what a scrape lacks: a file's certificate or a source's health.
	complete := func(body []byte) error {
		mfs, err := parseExposition(body)
		if err != nil {
			return err
		}
		if n := len(leafSerials(mfs)); n != files {
			return fmt.Errorf("%d of %d files' certificates", n, files)
		}
		up := map[string]bool{}
		for _, m := range mfs["cert_expiry_exporter_source_up"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" {
					up[l.GetValue()] = true
				}
			}
		}
		if !up["files"] || !up["targets"] {
			return fmt.Errorf("source_up only for %v", up)
		}
		return nil
	}
	testwait.Until(t, func() error {
		_, body, err := fetch("GET", "/metrics")
		if err != nil {
			return err
		}
		return complete(body)
	})

	bad := []byte("files:\n  - pathz: [nowhere]\n")
	var good [2][]byte
	for v := range good {
		w.writeConfig(t, v)
		b, err := os.ReadFile(w.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		good[v] = b
	}
	var fails failures
	var scrapes, done atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range scrapers {
		wg.Go(func() {
			for ctx.Err() == nil {
				code, body, err := fetch("GET", "/metrics")
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("status %d", code)
				}
				if err == nil {
					err = complete(body)
				}
				if err != nil {
					fails.add("scrape during the storm: %v", err)
				}
				scrapes.Add(1)
			}
		})
	}
	var rw sync.WaitGroup
	for c := range reloaders {
		rw.Go(func() {
			for i := c; i < reloads; i += reloaders {
				cfg := bad
				if i%2 == 0 {
					cfg = good[i/2%2]
				}
				if err := os.WriteFile(w.cfgPath, cfg, 0o600); err != nil {
					fails.add("write: %v", err)
				}
				if code, body, err := fetch("POST", "/-/reload"); err != nil || code != http.StatusOK && !bytes.Contains(body, []byte("previous config kept")) {
					fails.add("POST /-/reload: %d %v %s", code, err, body)
				}
				done.Add(1)
			}
		})
	}
	rw.Wait()
	stop()
	wg.Wait()
	t.Logf("%d reloads, %d scrapes", done.Load(), scrapes.Load())
	if n := fails.n.Load(); n > 0 {
		t.Fatalf("%d failures; first:\n%s", n, strings.Join(fails.first, "\n"))
	}
}
