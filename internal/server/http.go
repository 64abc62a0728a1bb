package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	toolkit "github.com/prometheus/exporter-toolkit/web"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/web"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// Name is the exporter's name, used for build_info and the landing page.
const Name = "cert_expiry_exporter"

// HTTPOptions are the flags that shape the HTTP endpoints.
type HTTPOptions struct {
	EnablePprof bool
}

// registry is a /metrics registry: build info, Go and process collectors, the reload gauges
// and inv (the inventory's collector; none for a scrape that adds its own).
func (e *Exporter) registry(inv ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector(Name),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		e.reloadOK, e.reloadTime,
	)
	reg.MustRegister(inv...)
	return reg
}

// Handler serves every endpoint.
func (e *Exporter) Handler(o HTTPOptions) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", e.metricsHandler())
	mux.Handle("/probe", probe.Handler(e.Config, e.logger.With("handler", "probe"), e.now))
	report := func() inventory.Report { return inventory.Build(e.store.View(), e.now(), inventory.DefaultThresholds) }
	mux.Handle("/certificates", web.CertificatesHandler(report, false))
	mux.Handle("/certificates.json", web.CertificatesHandler(report, true))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if pending := e.store.Pending(); len(pending) > 0 {
			http.Error(w, "Not ready: waiting for the first pass of "+strings.Join(pending, ", "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "Only POST or PUT requests allowed", http.StatusMethodNotAllowed)
			return
		}
		if err := e.Reload(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Config reloaded")
	})
	mux.HandleFunc("/config", func(w http.ResponseWriter, _ *http.Request) {
		out, err := e.Config().Redacted()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(out) // the client went away: nothing to do
	})
	if o.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/", web.LandingHandler(func() web.Landing {
		v := e.store.View()
		l := web.Landing{Version: version.Info(), Pprof: o.EnablePprof, Sources: v.Statuses()}
		for _, s := range v.Snapshots {
			l.Problems = append(l.Problems, s.Problems...)
		}
		if ts := e.Config().Targets; len(ts) > 0 {
			l.ProbeTarget, l.ProbeModule = ts[0].Target, ts[0].Module
		}
		return l
	}))
	// nosniff on every response: a browser must not run a label value or a config echoed in
	// text/plain or JSON as HTML.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

// shutdownGrace is how long requests in flight may finish at shutdown.
const shutdownGrace = 5 * time.Second

// Serve runs the HTTP server with exporter-toolkit (TLS, basic auth) until ctx ends.
func (e *Exporter) Serve(ctx context.Context, h http.Handler, flags *toolkit.FlagConfig) error {
	// Bounded so that idle or slow clients cannot hold connections forever; no WriteTimeout, as
	// /probe may legitimately take up to the scrape timeout.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- toolkit.ListenAndServe(srv, flags, e.logger) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		// The cause says why: "terminated signal received" (SIGTERM), "interrupt signal received".
		e.logger.Info("Shutting down", "cause", context.Cause(ctx))
		// In-flight requests (a /probe, a reload) get a few seconds, then are cut.
		sctx, cancel := clockwork.WithTimeout(context.Background(), e.clock, shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			e.logger.Warn("Requests still running at shutdown were cut", "err", err)
			return srv.Close()
		}
		return nil
	}
}
