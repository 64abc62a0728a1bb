package collector

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
)

// WriteChains writes the certificate and chain series of every source (what a Scrape's Collect
// leaves out) in the text exposition format, which OpenMetrics shares
// for gauges. It is the /metrics fast path: these are nearly all the series, and going
// through the registry costs a const metric, label pairs, sorting and re-encoding per series
// (~1 KiB allocated each, 15 µs per certificate); this renders from the snapshots with one
// reused line buffer, one pass per family so that each family's series stay together.
func (c *Collector) WriteChains(w io.Writer) error {
	v, now := c.at()
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	scratch := make([]string, 0, scratchLabels)
	for _, f := range chainFamilies {
		started := false
		// A bufio.Writer keeps its first error and Flush returns it: the writes need no check.
		// g is f, or cert_info with the view's owner labels (infoFamily).
		emit := func(g *family, val float64, lv ...string) {
			if !started {
				_, _ = bw.WriteString(g.header)
				started = true
			}
			line = g.appendSeries(line[:0], val, lv)
			_, _ = bw.Write(line)
		}
		for _, s := range v.Snapshots {
			for i := range s.Chains {
				collectChain(emit, f, &s.Chains[i], now, v, scratch)
			}
		}
	}
	return bw.Flush()
}

// textHeader is the family's HELP and TYPE lines. Help texts hold no backslash, newline or
// quote (TestFamiliesText), so they need no escaping in either format.
func textHeader(name, help string) string {
	return "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n"
}

// labelOrder lists the label indexes sorted by name, the order the registry path writes them
// in, so both paths print identical lines.
func labelOrder(labels []string) []int {
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return labels[order[a]] < labels[order[b]] })
	return order
}

// appendSeries appends one sample line, its labels in name order and the empty ones left
// out, as the registry path writes it.
func (f *family) appendSeries(b []byte, v float64, labelValues []string) []byte {
	b = append(b, f.name...)
	sep := byte('{')
	for _, i := range f.order {
		if labelValues[i] == "" {
			continue
		}
		b = append(b, sep)
		b = append(b, f.labels[i]...)
		b = append(b, '=', '"')
		b = appendEscaped(b, labelValues[i])
		b = append(b, '"')
		sep = ','
	}
	if sep == ',' {
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendEscaped escapes a label value as both text formats do: backslash, quote, newline.
func appendEscaped(b []byte, s string) []byte {
	if !needsEscape(s) {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, s[i])
		}
	}
	return b
}

// needsEscape is strings.ContainsAny(s, "\\\"\n") without its per-call set building, which
// was a fifth of a scrape.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c == '\n' {
			return true
		}
	}
	return false
}

// appendFloat formats a sample value as expfmt does, except that a whole number (every
// timestamp and expiry) is written as an integer: 1813257483 parses to the same value as
// expfmt's 1.813257483e+09, five bytes shorter on most series.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	case f == math.Trunc(f) && math.Abs(f) < 1<<53 && !(f == 0 && math.Signbit(f)):
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
