// Package check is `cert_expiry_exporter check`: it runs every configured source once, judges
// the certificates with the alert rules' thresholds, prints a table or JSON, and returns a
// Nagios plugin status, for cron, CI pipelines and monitoring systems that are not Prometheus.
package check

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/common/model"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Nagios plugin return codes.
const (
	StatusOK       = 0
	StatusWarning  = 1
	StatusCritical = 2
	StatusUnknown  = 3
)

var statusNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// Options shape one check.
type Options struct {
	Thresholds inventory.Thresholds
	JSON       bool // print JSON instead of a table
	All        bool // list intermediates and CA certificates too, not only judged rows
	Clock      clockwork.Clock
	Logger     *slog.Logger
}

// Thresholds parses the --warning and --critical flags (Prometheus durations such as 7d).
func Thresholds(warning, critical string) (inventory.Thresholds, error) {
	th := inventory.DefaultThresholds
	w, err := model.ParseDuration(warning)
	if err != nil {
		return th, fmt.Errorf("--warning: %w", err)
	}
	c, err := model.ParseDuration(critical)
	if err != nil {
		return th, fmt.Errorf("--critical: %w", err)
	}
	if c > w {
		return th, fmt.Errorf("--critical (%s) must not be longer than --warning (%s)", critical, warning)
	}
	th.Warning, th.Critical = time.Duration(w), time.Duration(c)
	return th, nil
}

// Result is what `check --output=json` prints: the inventory report plus the verdict.
type Result struct {
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	inventory.Report
}

// Run checks cfg once (bounded by ctx) and writes the outcome; it returns the exit code.
func Run(ctx context.Context, cfg *config.Config, sources source.Registry, o Options, out io.Writer) int {
	r := Judge(inventory.Build(Collect(ctx, cfg, sources, o.Logger, o.Clock), o.Clock.Now(), o.Thresholds), o.All)
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	} else {
		writeTable(out, r, o.All)
	}
	return r.ExitCode
}

// Collect runs each configured source of the registry once, as the exporter's first pass
// would: a files scan, certbot's log and renewal confs, one probe of every target; then the
// derived sources (ARI) on what those found. What is not done when ctx ends is a problem.
func Collect(ctx context.Context, cfg *config.Config, sources source.Registry, logger *slog.Logger, clock clockwork.Clock) *inventory.View {
	names := make([]string, len(sources))
	for i, f := range sources {
		names[i] = f.Name
	}
	store := inventory.New(names...)
	store.SetGrace(time.Duration(cfg.Drift.GracePeriod))
	for _, derived := range []bool{false, true} {
		var wg sync.WaitGroup
		for _, f := range sources {
			if _, ok := f.Part(cfg); !ok || f.Derived != derived {
				continue
			}
			publish := store.Restart(f.Name, true)
			src := f.New(cfg, source.Env{Logger: logger.With("source", f.Name), Clock: clock, Others: store.Others(f.Name)})
			wg.Go(func() { publish(src.Once(ctx)) })
		}
		wg.Wait()
	}
	return store.View()
}

// Judge turns the report into the Nagios verdict: critical (2) when a judged certificate is
// expired or critical or a stored CRL is stale (CertificateRevocationListStale is critical),
// else warning (1) when one is a warning, a renewal client has not run, or a stored CRL cannot
// be read, else unknown (3) when a source could not be read
// or nothing (no certificate, no CRL) was found, else ok (0). A known problem outranks an
// unknown, so a broken file cannot hide a certificate that expires tomorrow, and a CRL file
// known to hold CRLs that cannot be read is a warning, not an unknown.
func Judge(r inventory.Report, all bool) Result {
	if !all {
		judged := []inventory.Row{}
		for _, x := range r.Certificates {
			if x.Judged {
				judged = append(judged, x)
			}
		}
		r.Certificates = judged
		r.Summary = inventory.Summarize(judged)
	}
	code := StatusOK
	switch {
	case r.Summary.Worst >= inventory.Critical || slices.ContainsFunc(r.CRLs, func(c inventory.CRL) bool { return c.State == inventory.CRLStale }):
		code = StatusCritical
	case r.Summary.Worst == inventory.Warning || len(r.NotRunning()) > 0 || len(r.CRLProblems()) > 0:
		code = StatusWarning
	case len(r.Errors) > 0 || len(r.Certificates) == 0 && len(r.CRLs) == 0 || anyDown(r.Sources):
		code = StatusUnknown
	}
	return Result{Status: strings.ToLower(statusNames[code]), ExitCode: code, Report: r}
}

func anyDown(s []inventory.SourceState) bool {
	for _, x := range s {
		if !x.Up {
			return true
		}
	}
	return false
}

// writeTable prints the Nagios status line first (what monitoring systems show), then a table,
// the CRLs (those not ok; all with all), then the source problems.
func writeTable(out io.Writer, r Result, all bool) {
	s := r.Summary
	certbotNote := ""
	for _, c := range r.NotRunning() {
		certbotNote += c + " has not run; "
	}
	if n := len(r.CRLProblems()); n > 0 {
		certbotNote += fmt.Sprintf("%d CRL problem(s); ", n)
	}
	fmt.Fprintf(out, "CERTIFICATES %s - %d expired, %d critical, %d warning, %d ok; %s%d source problem(s)\n",
		statusNames[r.ExitCode], s.Expired, s.Critical, s.Warning, s.OK, certbotNote, len(r.Errors)+countDown(r.Sources))
	if len(r.Certificates) > 0 {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tTIME LEFT\tNOT AFTER\tDOMAIN\tWHERE\tISSUER\tPROBLEMS")
		for _, x := range r.Certificates {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Severity, inventory.TimeLeft(x.ExpirySeconds), x.NotAfter.UTC().Format(time.RFC3339),
				clean(x.Domain), clean(where(x)), clean(x.Issuer), clean(strings.Join(x.ProblemTexts(), "; ")))
		}
		_ = tw.Flush()
	}
	for _, c := range r.CRLs {
		if c.State != inventory.CRLOK || all {
			fmt.Fprintln(out, crlLine(c))
		}
	}
	for _, src := range r.Sources {
		if !src.Up {
			fmt.Fprintf(out, "source %s %s is down", src.Source, clean(src.Name))
			if src.Error != "" {
				fmt.Fprintf(out, ": %s", clean(src.Error))
			}
			fmt.Fprintln(out)
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintf(out, "%s %s: %s: %s\n", e.Source, clean(e.Where), e.Reason, clean(e.Message))
	}
}

func countDown(s []inventory.SourceState) int {
	n := 0
	for _, x := range s {
		if !x.Up {
			n++
		}
	}
	return n
}

func where(x inventory.Row) string {
	s := x.Path
	switch x.Source {
	case certs.SourceProbe:
		s = x.Target + " (" + x.IP + ")"
	case certs.SourceClient:
		s = cmp.Or(s, "inline tls_config.cert") + " (client certificate of module " + x.Module + ")"
	case certs.SourceKubernetes:
		s = inventory.SecretPlace(x.Namespace, x.Secret, x.Key)
		if x.ConfigMap != "" {
			s = inventory.ConfigMapPlace(x.Namespace, x.ConfigMap, x.Key)
		}
	}
	if x.Index > 0 {
		s += fmt.Sprintf(" #%d", x.Index)
	}
	return s
}

// crlLine is a stored CRL's line: the file, the list's position and issuer (not on a file's
// error line), and its state.
func crlLine(c inventory.CRL) string {
	s := "crl " + clean(c.Path)
	if c.Index != nil {
		s += fmt.Sprintf(" #%d (%s)", *c.Index, clean(c.Issuer))
	}
	switch {
	case c.State != inventory.CRLOK:
		return s + ": " + clean(c.Problem)
	case c.NextUpdate != nil:
		return s + ": ok, nextUpdate " + c.NextUpdate.UTC().Format(time.RFC3339)
	}
	return s + ": ok, no nextUpdate"
}

// clean keeps certificate-controlled text from breaking the table or the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}
