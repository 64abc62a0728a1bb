package inventory

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/ari"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certbot"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// Severity is a row's state. The order matters: a higher value is worse.
type Severity int

// Severities, mirroring the alert rules: warning and critical are the CertificateExpiringSoon and
// CertificateExpiryCritical thresholds, expired is CertificateExpired.
const (
	OK Severity = iota
	Warning
	Critical
	Expired
)

var severityNames = [...]string{"ok", "warning", "critical", "expired"}

func (s Severity) String() string { return severityNames[s] }

// MarshalText makes the JSON value the name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a name, for query parameters and tests.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if string(b) == n {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q (one of %s)", b, strings.Join(severityNames[:], ", "))
}

// Thresholds are the alert rules' defaults (alerts/config.yml); `check` lets users change them.
type Thresholds struct {
	Warning  time.Duration // less than this left (and renewal overdue): warning
	Critical time.Duration // less than this left (and renewal overdue): critical
	// Grace after the renewal point before a certificate counts as overdue, capped at 1/12 of
	// the lifetime so that it also works for 24-hour certificates.
	Grace time.Duration
	// ChainExpiring: an intermediate that expires within this and before the leaf is a warning.
	ChainExpiring time.Duration
	// CertbotMaxRunGap: longer than this without a certbot run is a warning (certbot.timer runs
	// twice a day with up to 12 h of random delay).
	CertbotMaxRunGap time.Duration
}

// DefaultThresholds are those of the shipped alert rules.
var DefaultThresholds = Thresholds{
	Warning:          7 * 24 * time.Hour,
	Critical:         3 * 24 * time.Hour,
	Grace:            12 * time.Hour,
	ChainExpiring:    30 * 24 * time.Hour,
	CertbotMaxRunGap: 25 * time.Hour,
}

// Report is what the inventory page, /certificates.json and `check` show: one value, three views.
// Its JSON field names are a documented contract (docs/certificates.md).
type Report struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Thresholds  ThresholdsJSON `json:"thresholds"`
	Summary     Summary        `json:"summary"`
	Certbot     *CertbotRun    `json:"certbot"`
	// CertbotNotRunning: certbot is watched but ran never (in the log history) or too long ago.
	CertbotNotRunning bool          `json:"certbot_not_running"`
	Sources           []SourceState `json:"sources"`
	Errors            []Problem     `json:"errors"`
	Certificates      []Row         `json:"certificates"`
}

// ThresholdsJSON states the thresholds the severities were computed with, in seconds.
type ThresholdsJSON struct {
	WarningSeconds  int64 `json:"warning_seconds"`
	CriticalSeconds int64 `json:"critical_seconds"`
}

// Summary counts rows per severity; Worst covers judged rows only (see Row.Judged).
type Summary struct {
	Total    int      `json:"total"`
	OK       int      `json:"ok"`
	Warning  int      `json:"warning"`
	Critical int      `json:"critical"`
	Expired  int      `json:"expired"`
	Worst    Severity `json:"worst"`
}

// CertbotRun is the newest certbot run seen in its log.
type CertbotRun struct {
	LastRun        time.Time `json:"last_run"`
	LastRunSuccess bool      `json:"last_run_success"`
}

// SourceState is one source's health, as in cert_expiry_exporter_source_up.
type SourceState struct {
	Source      string     `json:"source"`
	Name        string     `json:"name"`
	Up          bool       `json:"up"`
	LastSuccess *time.Time `json:"last_success"`
}

// Problem is something a source could not read or reach: a file error or a failed probe.
type Problem struct {
	Source  string `json:"source"` // file or probe
	Where   string `json:"where"`  // the path, glob, or target
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Row is one certificate as seen at one place (a file, or one address of a probed target).
type Row struct {
	Severity Severity `json:"severity"`
	// Judged rows are the ones the alert rules page on and `check` counts: the first certificate
	// of a file or served chain, unless it is a CA certificate (a CA bundle).
	Judged bool `json:"judged"`
	// Problems explain the severity besides the days left (renewal overdue, revoked…).
	Problems []string `json:"problems"`

	Source  string `json:"source"`
	Path    string `json:"path"`
	Lineage string `json:"lineage"`
	Target  string `json:"target"`
	IP      string `json:"ip"`
	Index   int    `json:"index"`

	Domain   string   `json:"domain"`
	SANs     []string `json:"sans"`
	Subject  string   `json:"subject"`
	Issuer   string   `json:"issuer"`
	Serial   string   `json:"serial"`
	KeyType  string   `json:"key_type"`
	SigAlg   string   `json:"signature_algorithm"`
	IsCA     bool     `json:"is_ca"`
	Staging  bool     `json:"staging"`
	Lifetime int64    `json:"lifetime_seconds"`

	NotBefore      time.Time `json:"not_before"`
	NotAfter       time.Time `json:"not_after"`
	RenewalDue     time.Time `json:"renewal_due"`
	ExpirySeconds  int64     `json:"expiry_seconds"` // as cert_expiry_seconds: negative when expired
	DaysLeft       float64   `json:"days_left"`      // rounded to two decimals
	RenewalOverdue bool      `json:"renewal_overdue"`

	Chain      ChainState        `json:"chain"`
	Revocation *certs.Revocation `json:"revocation"`
	Renewal    *Renewal          `json:"renewal"`
}

// ChainState is the verification of the file or served chain the certificate is part of.
type ChainState struct {
	Verified         bool      `json:"verified"`
	Reason           string    `json:"reason"`
	Error            string    `json:"error"`
	Expiry           time.Time `json:"expiry"`
	Length           int       `json:"length"`
	DuplicateLineage bool      `json:"duplicate_lineage"`
	KeyMatch         *bool     `json:"key_match"`
}

// Renewal is the certbot lineage's renewal state, joined on the lineage name.
type Renewal struct {
	Lineage     string     `json:"lineage"`
	LastAttempt *time.Time `json:"last_attempt"`
	LastSuccess *time.Time `json:"last_success"`
	LastRenewal *time.Time `json:"last_renewal"`
	// Failed is true while the latest attempt failed; Reason is then cert_renewal_failure's
	// reason and Error certbot's message.
	Failed bool   `json:"failed"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
	// Problems are the ACME challenge problems the CA reported in the failed attempt.
	Problems     []ChallengeProblem `json:"problems"`
	HookFailures []string           `json:"hook_failures"`
	// Server and Staging come from renewal/<lineage>.conf (empty when it is missing).
	Server  string `json:"server"`
	Staging bool   `json:"staging"`
}

// ChallengeProblem is one problem document from the CA, as certbot logged it.
type ChallengeProblem struct {
	Identifier string `json:"identifier"`
	Type       string `json:"type"`
	Detail     string `json:"detail"`
}

// input is what Build needs from the snapshots, so the joins and rules do not depend on how
// each source shapes its snapshot.
type input struct {
	chains         []certs.Chain
	ari            *ari.Snapshot // renewal windows; nil without ARI
	lineages       map[string]Renewal
	certbot        *CertbotRun
	certbotWatched bool
	sources        []SourceState
	errors         []Problem
}

// Build turns the current snapshots into the report rows, soonest expiry first.
func Build(v View, now time.Time, th Thresholds) Report {
	return build(fromView(v), now, th)
}

func build(in input, now time.Time, th Thresholds) Report {
	r := Report{
		GeneratedAt:  now,
		Thresholds:   ThresholdsJSON{WarningSeconds: int64(th.Warning / time.Second), CriticalSeconds: int64(th.Critical / time.Second)},
		Certbot:      in.certbot,
		Sources:      nonNil(in.sources),
		Errors:       nonNil(in.errors),
		Certificates: []Row{},
	}
	for _, ch := range in.chains {
		for i, c := range ch.Certs {
			r.Certificates = append(r.Certificates, row(ch, i, c, in, now, th))
		}
	}
	slices.SortStableFunc(r.Certificates, compareRows)
	r.Summary = Summarize(r.Certificates)
	// As CertbotNotRunning: no run in the log history, or none for longer than the timer allows.
	r.CertbotNotRunning = in.certbotWatched && (in.certbot == nil || now.Sub(in.certbot.LastRun) > th.CertbotMaxRunGap)
	return r
}

// Summarize counts rows per severity; views that filter rows summarize what they show.
func Summarize(rows []Row) Summary {
	var s Summary
	for _, x := range rows {
		s.Total++
		switch x.Severity {
		case OK:
			s.OK++
		case Warning:
			s.Warning++
		case Critical:
			s.Critical++
		case Expired:
			s.Expired++
		}
		if x.Judged {
			s.Worst = max(s.Worst, x.Severity)
		}
	}
	return s
}

func row(ch certs.Chain, i int, c certs.Cert, in input, now time.Time, th Thresholds) Row {
	left := c.NotAfter.Sub(now)
	x := Row{
		Judged:   i == 0 && !c.IsCA,
		Problems: []string{},
		Source:   ch.Source, Path: ch.Path, Lineage: ch.Lineage, Target: ch.Target, IP: ch.IP, Index: i,
		Domain: c.Domain, SANs: nonNil(c.SANs), Subject: c.Subject, Issuer: c.Issuer, Serial: c.Serial,
		KeyType: c.KeyType, SigAlg: c.SigAlg, IsCA: c.IsCA, Staging: c.Staging,
		Lifetime:      int64(c.Lifetime() / time.Second),
		NotBefore:     c.NotBefore,
		NotAfter:      c.NotAfter,
		RenewalDue:    in.ari.RenewalDue(c), // as cert_renewal_due_timestamp_seconds
		ExpirySeconds: int64(math.Floor(left.Seconds())),
		DaysLeft:      math.Round(left.Hours()/24*100) / 100,
		Chain: ChainState{
			Verified: ch.Verify.OK(), Reason: ch.Verify.Reason, Error: ch.Verify.Error,
			Expiry: ch.Verify.ChainExpiry, Length: len(ch.Certs),
			DuplicateLineage: ch.DuplicateLineage, KeyMatch: ch.KeyMatch,
		},
	}
	if i == 0 {
		x.Revocation = ch.Revocation
	}
	if rn, ok := in.lineages[ch.Lineage]; ok && ch.Lineage != "" {
		x.Renewal = &rn
		// As cert_staging: a lineage that renews against a staging directory is staging too.
		x.Staging = x.Staging || rn.Staging
	}
	grace := min(th.Grace, c.Lifetime()/12)
	x.RenewalOverdue = now.Sub(x.RenewalDue) > grace
	if !x.Judged {
		// Intermediates and CA bundles never page; their rows show the plain days-left state.
		x.Severity = daysSeverity(left, th)
		return x
	}
	// Fixed thresholds count only once the renewal point has passed, exactly as the alerts:
	// a healthy 160-hour certificate always has less than 7 days left but is never overdue.
	switch {
	case left <= 0:
		x.Severity = Expired
	case x.RenewalOverdue:
		x.Severity = max(Warning, daysSeverity(left, th))
		x.add(fmt.Sprintf("renewal overdue since %s", x.RenewalDue.UTC().Format(time.RFC3339)))
	}
	x.judge(ch, now, th)
	return x
}

// judge adds the leaf's problems that the alert rules page on besides expiry.
func (x *Row) judge(ch certs.Chain, now time.Time, th Thresholds) {
	if r := ch.Revocation; r != nil && r.Revoked {
		x.raise(Critical, "revoked ("+r.Method+")")
	}
	if verifyPages(ch) {
		x.raise(Critical, "chain does not verify: "+ch.Verify.Reason)
	}
	if ch.KeyMatch != nil && !*ch.KeyMatch {
		x.raise(Critical, "private key does not match the certificate")
	}
	if e := ch.Verify.ChainExpiry; !e.IsZero() && e.Before(x.NotAfter) && e.Sub(now) < th.ChainExpiring {
		x.raise(Warning, "a chain certificate expires first, at "+e.UTC().Format(time.RFC3339))
	}
	if x.Staging {
		x.raise(Warning, "issued by a staging/test CA")
	}
	if rn := x.Renewal; rn != nil {
		if rn.Failed {
			x.raise(Warning, "certbot renewal failed: "+rn.Reason)
		}
		for _, h := range rn.HookFailures {
			x.raise(Warning, "certbot "+h+" hook failed")
		}
	}
}

// verifyPages is CertificateVerifyFailed's rule: a served chain that fails for any reason but
// expiry and revocation (which have their own entries); a local file whose chain is broken in a
// way clients would see (incomplete, misordered, expired intermediate), except certbot's
// leaf-only cert.pem. unknown_authority in a file is a private CA without ca_file, not a fault.
// CA-first files (bundles) are not judged at all.
func verifyPages(ch certs.Chain) bool {
	if ch.Source == certs.SourceProbe {
		return !slices.Contains([]string{certs.ReasonOK, certs.ReasonExpired, certs.ReasonRevoked}, ch.Verify.Reason)
	}
	return !strings.HasSuffix(ch.Path, "/cert.pem") &&
		slices.Contains([]string{certs.ReasonIncompleteChain, certs.ReasonWrongOrder, certs.ReasonExpiredIntermediate}, ch.Verify.Reason)
}

func (x *Row) add(p string) { x.Problems = append(x.Problems, p) }

func (x *Row) raise(s Severity, p string) {
	x.Severity = max(x.Severity, s)
	x.add(p)
}

func daysSeverity(left time.Duration, th Thresholds) Severity {
	switch {
	case left <= 0:
		return Expired
	case left < th.Critical:
		return Critical
	case left < th.Warning:
		return Warning
	}
	return OK
}

// compareRows orders soonest expiry first, then by place, so that equal dates are stable.
func compareRows(a, b Row) int {
	return cmp.Or(
		a.NotAfter.Compare(b.NotAfter),
		cmp.Compare(a.Source, b.Source),
		cmp.Compare(a.Path, b.Path),
		cmp.Compare(a.Target, b.Target),
		cmp.Compare(a.IP, b.IP),
		cmp.Compare(a.Index, b.Index),
		cmp.Compare(a.Serial, b.Serial),
	)
}

// nonNil makes empty lists [] rather than null in JSON, so consumers need no null checks.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromView gathers what the rows need from each source's snapshot.
func fromView(v View) input {
	in := input{ari: v.ARI}
	for _, s := range v.Statuses() {
		in.sources = append(in.sources, SourceState{Source: s.Source, Name: s.Name, Up: s.Up, LastSuccess: timePtr(s.LastSuccess)})
	}
	if v.Files != nil {
		in.chains = append(in.chains, v.Files.Chains...)
		for _, e := range v.Files.Errors {
			in.errors = append(in.errors, Problem{Source: certs.SourceFile, Where: e.Path, Reason: e.Reason, Message: e.Message})
		}
	}
	if v.Targets != nil {
		in.chains = append(in.chains, v.Targets.Chains()...)
		for _, p := range v.Targets.Probes {
			r := &p.Result
			if r.Failure != "" {
				in.errors = append(in.errors, Problem{Source: certs.SourceProbe, Where: p.Target, Reason: r.Failure, Message: r.Error})
			}
			for _, a := range r.Addrs {
				if a.Failure != "" {
					in.errors = append(in.errors, Problem{Source: certs.SourceProbe, Where: p.Target + " (" + a.IP + ")", Reason: a.Failure, Message: a.Error})
				}
			}
		}
	}
	if v.Certbot != nil {
		in.certbot, in.lineages = certbotState(v.Certbot)
		in.certbotWatched = true
	}
	return in
}

// certbotState turns the certbot snapshot into the newest run and the per-lineage state.
func certbotState(s *certbot.Snapshot) (*CertbotRun, map[string]Renewal) {
	var run *CertbotRun
	if s.HasRun {
		run = &CertbotRun{LastRun: s.LastRun, LastRunSuccess: s.LastRunSuccess}
	}
	out := make(map[string]Renewal, len(s.Lineages))
	for _, l := range s.Lineages {
		r := Renewal{
			Lineage:      l.Name,
			LastAttempt:  timePtr(l.LastAttempt),
			LastSuccess:  timePtr(l.LastSuccess),
			LastRenewal:  timePtr(l.LastRenewal),
			Failed:       l.FailureReason != "" && l.FailureReason != "none",
			Problems:     []ChallengeProblem{},
			HookFailures: []string{},
		}
		if r.Failed {
			r.Reason, r.Error = l.FailureReason, l.FailureMessage
			for _, p := range l.Problems {
				r.Problems = append(r.Problems, ChallengeProblem{Identifier: p.Identifier, Type: p.Type, Detail: p.Detail})
			}
		}
		for _, h := range l.HookFailures {
			r.HookFailures = append(r.HookFailures, h.Hook)
		}
		if l.Conf != nil {
			r.Server, r.Staging = l.Conf.Server, l.Conf.Staging()
		}
		out[l.Name] = r
	}
	return run, out
}
