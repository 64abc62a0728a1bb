//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// measurement is one row of docs/scenarios.md: how long from the fault to the alert in
// Alertmanager (with `for:` shortened), and how long before the certificate expires it came.
type measurement struct {
	scenario, alert string
	faultToAlert    time.Duration
	lead            time.Duration // 0 when no certificate expiry is involved
	hasLead         bool
}

var report struct {
	mu   sync.Mutex
	rows []measurement
}

// record notes that alert w of scenario reached Alertmanager at seen, for a fault made at
// fault, about a certificate expiring at notAfter (zero when not applicable).
func record(scenario string, w want, fault, seen, notAfter time.Time) {
	// Paths, ports and serials differ on every run; the table keeps the labels that say why.
	brief := want{alert: w.alert, labels: map[string]string{}}
	for k, v := range w.labels {
		switch k {
		case "path", "target", "serial", "issuer":
		default:
			brief.labels[k] = v
		}
	}
	m := measurement{scenario: scenario, alert: brief.String(), faultToAlert: seen.Sub(fault)}
	if !notAfter.IsZero() {
		m.lead, m.hasLead = notAfter.Sub(seen), true
	}
	report.mu.Lock()
	report.rows = append(report.rows, m)
	report.mu.Unlock()
}

// recordAll records every alert of seen against one fault time and expiry.
func recordAll(scenario string, wants []want, seen map[string]time.Time, fault, notAfter time.Time) {
	for _, w := range wants {
		record(scenario, w, fault, seen[w.String()], notAfter)
	}
}

func printReport(w io.Writer) {
	report.mu.Lock()
	rows := append([]measurement(nil), report.rows...)
	report.mu.Unlock()
	if len(rows) == 0 {
		return
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].scenario < rows[j].scenario })
	shipped := map[string]string{}
	if shared.s != nil {
		shipped = shared.s.shippedFor
	}
	fmt.Fprintln(w, "| scenario | alert | shipped `for:` | fault → alert in Alertmanager (measured, `for:` ≤ 3s) | lead time before expiry |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		name := r.alert
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		lead := "—"
		if r.hasLead {
			lead = humanDuration(r.lead)
		}
		fmt.Fprintf(w, "| %s | `%s` | %s | %.1f s | %s |\n", r.scenario, r.alert, shipped[name], r.faultToAlert.Seconds(), lead)
	}
}

// writeReport writes the table to $E2E_REPORT when set.
func writeReport() error {
	path := os.Getenv("E2E_REPORT")
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	printReport(f)
	return f.Close()
}

func humanDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= time.Hour:
		s = fmt.Sprintf("%.1f h", d.Hours())
	default:
		s = d.Round(time.Second).String()
	}
	if neg {
		return "expired " + s + " ago"
	}
	return s
}
