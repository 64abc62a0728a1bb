package probe

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
)

// scrapeTimeoutOffset leaves Prometheus time to receive the answer before its own timeout.
const scrapeTimeoutOffset = 500 * time.Millisecond

// maxConcurrentProbes bounds /probe requests in flight: beyond it a request is refused with
// 503 at once, so a flood of scrapes cannot pile up sockets and goroutines.
const maxConcurrentProbes = 128

// Handler serves /probe?target=host:port&module=name in the multi-target exporter
// pattern: each request probes once and answers from its own registry. debug=true returns the
// probe's log and the metrics as text instead. Bad requests (unknown module, missing or
// malformed target, a target refused by probe.allowed_targets) get HTTP 400 with the reason.
func Handler(getConfig func() *config.Config, logger *slog.Logger, now func() time.Time) http.Handler {
	crls := newCRLCache(now) // shared by requests, so a CA's CRL is fetched once per NextUpdate
	// warnOpen warns once per config (at start, then at the first request after each reload)
	// when nothing restricts where /probe connects.
	var seen atomic.Pointer[config.Config]
	warnOpen := func(cfg *config.Config) {
		if seen.Swap(cfg) != cfg && len(cfg.Probe.AllowedTargets) == 0 {
			logger.Warn("probe.allowed_targets is empty: anyone who can reach /probe can make the exporter connect to any host and port; list the allowed names and networks")
		}
	}
	warnOpen(getConfig())
	inFlight := make(chan struct{}, maxConcurrentProbes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case inFlight <- struct{}{}:
			defer func() { <-inFlight }()
		default:
			http.Error(w, fmt.Sprintf("too many concurrent probes (more than %d)", maxConcurrentProbes), http.StatusServiceUnavailable)
			return
		}
		cfg := getConfig()
		warnOpen(cfg)
		q := r.URL.Query()
		moduleName := q.Get("module")
		if moduleName == "" {
			moduleName = config.DefaultModule
		}
		m, ok := cfg.Modules[moduleName]
		if !ok {
			http.Error(w, fmt.Sprintf("unknown module %q", moduleName), http.StatusBadRequest)
			return
		}
		target := q.Get("target")
		if target == "" {
			http.Error(w, "target parameter is missing", http.StatusBadRequest)
			return
		}
		if _, _, err := config.ParseTarget(target, m.StartTLS); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		timeout, err := probeTimeout(r, time.Duration(m.Timeout))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		allow, err := newAllowList(cfg.Probe.AllowedTargets)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		debug := q.Get("debug") == "true"
		res := Run(ctx, target, m, Options{Now: now, Allow: allow, CRLs: crls, Debug: debug})
		logger.Debug("probe done", "target", target, "module", moduleName, "success", res.Success(), "failures", res.Failures(), "duration", res.Duration)
		if res.Failure == failRefused {
			http.Error(w, "refused: "+res.Error, http.StatusBadRequest)
			return
		}

		reg := prometheus.NewRegistry()
		reg.MustRegister(resultCollector{Result: &res, Module: moduleName, Now: now()})
		if debug {
			writeDebug(w, &res, reg)
			return
		}
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	})
}

// probeTimeout is the scrape timeout Prometheus announces minus an offset, capped by the
// module's timeout.
func probeTimeout(r *http.Request, module time.Duration) (time.Duration, error) {
	if module <= 0 {
		module = 10 * time.Second
	}
	h := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if h == "" {
		return module, nil
	}
	s, err := strconv.ParseFloat(h, 64)
	if err != nil || s <= 0 {
		return 0, fmt.Errorf("bad X-Prometheus-Scrape-Timeout-Seconds %q", h)
	}
	t := time.Duration(s * float64(time.Second))
	if t > 2*scrapeTimeoutOffset {
		t -= scrapeTimeoutOffset
	} else {
		t /= 2
	}
	return min(t, module), nil
}

func writeDebug(w http.ResponseWriter, res *Result, reg *prometheus.Registry) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "Logs for the probe:")
	for _, l := range res.Log {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "\nMetrics that would have been returned:")
	mfs, err := reg.Gather()
	if err != nil {
		fmt.Fprintln(w, "gathering:", err)
		return
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return
		}
	}
}
