// Package targets probes the configured `targets:` in the background: each at its interval
// with jitter, at most probe.concurrency at once, publishing an immutable snapshot after every
// probe so that scrapes never wait on the network.
package targets

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/health"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// HealthSource is health.Status.Source for targets.
const HealthSource = "targets"

// jitter spreads probes of one interval over ±10 % so that targets drift apart instead of
// hitting the network (and shared load balancers) in lockstep.
const jitter = 0.1

// staleIntervals is how long, in target intervals after an address starts failing, the chain
// it served at its last success stays exported: one flaky probe must not drop the certificate
// series (and reset the `for:` of the alerts on them).
const staleIntervals = 3

// Probe is the last probe of one configured target.
type Probe struct {
	Target     string
	Module     string
	ServerName string    // the target's own server_name
	At         time.Time // when the probe finished
	Result     probe.Result
	// Served has one entry per address that succeeded at least once and is still tracked, in
	// the order of Result.Addrs.
	Served []Served

	module config.Module // the module's settings, to tell an unchanged target on reload
}

// Served is what one address served at its last successful probe.
type Served struct {
	IP    string
	At    time.Time // when that probe finished
	Chain certs.Chain
	// FailingSince is when the address's probes started failing (zero while they succeed).
	FailingSince time.Time
	// Stale: the latest probe of the address failed without serving a chain, and Chain is
	// exported in its place, for up to staleIntervals intervals after FailingSince.
	Stale bool
}

// Snapshot is the state after the latest probe; never modified once published.
type Snapshot struct {
	// Probes has one entry per target probed at least once, in config order.
	Probes []*Probe
	// Status has one entry per target probed at least once: up when its last probe succeeded.
	Status []health.Status
}

// Chains lists every chain served to the probes, one per address, with the stale chains of
// addresses whose latest probe failed.
func (s *Snapshot) Chains() []certs.Chain {
	var out []certs.Chain
	for _, p := range s.Probes {
		out = append(out, p.Result.Chains()...)
		for _, sv := range p.Served {
			if sv.Stale {
				out = append(out, sv.Chain)
			}
		}
	}
	return out
}

// Scheduler runs the background probes of one config.
type Scheduler struct {
	cfg     *config.Config
	logger  *slog.Logger
	now     func() time.Time
	publish func(*Snapshot)
	opts    probe.Options
	run     func(context.Context, string, config.Module, probe.Options) probe.Result // probe.Run; tests wrap it

	mu     sync.Mutex
	probes []*Probe
	status []health.Status
	state  []string // last logged state per target, to log once per change
}

// New prepares a scheduler; nothing runs before Run.
func New(cfg *config.Config, logger *slog.Logger, now func() time.Time, publish func(*Snapshot)) *Scheduler {
	allow, err := probe.NewAllowList(cfg.Probe.AllowedTargets)
	if err != nil {
		// Config validation makes this unreachable; if it happens, refuse rather than allow all.
		logger.Error("probe.allowed_targets is invalid, refusing every target", "err", err)
		allow, _ = probe.NewAllowList([]string{"refuse-all.invalid"})
	}
	s := &Scheduler{
		cfg: cfg, logger: logger, now: now, publish: publish,
		opts:   probe.Options{Now: now, Allow: allow, CRLs: probe.NewCRLCache(now)},
		run:    probe.Run,
		probes: make([]*Probe, len(cfg.Targets)),
		status: make([]health.Status, len(cfg.Targets)),
		state:  make([]string, len(cfg.Targets)),
	}
	reasons := append(slices.Clone(probe.FailureReasons), probe.ProblemReasons...)
	for i, t := range cfg.Targets {
		s.status[i] = health.Status{Source: HealthSource, Name: t.Target, Errors: health.NewErrors(reasons...)}
	}
	return s
}

// Seed starts the scheduler from prev, the snapshot of the scheduler it replaces (a reload):
// targets whose target, module settings and server_name did not change keep their last probe,
// error counters and served chains, so that the first snapshot published does not drop the
// series of the targets not probed yet. Call it before Run; a nil prev seeds nothing.
func (s *Scheduler) Seed(prev *Snapshot) {
	if prev == nil {
		return
	}
	for i, t := range s.cfg.Targets {
		for j, p := range prev.Probes {
			if p.Target == t.Target && p.Module == t.Module && p.ServerName == t.ServerName && reflect.DeepEqual(p.module, s.cfg.Modules[t.Module]) {
				s.probes[i], s.status[i] = p, prev.Status[j]
				break
			}
		}
	}
}

// Run probes until ctx ends. Every target is probed once right away (within the concurrency
// limit), then every interval ± 10 %.
func (s *Scheduler) Run(ctx context.Context) {
	sem := make(chan struct{}, max(s.cfg.Probe.Concurrency, 1))
	var wg sync.WaitGroup
	for i := range s.cfg.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, i, sem)
		}()
	}
	wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, i int, sem chan struct{}) {
	t := s.cfg.Targets[i]
	interval := time.Duration(t.Interval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		opts := s.opts
		opts.ServerName = t.ServerName
		r := s.run(ctx, t.Target, s.cfg.Modules[t.Module], opts)
		<-sem
		if ctx.Err() != nil {
			return // a probe cut short by shutdown or reload says nothing about the target
		}
		s.record(i, &Probe{Target: t.Target, Module: t.Module, ServerName: t.ServerName, At: s.now(), Result: r, module: s.cfg.Modules[t.Module]})
		timer.Reset(time.Duration(float64(interval) * (1 - jitter + 2*jitter*rand.Float64())))
	}
}

// record stores a probe's outcome and publishes a new snapshot.
func (s *Scheduler) record(i int, p *Probe) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var prev []Served
	if s.probes[i] != nil {
		prev = s.probes[i].Served
	}
	p.Served = served(prev, &p.Result, p.At, staleIntervals*time.Duration(s.cfg.Targets[i].Interval))
	s.probes[i] = p
	st := &s.status[i]
	st.Up = p.Result.Success()
	if st.Up {
		st.LastSuccess = p.At
	}
	errs := make(map[string]uint64, len(st.Errors))
	for k, v := range st.Errors {
		errs[k] = v
	}
	failures := p.Result.Failures()
	for _, f := range failures {
		errs[f]++
	}
	for _, pr := range p.Result.AllProblems() {
		errs[pr]++
	}
	st.Errors = errs // a fresh map: the published snapshots keep theirs

	state := "ok"
	if !st.Up {
		state = "failed: " + strings.Join(failures, ",")
	}
	if state != s.state[i] {
		s.state[i] = state
		if st.Up {
			s.logger.Info("target probe succeeded", "target", p.Target, "module", p.Module)
		} else {
			s.logger.Warn("target probe failed", "target", p.Target, "module", p.Module, "reasons", failures, "err", firstError(&p.Result))
		}
	}

	snap := &Snapshot{}
	for j, q := range s.probes {
		if q != nil {
			snap.Probes = append(snap.Probes, q)
			snap.Status = append(snap.Status, s.status[j])
		}
	}
	s.publish(snap)
}

// served carries each address's last successful chain from prev over to the probe r that
// finished at: replaced on success, kept (stale) while failures without a chain last at most
// keep, forgotten when the name no longer resolves to the address.
func served(prev []Served, r *probe.Result, at time.Time, keep time.Duration) []Served {
	failed := func(sv Served, a *probe.Addr) (Served, bool) {
		if sv.FailingSince.IsZero() {
			sv.FailingSince = at
		}
		within := at.Sub(sv.FailingSince) <= keep
		if !within {
			sv.Chain = certs.Chain{} // only the time of the last success is still of use
		}
		// A refused address is a decision, not a flake; one that served a chain this time has
		// that chain exported instead.
		sv.Stale = within && len(sv.Chain.Certs) > 0 && a.Failure != probe.FailRefused && len(a.Chain.Certs) == 0
		return sv, within
	}
	var out []Served
	if len(r.Addrs) == 0 {
		// No address was tried (dns, a refused name): they may all still be there, for a while.
		for _, sv := range prev {
			if sv, within := failed(sv, &probe.Addr{Failure: r.Failure}); within {
				out = append(out, sv)
			}
		}
		return out
	}
	for i := range r.Addrs {
		a := &r.Addrs[i]
		switch j := slices.IndexFunc(prev, func(sv Served) bool { return sv.IP == a.IP }); {
		case a.Success:
			out = append(out, Served{IP: a.IP, At: at, Chain: a.Chain})
		case j >= 0:
			sv, _ := failed(prev[j], a)
			out = append(out, sv)
		}
	}
	return out
}

func firstError(r *probe.Result) string {
	if r.Error != "" {
		return r.Error
	}
	for _, a := range r.Addrs {
		if a.Error != "" {
			return a.IP + ": " + a.Error
		}
	}
	return ""
}
