// Package targets probes the configured `targets:` in the background: each at its interval
// with jitter, at most probe.concurrency at once, publishing an immutable snapshot after every
// probe so that scrapes never wait on the network.
package targets

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/health"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// HealthSource is health.Status.Source for targets.
const HealthSource = "targets"

// jitter spreads probes of one interval over ±10 % so that targets drift apart instead of
// hitting the network (and shared load balancers) in lockstep.
const jitter = 0.1

// Probe is the last probe of one configured target.
type Probe struct {
	Target string
	Module string
	At     time.Time // when the probe finished
	Result probe.Result
}

// Snapshot is the state after the latest probe; never modified once published.
type Snapshot struct {
	// Probes has one entry per target probed at least once, in config order.
	Probes []*Probe
	// Status has one entry per target probed at least once: up when its last probe succeeded.
	Status []health.Status
}

// Chains lists every chain served to the probes, one per address.
func (s *Snapshot) Chains() []certs.Chain {
	var out []certs.Chain
	for _, p := range s.Probes {
		out = append(out, p.Result.Chains()...)
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
	for i, t := range cfg.Targets {
		s.status[i] = health.Status{Source: HealthSource, Name: t.Target, Errors: health.NewErrors(probe.FailureReasons...)}
	}
	return s
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
		s.record(i, &Probe{Target: t.Target, Module: t.Module, At: s.now(), Result: r})
		timer.Reset(time.Duration(float64(interval) * (1 - jitter + 2*jitter*rand.Float64())))
	}
}

// record stores a probe's outcome and publishes a new snapshot.
func (s *Scheduler) record(i int, p *Probe) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
