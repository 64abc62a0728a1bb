package server

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
)

// metricsHandler serves /metrics. For the text formats (what Prometheus asks for unless it
// scrapes native histograms) the certificate and chain series, nearly all of them, are
// written straight from the snapshots (collector.WriteChains) after the rest of the registry:
// at 10k certificates that is 10x faster than the registry path and allocates a fifth as
// much, so polling /metrics neither slows the first scan much nor grows the heap. Other formats (protobuf)
// go through the full registry.
func (e *Exporter) metricsHandler() http.Handler {
	c := collector.New(e.store, e.now)
	full := promhttp.HandlerFor(e.registry(c), promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(e.logger.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
	base := e.registry()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.NegotiateAccept(r.Header, acceptedFormats...)
		if t := format.FormatType(); t != expfmt.TypeTextPlain && t != expfmt.TypeOpenMetrics {
			full.ServeHTTP(w, r)
			return
		}
		// One view and one time for the whole scrape (the registry's series and WriteChains').
		scrape := c.Scrape()
		inv := prometheus.NewRegistry()
		inv.MustRegister(scrape)
		mfs, err := prometheus.Gatherers{base, inv}.Gather()
		if err != nil { // serve what was gathered, as promhttp.ContinueOnError does
			e.logger.Error("Error gathering metrics", "err", err)
		}
		h := w.Header()
		h.Set("Content-Type", string(format))
		h.Add("Vary", "Accept-Encoding")
		var out io.Writer = w
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			gz := gzipPool.Get().(*gzip.Writer)
			gz.Reset(w)
			defer func() { gz.Close(); gzipPool.Put(gz) }()
			out = gz
		}
		enc := expfmt.NewEncoder(out, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				e.logger.Debug("Error writing metrics", "err", err) // the client went away
				return
			}
		}
		if err := scrape.WriteChains(out); err != nil {
			e.logger.Debug("Error writing metrics", "err", err)
			return
		}
		if closer, ok := enc.(expfmt.Closer); ok {
			_ = closer.Close() // OpenMetrics' # EOF
		}
	})
}

// acceptedFormats are those promhttp offers with OpenMetrics enabled, in its order of preference.
var acceptedFormats = expfmt.DefaultOpenMetricsAcceptedFormats()

// gzipPool reuses compressors (each holds ~1 MB of state). BestSpeed: /metrics is ~2 KiB of
// text per certificate (20 MiB at 10k), so compression speed matters more than its ratio.
var gzipPool = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return gz
}}

// acceptsGzip reports whether an Accept-Encoding header value allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
