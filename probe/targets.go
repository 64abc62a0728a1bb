package probe

// The `targets:` source probes the configured targets in the background: each at its interval
// with jitter, at most probe.concurrency at once, publishing an immutable snapshot after every
// probe so that scrapes never wait on the network.

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Targets is the `targets:` source.
var Targets = source.Factory{
	Name: "targets",
	Part: func(cfg *config.Config) (any, bool) {
		return struct {
			Targets []config.Target
			Modules map[string]config.Module
			Probe   config.Probe
		}{cfg.Targets, cfg.Modules, cfg.Probe}, len(cfg.Targets) > 0
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		s := newScheduler(cfg, env.Logger, env.Clock)
		if env.Prev != nil {
			s.seed(env.Prev.State.(*targetsSnapshot)) // the replaced scheduler's, still visible
		}
		return s
	},
}

// Discovered probes the targets a source discovers while it runs (the TLS hosts of Kubernetes
// Ingresses), with the scheduler, probe code, bounds and series of targets:, so that a
// discovered target is exported as a configured one is (source="probe", target, ip).
type Discovered struct{ s *scheduler }

// NewDiscovered makes a scheduler of no targets with cfg's modules and probe settings. prev is
// the State of the probe snapshot the replaced source published last (a reload), or nil: the
// targets of the first Set that it probed keep their last probe.
func NewDiscovered(cfg *config.Config, env source.Env, prev any) *Discovered {
	c := *cfg
	c.Targets = nil
	s := newScheduler(&c, env.Logger, env.Clock)
	if p, ok := prev.(*targetsSnapshot); ok {
		s.seed(p)
	}
	return &Discovered{s}
}

// Set replaces the targets (see scheduler.set); while Run runs it publishes at once.
func (d *Discovered) Set(targets []Target) { d.s.set(targets) }

// Run probes until ctx ends, publishing after every probe and every Set; publish must not
// call back into d.
func (d *Discovered) Run(ctx context.Context, publish func(*source.Snapshot)) { d.s.Run(ctx, publish) }

// Once probes the targets set once, as the targets source's Once.
func (d *Discovered) Once(ctx context.Context) *source.Snapshot { return d.s.Once(ctx) }

// targetsHealth is source.Status.Source for targets.
const targetsHealth = "targets"

// jitter spreads probes of one interval over ±10 % so that targets drift apart instead of
// hitting the network (and shared load balancers) in lockstep.
const jitter = 0.1

// staleIntervals is how long, in target intervals after an address starts failing, the chain
// it served at its last success stays exported: one flaky probe must not drop the certificate
// series (and reset the `for:` of the alerts on them).
const staleIntervals = 3

// lastProbe is the last probe of one configured target.
type lastProbe struct {
	Target     string
	Module     string
	ServerName string       // the target's own server_name
	Labels     certs.Labels // the target's owner labels
	At         time.Time    // when the probe finished
	Result     Result
	// Served has one entry per address that succeeded at least once and is still tracked, in
	// the order of Result.Addrs.
	Served []served

	module    config.Module // the module's settings, to tell an unchanged target on reload
	addresses []string      // Target.Addresses, likewise
}

// served is what one address served at its last successful probe.
type served struct {
	IP    string
	At    time.Time // when that probe finished
	Chain certs.Chain
	// FailingSince is when the address's probes started failing (zero while they succeed).
	FailingSince time.Time
	// Stale: the latest probe of the address failed without serving a chain, and Chain is
	// exported in its place, for up to staleIntervals intervals after FailingSince.
	Stale bool
}

// targetsSnapshot is the state after the latest probe; never modified once published.
type targetsSnapshot struct {
	// Probes has one entry per target probed at least once, in config order.
	Probes []*lastProbe
	// Status has one entry per target probed at least once: up when its last probe succeeded.
	Status []source.Status
}

// chains lists every chain served to the probes, one per address, each dated by its probe,
// with the stale chains of addresses whose latest probe failed.
func (s *targetsSnapshot) chains() []certs.Chain {
	var out []certs.Chain
	for _, p := range s.Probes {
		for _, c := range p.Result.Chains() {
			c.Seen, c.Labels = p.At, p.Labels
			out = append(out, c)
		}
		for _, sv := range p.Served {
			if sv.Stale {
				c := sv.Chain
				c.Seen, c.Labels = sv.At, p.Labels
				out = append(out, c)
			}
		}
	}
	return out
}

// problems lists the failed probes: the target's own failure and each address's.
func (s *targetsSnapshot) problems() []source.Problem {
	var out []source.Problem
	for _, p := range s.Probes {
		r := &p.Result
		if r.Failure != "" {
			out = append(out, source.Problem{Source: certs.SourceProbe, Where: p.Target, Reason: r.Failure, Message: r.Error})
		}
		for _, a := range r.Addrs {
			if a.Failure != "" {
				out = append(out, source.Problem{Source: certs.SourceProbe, Where: p.Target + " (" + a.IP + ")", Reason: a.Failure, Message: a.Error})
			}
		}
	}
	return out
}

// source is the snapshot as every source publishes it, with the per-address probe series.
func (s *targetsSnapshot) source() *source.Snapshot {
	return &source.Snapshot{Chains: s.chains(), Problems: s.problems(), Status: s.Status, Metrics: s.collect, State: s}
}

// Target is one background probe target: a configured one (targets:), or one a source
// discovered (an Ingress's TLS host), which may name the addresses to dial.
type Target struct {
	config.Target
	// Addresses are dialled instead of the addresses the target's host resolves to: IPs, or
	// names resolved at each probe (the Ingress controller a host is served by). The target's
	// host stays the server name and is checked, with each address, against
	// probe.allowed_targets.
	Addresses []string
}

// same reports whether u probes as t does (the module's settings are the scheduler's), so
// that t's loop and last probe stand for u.
func (t *Target) same(u *Target) bool {
	return t.Target.Target == u.Target.Target && t.Module == u.Module && t.ServerName == u.ServerName &&
		t.Interval == u.Interval && slices.Equal(t.Addresses, u.Addresses)
}

// addresses resolves every name to the fixed addresses, in their order.
type addresses struct {
	addrs []string
	next  Resolver
}

func (r addresses) LookupIPAddr(ctx context.Context, _ string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, a := range r.addrs {
		if ip, err := netip.ParseAddr(a); err == nil {
			out = append(out, net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()})
			continue
		}
		ias, err := r.next.LookupIPAddr(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, ias...)
	}
	return out, nil
}

// entry is one target of a scheduler and what its probes found.
type entry struct {
	t      Target
	probe  *lastProbe // nil until probed
	status source.Status
	state  string             // last logged state, to log once per change
	stop   context.CancelFunc // ends its loop; nil while not running
}

// scheduler runs the background probes of a list of targets: the configured ones, or those a
// source discovers and changes with set.
type scheduler struct {
	modules     map[string]config.Module
	concurrency int
	logger      *slog.Logger
	clock       clockwork.Clock
	now         func() time.Time
	opts        Options
	run         func(context.Context, string, config.Module, Options) Result // Run; tests wrap it

	mu      sync.Mutex
	entries []*entry
	prev    *targetsSnapshot // of the scheduler this one replaces (seed), for the first targets set
	// While running: the context and publish function of new targets' loops, and their count.
	ctx     context.Context
	sem     chan struct{}
	repeat  bool
	publish func(*targetsSnapshot)
	loops   sync.WaitGroup
}

// newScheduler prepares a scheduler of cfg's targets; nothing runs before Run.
func newScheduler(cfg *config.Config, logger *slog.Logger, clock clockwork.Clock) *scheduler {
	now := clock.Now
	allow, err := newAllowList(cfg.Probe.AllowedTargets)
	if err != nil {
		// Config validation makes this unreachable; if it happens, refuse rather than allow all.
		logger.Error("probe.allowed_targets is invalid, refusing every target", "err", err)
		allow, _ = newAllowList([]string{"refuse-all.invalid"})
	}
	s := &scheduler{
		modules: cfg.Modules, concurrency: max(cfg.Probe.Concurrency, 1), logger: logger, clock: clock, now: now,
		opts: Options{Now: now, Allow: allow, CRLs: newCRLCache(now)},
		run:  Run,
	}
	for _, t := range cfg.Targets {
		s.entries = append(s.entries, s.newEntry(Target{Target: t}))
	}
	return s
}

func (s *scheduler) newEntry(t Target) *entry {
	reasons := append(slices.Clone(FailureReasons), ProblemReasons...)
	return &entry{t: t, status: source.Status{Source: targetsHealth, Name: t.Target.Target, Errors: source.NewErrors(reasons...)}}
}

// seed starts the scheduler from prev, the snapshot of the scheduler it replaces (a reload):
// targets whose target, module settings and server_name did not change keep their last probe,
// error counters and served chains, so that the first snapshot published does not drop the
// series of the targets not probed yet. Call it before Run; a nil prev seeds nothing.
func (s *scheduler) seed(prev *targetsSnapshot) {
	s.prev = prev
	for _, e := range s.entries {
		s.seedEntry(e)
	}
}

// seedEntry gives e the previous scheduler's probe of the same target, if any.
func (s *scheduler) seedEntry(e *entry) {
	if s.prev == nil {
		return
	}
	for j, p := range s.prev.Probes {
		if p.Target == e.t.Target.Target && p.Module == e.t.Module && p.ServerName == e.t.ServerName &&
			slices.Equal(p.addresses, e.t.Addresses) && reflect.DeepEqual(p.module, s.modules[e.t.Module]) {
			e.probe, e.status = relabel(p, e.t.Labels), s.prev.Status[j]
			return
		}
	}
}

// relabel returns p with the owner labels l: they are no probe setting, so changed ones
// apply to a kept probe.
func relabel(p *lastProbe, l config.Labels) *lastProbe {
	if nl := certs.NewLabels(l); !slices.Equal(nl, p.Labels) {
		kept := *p
		kept.Labels = nl
		return &kept
	}
	return p
}

// set replaces the scheduler's targets: those probed as before keep their loop, last probe
// and health; the others are started (while running) and the removed ones stopped, their
// series gone from the snapshot published here.
func (s *scheduler) set(targets []Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.entries
	s.entries = make([]*entry, 0, len(targets))
	for _, t := range targets {
		i := slices.IndexFunc(old, func(e *entry) bool { return e != nil && e.t.same(&t) })
		if i < 0 {
			e := s.newEntry(t)
			s.seedEntry(e)
			s.entries = append(s.entries, e)
			s.start(e)
			continue
		}
		e := old[i]
		old[i] = nil
		if e.probe != nil {
			e.probe = relabel(e.probe, t.Labels)
		}
		e.t = t
		s.entries = append(s.entries, e)
	}
	for _, e := range old {
		if e != nil && e.stop != nil {
			e.stop()
		}
	}
	s.prev = nil // seeds the first targets set only: a target removed and back later starts anew
	if s.publish != nil {
		s.publish(s.snapshot())
	}
}

// Run probes until ctx ends. Every target is probed once right away (within the concurrency
// limit), then every interval ± 10 %. A snapshot is published after every probe.
func (s *scheduler) Run(ctx context.Context, publish func(*source.Snapshot)) {
	s.probeAll(ctx, true, func(snap *targetsSnapshot) { publish(snap.source()) })
}

// Once probes every target once; targets not probed before ctx ends are problems (timeout).
func (s *scheduler) Once(ctx context.Context) *source.Snapshot {
	var last *targetsSnapshot
	s.probeAll(ctx, false, func(snap *targetsSnapshot) { last = snap })
	if last == nil {
		last = &targetsSnapshot{}
	}
	out := last.source()
	probed := map[string]bool{}
	for _, p := range last.Probes {
		probed[p.Target] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if !probed[e.t.Target.Target] {
			out.Problems = append(out.Problems, source.Problem{Source: certs.SourceProbe, Where: e.t.Target.Target, Reason: failTimeout, Message: "not probed before the check's deadline"})
		}
	}
	return out
}

// probeAll runs a loop per target, and per target set later: one probe, then one per
// interval while repeat. It returns once ctx ended and every loop did.
func (s *scheduler) probeAll(ctx context.Context, repeat bool, publish func(*targetsSnapshot)) {
	s.mu.Lock()
	s.ctx, s.sem, s.repeat, s.publish = ctx, make(chan struct{}, s.concurrency), repeat, publish
	for _, e := range s.entries {
		s.start(e)
	}
	s.mu.Unlock()
	if repeat {
		<-ctx.Done()
	}
	s.loops.Wait()
	s.mu.Lock()
	s.publish = nil
	s.mu.Unlock()
}

// start runs e's loop, when the scheduler runs. Called with s.mu held.
func (s *scheduler) start(e *entry) {
	if s.ctx == nil || s.ctx.Err() != nil {
		return
	}
	ctx, stop := context.WithCancel(s.ctx)
	e.stop = stop
	t, sem, repeat, publish := e.t, s.sem, s.repeat, s.publish
	s.loops.Go(func() {
		defer stop()
		s.loop(ctx, e, t, sem, repeat, publish)
	})
}

// loop probes t, e's target as it started: its probe settings do not change while e lives
// (set makes a new entry for a changed target).
func (s *scheduler) loop(ctx context.Context, e *entry, t Target, sem chan struct{}, repeat bool, publish func(*targetsSnapshot)) {
	interval := time.Duration(t.Interval)
	opts := s.opts
	opts.ServerName = t.ServerName
	if len(t.Addresses) > 0 {
		opts.Resolver = addresses{addrs: t.Addresses, next: net.DefaultResolver}
	}
	timer := s.clock.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.Chan():
		}
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		r := s.run(ctx, t.Target.Target, s.modules[t.Module], opts)
		<-sem
		if ctx.Err() != nil {
			return // a probe cut short by shutdown, reload or removal says nothing about the target
		}
		s.record(e, &lastProbe{Target: t.Target.Target, Module: t.Module, ServerName: t.ServerName, At: s.now(), Result: r,
			module: s.modules[t.Module], addresses: t.Addresses}, publish)
		if !repeat {
			return
		}
		timer.Reset(time.Duration(float64(interval) * (1 - jitter + 2*jitter*rand.Float64())))
	}
}

// record stores a probe's outcome and publishes the new snapshot, under the lock so that
// snapshots are published in order. A probe of a target removed meanwhile is dropped.
func (s *scheduler) record(e *entry, p *lastProbe, publish func(*targetsSnapshot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.entries, e) {
		return
	}
	p.Labels = certs.NewLabels(e.t.Labels)
	var prev []served
	if e.probe != nil {
		prev = e.probe.Served
	}
	p.Served = carry(prev, &p.Result, p.At, staleIntervals*time.Duration(e.t.Interval))
	e.probe = p
	st := &e.status
	st.Up, st.Error = p.Result.Success(), ""
	if st.Up {
		st.LastSuccess = p.At
	} else {
		st.Error = cmp.Or(firstError(&p.Result), strings.Join(p.Result.Failures(), ", "), "resolved to no address")
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
	if state != e.state {
		e.state = state
		if st.Up {
			s.logger.Info("target probe succeeded", "target", p.Target, "module", p.Module)
		} else {
			s.logger.Warn("target probe failed", "target", p.Target, "module", p.Module, "reasons", failures, "err", st.Error)
		}
	}
	publish(s.snapshot())
}

// snapshot is the targets probed at least once, in target order. Called with s.mu held.
func (s *scheduler) snapshot() *targetsSnapshot {
	snap := &targetsSnapshot{}
	for _, e := range s.entries {
		if e.probe != nil {
			snap.Probes = append(snap.Probes, e.probe)
			snap.Status = append(snap.Status, e.status)
		}
	}
	return snap
}

// carry carries each address's last successful chain from prev over to the probe r that
// finished at: replaced on success, kept (stale) while failures without a chain last at most
// keep, forgotten when the name no longer resolves to the address.
func carry(prev []served, r *Result, at time.Time, keep time.Duration) []served {
	failed := func(sv served, a *Addr) (served, bool) {
		if sv.FailingSince.IsZero() {
			sv.FailingSince = at
		}
		within := at.Sub(sv.FailingSince) <= keep
		if !within {
			sv.Chain = certs.Chain{} // only the time of the last success is still of use
		}
		// A refused address is a decision, not a flake; one that served a chain this time has
		// that chain exported instead.
		sv.Stale = within && len(sv.Chain.Certs) > 0 && a.Failure != failRefused && len(a.Chain.Certs) == 0
		return sv, within
	}
	var out []served
	if len(r.Addrs) == 0 {
		// No address was tried (dns, a refused name): they may all still be there, for a while.
		for _, sv := range prev {
			if sv, within := failed(sv, &Addr{Failure: r.Failure}); within {
				out = append(out, sv)
			}
		}
		return out
	}
	for i := range r.Addrs {
		a := &r.Addrs[i]
		switch j := slices.IndexFunc(prev, func(sv served) bool { return sv.IP == a.IP }); {
		case a.Success:
			out = append(out, served{IP: a.IP, At: at, Chain: a.Chain})
		case j >= 0:
			sv, _ := failed(prev[j], a)
			out = append(out, sv)
		}
	}
	return out
}

func firstError(r *Result) string {
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
