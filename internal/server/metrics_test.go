package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// TestMetricsFormats: /metrics answers each format Prometheus negotiates (text, OpenMetrics
// with gzip, protobuf) with the same series; the text formats take the fast path, protobuf
// the registry.
func TestMetricsFormats(t *testing.T) {
	const files = 3
	w := newWorld(t, files)
	e := start(t, w.cfgPath, nil)
	waitLeaves(t, e.Registry(), files)
	waitSeries(t, e.Registry(), "cert_chain_verified", "probe", 1) // the background target's first probe
	h := e.Handler(HTTPOptions{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	var first []string
	for _, tc := range []struct {
		name, accept, encoding, wantType string
	}{
		{"text", "", "", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"},
		{"openmetrics+gzip", "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2", "gzip",
			"application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"},
		{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3", "",
			"application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=underscores"},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		req.Header.Set("Accept-Encoding", tc.encoding) // set even when empty: no transparent gzip
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = resp.Body
		if got := resp.Header.Get("Content-Encoding"); got != tc.encoding {
			t.Errorf("%s: Content-Encoding %q, want %q", tc.name, got, tc.encoding)
		} else if got == "gzip" {
			if body, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		}
		data, err := io.ReadAll(body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		ct := resp.Header.Get("Content-Type")
		if ct != tc.wantType {
			t.Errorf("%s: Content-Type %q, want %q", tc.name, ct, tc.wantType)
		}
		series := scrapeSeries(t, data, ct)
		if n := countFiles(series, "cert_not_after_timestamp_seconds{"); n != 2*files {
			t.Errorf("%s: %d cert_not_after_timestamp_seconds series, want %d", tc.name, n, 2*files)
		}
		if first == nil {
			first = series
		} else if strings.Join(series, "\n") != strings.Join(first, "\n") {
			t.Errorf("%s: series differ from the text format's:\n%s\n---\n%s", tc.name, strings.Join(series, "\n"), strings.Join(first, "\n"))
		}
		if tc.name == "openmetrics+gzip" && !bytes.HasSuffix(data, []byte("\n# EOF\n")) {
			t.Errorf("OpenMetrics without # EOF at the end")
		}
	}
}

// scrapeSeries decodes a scrape and returns the exporter's own series (cert_*; the Go
// collector's summaries are spelled differently per format) as sorted name{labels} strings.
// OpenMetrics is read with the text decoder: for gauges and counters ending in _total the
// two formats are the same.
func scrapeSeries(t *testing.T, data []byte, contentType string) []string {
	t.Helper()
	h := http.Header{"Content-Type": {contentType}}
	format := expfmt.ResponseFormat(h)
	if format.FormatType() == expfmt.TypeOpenMetrics {
		// Only the cert_* families: the Go collector's counters are named differently.
		var own bytes.Buffer
		for _, line := range strings.SplitAfter(string(data), "\n") {
			if strings.HasPrefix(line, "cert_") || strings.HasPrefix(line, "# HELP cert_") || strings.HasPrefix(line, "# TYPE cert_") {
				own.WriteString(line)
			}
		}
		data, format = own.Bytes(), expfmt.NewFormat(expfmt.TypeTextPlain)
	}
	dec := expfmt.NewDecoder(bytes.NewReader(data), format)
	var out []string
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", contentType, err)
		}
		if !strings.HasPrefix(mf.GetName(), "cert_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			sort.Strings(ls)
			out = append(out, mf.GetName()+"{"+strings.Join(ls, ",")+"}")
		}
	}
	sort.Strings(out)
	return out
}

// countFiles counts the series of local files whose name{ starts with prefix.
func countFiles(series []string, prefix string) int {
	n := 0
	for _, s := range series {
		if strings.HasPrefix(s, prefix) && strings.Contains(s, `source="file"`) {
			n++
		}
	}
	return n
}
