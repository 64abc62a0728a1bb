package probe

// The `targets:` source probes the configured targets in the background: each at its interval
// with jitter, at most probe.concurrency at once, publishing an immutable snapshot after every
// probe so that scrapes never wait on the network.

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
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

	module config.Module // the module's settings, to tell an unchanged target on reload
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

// scheduler runs the background probes of one config.
type scheduler struct {
	cfg    *config.Config
	logger *slog.Logger
	clock  clockwork.Clock
	now    func() time.Time
	opts   Options
	run    func(context.Context, string, config.Module, Options) Result // Run; tests wrap it

	mu     sync.Mutex
	probes []*lastProbe
	status []source.Status
	state  []string // last logged state per target, to log once per change
}

// newScheduler prepares a scheduler; nothing runs before Run.
func newScheduler(cfg *config.Config, logger *slog.Logger, clock clockwork.Clock) *scheduler {
	now := clock.Now
	allow, err := newAllowList(cfg.Probe.AllowedTargets)
	if err != nil {
		// Config validation makes this unreachable; if it happens, refuse rather than allow all.
		logger.Error("probe.allowed_targets is invalid, refusing every target", "err", err)
		allow, _ = newAllowList([]string{"refuse-all.invalid"})
	}
	s := &scheduler{
		cfg: cfg, logger: logger, clock: clock, now: now,
		opts:   Options{Now: now, Allow: allow, CRLs: newCRLCache(now)},
		run:    Run,
		probes: make([]*lastProbe, len(cfg.Targets)),
		status: make([]source.Status, len(cfg.Targets)),
		state:  make([]string, len(cfg.Targets)),
	}
	reasons := append(slices.Clone(FailureReasons), ProblemReasons...)
	for i, t := range cfg.Targets {
		s.status[i] = source.Status{Source: targetsHealth, Name: t.Target, Errors: source.NewErrors(reasons...)}
	}
	return s
}

// seed starts the scheduler from prev, the snapshot of the scheduler it replaces (a reload):
// targets whose target, module settings and server_name did not change keep their last probe,
// error counters and served chains, so that the first snapshot published does not drop the
// series of the targets not probed yet. Call it before Run; a nil prev seeds nothing.
func (s *scheduler) seed(prev *targetsSnapshot) {
	if prev == nil {
		return
	}
	for i, t := range s.cfg.Targets {
		for j, p := range prev.Probes {
			if p.Target == t.Target && p.Module == t.Module && p.ServerName == t.ServerName && reflect.DeepEqual(p.module, s.cfg.Modules[t.Module]) {
				s.probes[i], s.status[i] = p, prev.Status[j]
				// Owner labels are no probe setting: changed ones apply to the kept probe.
				if l := certs.NewLabels(t.Labels); !slices.Equal(l, p.Labels) {
					kept := *p
					kept.Labels = l
					s.probes[i] = &kept
				}
				break
			}
		}
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
	for _, t := range s.cfg.Targets {
		if !probed[t.Target] {
			out.Problems = append(out.Problems, source.Problem{Source: certs.SourceProbe, Where: t.Target, Reason: failTimeout, Message: "not probed before the check's deadline"})
		}
	}
	return out
}

// probeAll runs a loop per target: one probe, then one per interval while repeat.
func (s *scheduler) probeAll(ctx context.Context, repeat bool, publish func(*targetsSnapshot)) {
	sem := make(chan struct{}, max(s.cfg.Probe.Concurrency, 1))
	var wg sync.WaitGroup
	for i := range s.cfg.Targets {
		wg.Go(func() { s.loop(ctx, i, sem, repeat, publish) })
	}
	wg.Wait()
}

func (s *scheduler) loop(ctx context.Context, i int, sem chan struct{}, repeat bool, publish func(*targetsSnapshot)) {
	t := s.cfg.Targets[i]
	interval := time.Duration(t.Interval)
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
		opts := s.opts
		opts.ServerName = t.ServerName
		r := s.run(ctx, t.Target, s.cfg.Modules[t.Module], opts)
		<-sem
		if ctx.Err() != nil {
			return // a probe cut short by shutdown or reload says nothing about the target
		}
		s.record(i, &lastProbe{Target: t.Target, Module: t.Module, ServerName: t.ServerName, Labels: certs.NewLabels(t.Labels), At: s.now(), Result: r, module: s.cfg.Modules[t.Module]}, publish)
		if !repeat {
			return
		}
		timer.Reset(time.Duration(float64(interval) * (1 - jitter + 2*jitter*rand.Float64())))
	}
}

// record stores a probe's outcome and publishes the new snapshot, under the lock so that
// snapshots are published in order.
func (s *scheduler) record(i int, p *lastProbe, publish func(*targetsSnapshot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var prev []served
	if s.probes[i] != nil {
		prev = s.probes[i].Served
	}
	p.Served = carry(prev, &p.Result, p.At, staleIntervals*time.Duration(s.cfg.Targets[i].Interval))
	s.probes[i] = p
	st := &s.status[i]
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
	if state != s.state[i] {
		s.state[i] = state
		if st.Up {
			s.logger.Info("target probe succeeded", "target", p.Target, "module", p.Module)
		} else {
			s.logger.Warn("target probe failed", "target", p.Target, "module", p.Module, "reasons", failures, "err", st.Error)
		}
	}

	snap := &targetsSnapshot{}
	for j, q := range s.probes {
		if q != nil {
			snap.Probes = append(snap.Probes, q)
			snap.Status = append(snap.Status, s.status[j])
		}
	}
	publish(snap)
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
