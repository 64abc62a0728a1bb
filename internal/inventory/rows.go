package inventory

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
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
	// MaxRunGap: longer than this without a renewal client run is a warning (certbot.timer
	// runs twice a day with up to 12 h of random delay).
	MaxRunGap time.Duration
	// CRLStaleSoon: a stored CRL with less than this (and less than 1/20 of its validity)
	// left before its nextUpdate is stale (crl_stale_soon).
	CRLStaleSoon time.Duration
}

// DefaultThresholds are those of the shipped alert rules.
var DefaultThresholds = Thresholds{
	Warning:       7 * 24 * time.Hour,
	Critical:      3 * 24 * time.Hour,
	Grace:         12 * time.Hour,
	ChainExpiring: 30 * 24 * time.Hour,
	MaxRunGap:     25 * time.Hour,
	CRLStaleSoon:  6 * time.Hour,
}

// Report is what the inventory page, /certificates.json and `check` show: one value, three views.
// Its JSON field names are a documented contract (docs/certificates.md).
type Report struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Thresholds  ThresholdsJSON `json:"thresholds"`
	Summary     Summary        `json:"summary"`
	// Clients are the renewal clients whose runs are watched (certbot).
	Clients []ClientRun   `json:"clients"`
	Sources []SourceState `json:"sources"`
	Errors  []Problem     `json:"errors"`
	// Certificates are the rows, soonest expiry first.
	Certificates []Row `json:"certificates"`
	// CRLs are the stored certificate revocation lists, by path.
	CRLs []CRL `json:"crls"`
}

// ThresholdsJSON states the thresholds the severities were computed with, in seconds.
type ThresholdsJSON struct {
	WarningSeconds  int64 `json:"warning_seconds"`
	CriticalSeconds int64 `json:"critical_seconds"`
	// CRLStaleSoonSeconds bounds the time before a CRL's nextUpdate from which it is stale.
	CRLStaleSoonSeconds int64 `json:"crl_stale_soon_seconds"`
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

// ClientRun is a renewal client's newest run. NotRunning is RenewalClientNotRunning's rule: no run
// in the history, or none for longer than the thresholds' MaxRunGap.
type ClientRun struct {
	Client         string     `json:"client"`
	LastRun        *time.Time `json:"last_run"`
	LastRunSuccess bool       `json:"last_run_success"`
	NotRunning     bool       `json:"not_running"`
}

// SourceState is one source's health, as in cert_expiry_exporter_source_up.
type SourceState struct {
	Source      string     `json:"source"`
	Name        string     `json:"name"`
	Up          bool       `json:"up"`
	LastSuccess *time.Time `json:"last_success"`
	Error       string     `json:"error,omitempty"` // why it is down
}

// Problem is something a source could not read or reach: a file error or a failed probe.
type Problem = source.Problem

// Row is one certificate as seen at one place (a file, or one address of a probed target).
type Row struct {
	Severity Severity `json:"severity"`
	// Judged rows are the ones the alert rules page on and `check` counts: the first certificate
	// of a file or served chain, or of a Java keystore's entry, unless it is a CA certificate
	// (a CA bundle, a trust store) or in a ConfigMap's CA bundle (kubernetes.configmaps: a
	// pinned certificate there is trusted, not served).
	Judged bool `json:"judged"`
	// Problems explain the severity besides the days left (renewal overdue, revoked…).
	Problems []Finding `json:"problems"`

	Source  string `json:"source"`
	Path    string `json:"path"`
	Lineage string `json:"lineage"`
	Target  string `json:"target"`
	IP      string `json:"ip"`
	// Module is the probe module whose client certificate the row is (source client).
	Module string `json:"module,omitempty"`
	// Namespace, Secret and Key name the Kubernetes Secret's data key the row is in (Path is
	// ""); Namespace, ConfigMap and Key a ConfigMap's CA bundle.
	Namespace string `json:"namespace,omitempty"`
	Secret    string `json:"secret,omitempty"`
	ConfigMap string `json:"configmap,omitempty"`
	Key       string `json:"key,omitempty"`
	Index     int    `json:"index"`
	// Alias is the Java keystore entry the certificate is in (certs.Cert.Alias).
	Alias string `json:"alias,omitempty"`
	// Labels are the owner labels of the config entry that found the chain ({} when none).
	Labels certs.Labels `json:"labels"`

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

// Finding is one problem of a row: its text, and the alert that pages on it with the reason
// label it carries, which name the runbook section (docs/runbooks/<Alert>.md#<reason>). Its JSON
// is the text alone (docs/certificates.md: problems[] are strings).
type Finding struct {
	Text   string
	Alert  string
	Reason string // "" when the alert has no reason label
}

// MarshalText makes the JSON value the text.
func (f Finding) MarshalText() ([]byte, error) { return []byte(f.Text), nil }

// UnmarshalText reads the text back, for readers of the JSON (tests, the e2e suite).
func (f *Finding) UnmarshalText(b []byte) error {
	*f = Finding{Text: string(b)}
	return nil
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

// Renewal is the lineage's renewal state, joined on the lineage name.
type Renewal struct {
	Lineage     string     `json:"lineage"`
	LastAttempt *time.Time `json:"last_attempt"`
	LastSuccess *time.Time `json:"last_success"`
	LastRenewal *time.Time `json:"last_renewal"`
	// Failed is true while the latest attempt failed; Reason is then cert_renewal_failure's
	// reason and Error the client's message.
	Failed bool   `json:"failed"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
	// Problems are the ACME challenge problems the CA reported in the failed attempt.
	Problems     []source.ChallengeProblem `json:"problems"`
	HookFailures []string                  `json:"hook_failures"`
	// Server is the ACME directory the lineage renews against (certbot: its renewal conf).
	Server  string `json:"server"`
	Staging bool   `json:"staging"`
}

func renewalOf(r *source.Renewal) *Renewal {
	out := &Renewal{
		Lineage:      r.Lineage,
		LastAttempt:  timePtr(r.LastAttempt),
		LastSuccess:  timePtr(r.LastSuccess),
		LastRenewal:  timePtr(r.LastRenewal),
		Failed:       r.Failed(),
		Problems:     []source.ChallengeProblem{},
		HookFailures: nonNil(r.Hooks),
		Server:       r.Server,
		Staging:      certs.IsStagingDirectory(r.Server),
	}
	if out.Failed {
		out.Reason, out.Error = r.Reason, r.Message
		out.Problems = nonNil(r.Problems)
	}
	return out
}

// Build judges every certificate of the view at now, soonest expiry first.
func Build(v *View, now time.Time, th Thresholds) Report {
	r := Report{
		GeneratedAt: now,
		Thresholds: ThresholdsJSON{WarningSeconds: int64(th.Warning / time.Second), CriticalSeconds: int64(th.Critical / time.Second),
			CRLStaleSoonSeconds: int64(th.CRLStaleSoon / time.Second)},
		Clients:      []ClientRun{},
		Sources:      []SourceState{},
		Errors:       []Problem{},
		Certificates: []Row{},
		CRLs:         crlRows(v.Snapshots, now, th),
	}
	for _, st := range v.Statuses() {
		r.Sources = append(r.Sources, SourceState{Source: st.Source, Name: st.Name, Up: st.Up, LastSuccess: timePtr(st.LastSuccess), Error: st.Error})
	}
	outdated := map[[2]string]Drift{} // by target and ip
	for _, d := range v.Drift {
		if d.Outdated {
			outdated[[2]string{d.Target, d.IP}] = d
		}
	}
	for _, s := range v.Snapshots {
		r.Errors = append(r.Errors, s.Problems...)
		for _, c := range s.Clients {
			// As RenewalClientNotRunning: no run in the log history, or none for longer than the timer allows.
			cr := ClientRun{Client: c.Name, NotRunning: !c.Seen || now.Sub(c.LastRun) > th.MaxRunGap}
			if c.Seen {
				cr.LastRun, cr.LastRunSuccess = timePtr(c.LastRun), c.LastRunSuccess
			}
			r.Clients = append(r.Clients, cr)
		}
		for i := range s.Chains {
			ch := &s.Chains[i]
			for j, c := range ch.Certs {
				x := row(v, ch, j, c, now, th)
				if d, ok := outdated[[2]string{ch.Target, ch.IP}]; ok && x.Judged && ch.Source == certs.SourceProbe {
					// As CertificateNotDeployed.
					x.raise(Warning, "CertificateNotDeployed", "", fmt.Sprintf("serves an older certificate than %s, which holds a newer one since %s", d.Stored(), d.Since.UTC().Format(time.RFC3339)))
				}
				r.Certificates = append(r.Certificates, x)
			}
		}
	}
	slices.SortStableFunc(r.Certificates, compareRows)
	r.Summary = Summarize(r.Certificates)
	return r
}

// NotRunning reports whether a watched renewal client has not run lately (RenewalClientNotRunning).
func (r *Report) NotRunning() []string {
	var out []string
	for _, c := range r.Clients {
		if c.NotRunning {
			out = append(out, c.Client)
		}
	}
	return out
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

func row(v *View, ch *certs.Chain, i int, c certs.Cert, now time.Time, th Thresholds) Row {
	left := c.NotAfter.Sub(now)
	x := Row{
		Judged:   i == 0 && !c.IsCA && ch.ConfigMap == "",
		Problems: []Finding{},
		Source:   ch.Source, Path: ch.Path, Lineage: ch.Lineage, Target: ch.Target, IP: ch.IP, Module: ch.Module,
		Namespace: ch.Namespace, Secret: ch.Secret, ConfigMap: ch.ConfigMap, Key: ch.Key, Index: i, Alias: c.Alias, Labels: ch.Labels,
		Domain: c.Domain, SANs: nonNil(c.SANs), Subject: c.Subject, Issuer: c.Issuer, Serial: c.Serial,
		KeyType: c.KeyType, SigAlg: c.SigAlg, IsCA: c.IsCA, Staging: v.Staging(c, ch.Location),
		Lifetime:      int64(c.Lifetime() / time.Second),
		NotBefore:     c.NotBefore,
		NotAfter:      c.NotAfter,
		RenewalDue:    v.RenewalDue(c), // as the alert rules compute it
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
		// The lineage renews its leaf: the certificates behind it would only repeat its state.
		if rn := v.Renewal(ch.Location); rn != nil {
			x.Renewal = renewalOf(rn)
		}
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
		x.add("CertificateRenewalOverdue", "", fmt.Sprintf("renewal overdue since %s", x.RenewalDue.UTC().Format(time.RFC3339)))
	}
	x.judge(ch, now, th)
	return x
}

// judge adds the leaf's problems that the alert rules page on besides expiry.
func (x *Row) judge(ch *certs.Chain, now time.Time, th Thresholds) {
	if r := ch.Revocation; r != nil && r.Revoked {
		x.raise(Critical, "CertificateRevoked", "", "revoked ("+r.Method+")")
	}
	if verifyPages(ch) {
		x.raise(Critical, "CertificateVerifyFailed", ch.Verify.Reason, "chain does not verify: "+ch.Verify.Reason)
	}
	if ch.KeyMatch != nil && !*ch.KeyMatch {
		x.raise(Critical, "CertificateKeyMismatch", "", "private key does not match the certificate")
	}
	if e := ch.Verify.ChainExpiry; !e.IsZero() && e.Before(x.NotAfter) && e.Sub(now) < th.ChainExpiring {
		x.raise(Warning, "CertificateChainExpiringSoon", "", "a chain certificate expires first, at "+e.UTC().Format(time.RFC3339))
	}
	if x.Staging {
		x.raise(Warning, "CertificateStaging", "", "issued by a staging/test CA")
	}
	if rn := x.Renewal; rn != nil {
		if rn.Failed {
			x.raise(Warning, "CertificateRenewalFailed", rn.Reason, "renewal failed: "+rn.Reason)
		}
		for _, h := range rn.HookFailures {
			x.raise(Warning, "CertbotHookFailed", "", h+" hook failed")
		}
	}
	x.judgePolicies(ch)
}

// judgePolicies adds the policies the leaf breaks (certs.Chain.Violations, cert_policy_violation).
func (x *Row) judgePolicies(ch *certs.Chain) {
	for _, p := range ch.Violations() {
		switch p {
		case certs.PolicyMaxValidity:
			c := &ch.Certs[0]
			x.raise(Warning, "CertificateValidityTooLong", "", fmt.Sprintf("valid for %d days, longer than the %d days ballot SC-081 allows a publicly-trusted certificate issued at %s",
				c.ValidityDays(), certs.MaxValidity(c.NotBefore)/(24*time.Hour), c.NotBefore.UTC().Format(time.RFC3339)))
		case certs.PolicyClientAuth:
			how := "usage: client"
			if ch.Source == certs.SourceClient {
				how = "probe module " + ch.Module + "'s tls_config.cert_file"
			}
			x.raise(Critical, "CertificateClientAuthMissing", "", "used as a client certificate ("+how+") but its extended key usage lacks clientAuth")
		}
	}
}

// verifyPages is CertificateVerifyFailed's rule (TestVerifyPagesAsRule holds them together): a
// served chain that fails for any reason but expiry and revocation (which have their own
// entries); a stored chain (files, lego's and Caddy's stores, a Secret's tls.crt) broken in a
// way clients would see (incomplete, misordered, expired intermediate), except certbot's
// leaf-only cert.pem. unknown_authority there is a private CA without ca_file or ca.crt, not a
// fault. CA-first files (bundles) and ConfigMaps' CA bundles are not judged at all.
func verifyPages(ch *certs.Chain) bool {
	switch ch.Source {
	case certs.SourceProbe:
		return !slices.Contains([]string{certs.ReasonOK, certs.ReasonExpired, certs.ReasonRevoked}, ch.Verify.Reason)
	case certs.SourceFile, certs.SourceLego, certs.SourceCaddy, certs.SourceKubernetes:
		return !strings.HasSuffix(ch.Path, "/cert.pem") &&
			slices.Contains([]string{certs.ReasonIncompleteChain, certs.ReasonWrongOrder, certs.ReasonExpiredIntermediate}, ch.Verify.Reason)
	}
	return false
}

// add records a problem that alert (with the reason label) pages on.
func (x *Row) add(alert, reason, text string) {
	x.Problems = append(x.Problems, Finding{Text: text, Alert: alert, Reason: reason})
}

func (x *Row) raise(s Severity, alert, reason, text string) {
	x.Severity = max(x.Severity, s)
	x.add(alert, reason, text)
}

// ProblemTexts are the problems' texts, for views that print them.
func (x *Row) ProblemTexts() []string {
	out := make([]string, len(x.Problems))
	for i, p := range x.Problems {
		out[i] = p.Text
	}
	return out
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
