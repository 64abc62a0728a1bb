package caddy

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/acmestate"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// ReasonTooManyTargets is the problem of more stored names than maxTargets with probe:.
const ReasonTooManyTargets = "too_many_targets"

// maxTargets bounds the probed names of all instances: each is a probe every interval and a
// few series per address, and a Caddy with on-demand TLS may store a name per customer. The
// names after it, in instance then name order, are not probed.
const maxTargets = 1000

// Factory is the `caddy:` source: every configured instance, merged into one snapshot.
var Factory = source.Factory{
	Name: "caddy",
	Part: func(cfg *config.Config) (any, bool) {
		if !probing(cfg) {
			return cfg.Caddy, len(cfg.Caddy) > 0
		}
		// The probes' settings too, and targets: (a name that is one of them is left to it).
		return struct {
			Caddy   []config.Caddy
			Targets []config.Target
			Modules map[string]config.Module
			Probe   config.Probe
		}{cfg.Caddy, cfg.Targets, cfg.Modules, cfg.Probe}, true
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		s := &Source{cfg: cfg}
		for _, c := range cfg.Caddy {
			s.instances = append(s.instances, newInstance(c, env.Logger.With("caddy", c.StorageDir), env.Clock))
		}
		if probing(cfg) {
			var prev any
			if env.Prev != nil {
				if st, ok := env.Prev.State.(*state); ok {
					prev = st.probes
				}
			}
			s.probes = probe.NewDiscovered(cfg, env, prev)
		}
		return s
	},
}

// probing says whether an instance has probe:.
func probing(cfg *config.Config) bool {
	return slices.ContainsFunc(cfg.Caddy, func(c config.Caddy) bool { return c.Probe != nil })
}

// Source is the configured Caddy instances, and the probes of their names (probe:).
type Source struct {
	cfg       *config.Config
	instances []*instance
	probes    *probe.Discovered // nil without probe:
}

// state is the source's snapshot State: the probes' own, for the source replacing it.
type state struct{ probes any }

// Once reads every instance once, then probes their names once.
func (s *Source) Once(ctx context.Context) *source.Snapshot {
	parts := make([]part, len(s.instances))
	for i, in := range s.instances {
		parts[i] = in.once(ctx)
	}
	probed := &source.Snapshot{}
	var problems []source.Problem
	if s.probes != nil {
		var targets []probe.Target
		targets, problems = s.targets(parts)
		s.probes.Set(targets)
		probed = s.probes.Once(ctx)
	}
	return s.merge(parts, problems, probed)
}

// Run follows every instance and probes their names; it publishes once each instance has sent
// its first part, then after every change of any and every probe.
func (s *Source) Run(ctx context.Context, publish func(*source.Snapshot)) {
	type update struct {
		i int
		p part
	}
	updates := make(chan update)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, in := range s.instances {
		wg.Go(func() {
			in.run(ctx, func(p part) {
				select {
				case updates <- update{i, p}:
				case <-ctx.Done():
				}
			})
		})
	}
	// probed is the probes' latest snapshot; changed says it was replaced (nil: no probes).
	var mu sync.Mutex
	probed := &source.Snapshot{}
	var changed chan struct{}
	if s.probes != nil {
		changed = make(chan struct{}, 1)
		wg.Go(func() {
			s.probes.Run(ctx, func(p *source.Snapshot) {
				mu.Lock()
				probed = p
				mu.Unlock()
				select {
				case changed <- struct{}{}:
				default:
				}
			})
		})
	}
	parts := make([]part, len(s.instances))
	have := make([]bool, len(s.instances))
	waiting := len(s.instances)
	var set []probe.Target
	var problems []source.Problem
	listed := false
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			parts[u.i] = u.p
			if !have[u.i] {
				have[u.i] = true
				waiting--
			}
			if waiting == 0 && s.probes != nil {
				var targets []probe.Target
				targets, problems = s.targets(parts)
				// Set publishes (and so signals) at once: only a changed list is set.
				if !listed || !reflect.DeepEqual(targets, set) {
					listed, set = true, targets
					s.probes.Set(targets)
				}
			}
		case <-changed:
		}
		if waiting == 0 {
			mu.Lock()
			p := probed
			mu.Unlock()
			publish(s.merge(parts, problems, p))
		}
	}
}

// targets are the probe targets of the instances' stored names: a name two instances store
// is the first one's (as in merge), a name of targets: is left to it.
func (s *Source) targets(parts []part) ([]probe.Target, []source.Problem) {
	var out []probe.Target
	seen := map[string]bool{}
	for i, p := range parts {
		for _, t := range p.targets {
			if seen[t.Target.Target] || s.cfg.HasTarget(t.Target.Target) {
				continue
			}
			if len(out) == maxTargets {
				return out, []source.Problem{{Source: client, Where: s.cfg.Caddy[i].StorageDir, Reason: ReasonTooManyTargets,
					Message: fmt.Sprintf("more than %d names to probe: %s and the names after it are not probed", maxTargets, t.Target.Target)}}
			}
			seen[t.Target.Target] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// merge makes one snapshot of the instances' parts and the probes' snapshot. A name two
// instances manage is the first one's: its series would otherwise be duplicates.
func (s *Source) merge(parts []part, problems []source.Problem, probed *source.Snapshot) *source.Snapshot {
	out := &source.Snapshot{}
	var names []acmestate.Name
	var fileErrs []files.FileError
	seen := map[string]bool{}
	for _, p := range parts {
		out.Chains = append(out.Chains, p.chains...)
		out.Windows = append(out.Windows, p.windows...)
		out.Problems = append(out.Problems, p.problems...)
		out.Status = append(out.Status, p.status...)
		for _, n := range p.names {
			if !seen[n.Lineage] {
				seen[n.Lineage] = true
				names = append(names, n)
			}
		}
		fileErrs = append(fileErrs, p.fileErrs...)
	}
	out.Renewals = acmestate.Renewals(names)
	out.Metrics = acmestate.Metrics(names, fileErrs)
	if s.probes == nil {
		return out
	}
	out.Chains = append(out.Chains, probed.Chains...)
	out.Problems = slices.Concat(out.Problems, problems, probed.Problems)
	out.Status = append(out.Status, probed.Status...)
	out.State = &state{probes: probed.State}
	if own, probes := out.Metrics, probed.Metrics; probes != nil {
		out.Metrics = func(ch chan<- prometheus.Metric) {
			own(ch)
			probes(ch)
		}
	}
	return out
}
