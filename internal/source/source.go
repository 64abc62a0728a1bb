// Package source is the contract between the exporter and the places certificates and renewal
// state come from. A source runs in the background (or once, for `check`) and publishes
// immutable snapshots in one shape; the inventory stores them without knowing which source
// made them, and every view (metrics, the inventory page, `check`) renders them alike.
//
// Adding a source is a package with a Factory, one line in internal/registry, its
// config section, its metrics and its docs.
package source

import (
	"context"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// Snapshot is what one source knows at one moment. It is never modified once published.
type Snapshot struct {
	// Chains are the certificates seen: one chain per file or probed address.
	Chains []certs.Chain
	// Problems are what could not be read or reached (a file, a target), for the page and check.
	Problems []Problem
	// Renewals are the renewal process's state per lineage (an ACME client's managed name).
	Renewals []Renewal
	// Clients are the renewal clients whose runs are watched (certbot's timer).
	Clients []Client
	// Windows are renewal windows suggested by the CA (RFC 9773 ARI), per certificate.
	Windows []Window
	// CRLs are the stored certificate revocation lists (a files source's CRL files), sorted
	// by path: the inventory judges their freshness as CertificateRevocationListStale does.
	CRLs []CRLFile
	// Deploys are the Secrets that discovered targets are to serve (an Ingress's
	// spec.tls.secretName, a Gateway listener's certificateRefs): drift pairs such a target
	// with those Secrets' tls.crt rather than with every stored chain of the same names.
	Deploys []Deploy
	// Status is the source's health, one entry per instance (a files entry, a log, a target).
	Status []Status
	// Metrics emits the source's own series, besides the shared families rendered from the
	// fields above. It runs at scrape time and must only read the snapshot. Nil: none.
	Metrics func(ch chan<- prometheus.Metric)
	// State is the source's own data, typed by the source: read by its Metrics and by the
	// source that replaces it on a reload (Env.Prev), never by anyone else.
	State any
}

// Deploy is a Secret that a probe target is to serve.
type Deploy struct {
	Target            string // host:port, as the probe's chains name it
	Namespace, Secret string
}

// CRLFile is a file that holds certificate revocation lists.
type CRLFile struct {
	Path string
	// Labels are the owner labels of the config entry that found the file.
	Labels certs.Labels
	// CRLs are the lists read, in file order (their index).
	CRLs []certs.CRLInfo
	// Error is why some or all of its lists could not be read: a CRL block that does not
	// parse, or a file that held CRLs at the last pass and cannot be read now; "" when none.
	// The file's error is in Problems too, with its reason.
	Error string
}

// Problem is something a source could not read or reach.
type Problem struct {
	Source  string `json:"source"` // certs.SourceFile, certs.SourceProbe…
	Where   string `json:"where"`  // the path, glob or target
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Renewal is one lineage's renewal state as the ACME client's records tell it.
type Renewal struct {
	// Client is the ACME client renewing the lineage (certbot, lego, caddy): with Lineage it
	// identifies the renewal, since two clients on one host may manage the same name. It
	// renews the chains whose Location.Source is the client's name (certbot: the files of
	// its live/ directory, Location.Source "file").
	Client  string
	Lineage string
	Domain  string
	// Zero times: never seen.
	LastAttempt, LastSuccess, LastRenewal time.Time
	// Reason is "" before any attempt, "none" after a success, else the failure's reason
	// (the `reason` of cert_renewal_failure, logparse.Reasons).
	Reason  string
	Message string
	// Problems are the CA's challenge problems of the failed attempt.
	Problems []ChallengeProblem
	// Hooks are the hooks (pre, post, deploy) whose latest run failed and still stands.
	Hooks []string
	// Server is the ACME directory the lineage renews against ("" when unknown).
	Server string
}

// Failed reports whether the latest attempt failed.
func (r *Renewal) Failed() bool { return r.Reason != "" && r.Reason != "none" }

// ChallengeProblem is one problem document from the CA.
type ChallengeProblem struct {
	Identifier string `json:"identifier"`
	Type       string `json:"type"`
	Detail     string `json:"detail"`
}

// Client is a renewal client's run history, for "has it run lately" (RenewalClientNotRunning).
type Client struct {
	Name string // certbot, lego
	// Log is the log the runs are read from: with Name, it identifies one installation.
	Log string
	// Seen: a run was seen (in the log history); LastRun and LastRunSuccess are then set.
	Seen           bool
	LastRun        time.Time
	LastRunSuccess bool
}

// Window is the renewal window a CA suggested for one certificate.
type Window struct {
	Cert      certs.Key `json:"-"`
	Lineage   string    `json:"lineage,omitempty"`
	Domain    string    `json:"domain"`
	Serial    string    `json:"serial"`
	Directory string    `json:"directory"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	// ExplanationURL is the CA's page about the window, when it gave one.
	ExplanationURL string `json:"explanation_url,omitempty"`
	// FetchedAt is when the ari source asked; zero for a window a renewal client stored
	// (Caddy's metadata does not say when it asked).
	FetchedAt time.Time `json:"fetched_at,omitzero"`
}

// Status is one source instance's health as of its last pass. Errors holds cumulative counts
// per fixed reason; every known reason is present (at 0) so the counters exist before the
// first error.
type Status struct {
	Source      string // files, certbot_log, certbot_renewal, targets, ari
	Name        string // which instance (a glob, a log path, a target)
	Up          bool
	LastSuccess time.Time
	Errors      map[string]uint64
	// Error says why it is down: the latest failure, as logged ("" when up). The page and
	// `check` show it next to the source, where the counts by reason do not say which path or
	// address failed.
	Error string
}

// NewErrors returns a counter map with every reason pre-created at 0.
func NewErrors(reasons ...string) map[string]uint64 {
	m := make(map[string]uint64, len(reasons))
	for _, r := range reasons {
		m[r] = 0
	}
	return m
}

// Source is a configured source.
type Source interface {
	// Run publishes a snapshot after its first pass and after every change, until ctx ends.
	// The first publish makes the exporter ready.
	Run(ctx context.Context, publish func(*Snapshot))
	// Once makes one full pass and returns its snapshot; what was not done when ctx ends is
	// reported as problems. `check` uses it.
	Once(ctx context.Context) *Snapshot
}

// Env is what a source gets from the exporter besides its config.
type Env struct {
	Logger *slog.Logger
	// Clock is the only time a source reads: its Now and its timers, so that tests move
	// both together.
	Clock clockwork.Clock
	// Others returns the latest snapshots of the other sources, for a source that works on
	// what they found (ARI asks the CA about the certificates on disk).
	Others func() []*Snapshot
	// Prev is the last snapshot of the source this one replaces after a reload (nil at start),
	// so that it can carry over what is still valid.
	Prev *Snapshot
}

// Factory makes a source from the config.
type Factory struct {
	// Name identifies the source in the inventory, in logs and for reloads.
	Name string
	// Part returns the part of the config the source depends on, and whether it is
	// configured at all. A reload restarts the source only when its part changed, so an
	// unchanged source keeps its caches and history.
	Part func(cfg *config.Config) (part any, ok bool)
	// New makes the source; called only when Part says it is configured.
	New func(cfg *config.Config, env Env) Source
	// Derived sources work on the other sources' snapshots (Env.Others): `check` runs them
	// once the others are done.
	Derived bool
}

// Registry is the sources the exporter knows, in the order their series are written.
type Registry []Factory
