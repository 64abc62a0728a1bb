package caddy

import (
	"context"
	"sync"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/acmestate"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Factory is the `caddy:` source: every configured instance, merged into one snapshot.
var Factory = source.Factory{
	Name: "caddy",
	Part: func(cfg *config.Config) (any, bool) {
		return cfg.Caddy, len(cfg.Caddy) > 0
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		s := &Source{}
		for _, c := range cfg.Caddy {
			s.instances = append(s.instances, newInstance(c, env.Logger.With("caddy", c.StorageDir), env.Clock))
		}
		return s
	},
}

// Source is the configured Caddy instances.
type Source struct {
	instances []*instance
}

// Once reads every instance once.
func (s *Source) Once(ctx context.Context) *source.Snapshot {
	parts := make([]part, len(s.instances))
	for i, in := range s.instances {
		parts[i] = in.once(ctx)
	}
	return s.merge(parts)
}

// Run follows every instance and publishes once each has sent its first part, then after
// every change of any.
func (s *Source) Run(ctx context.Context, publish func(*source.Snapshot)) {
	type update struct {
		i int
		p part
	}
	updates := make(chan update)
	var wg sync.WaitGroup
	for i, in := range s.instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.run(ctx, func(p part) {
				select {
				case updates <- update{i, p}:
				case <-ctx.Done():
				}
			})
		}()
	}
	defer wg.Wait()
	parts := make([]part, len(s.instances))
	have := make([]bool, len(s.instances))
	waiting := len(s.instances)
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
			if waiting == 0 {
				publish(s.merge(parts))
			}
		}
	}
}

// merge makes one snapshot of the instances' parts. A name two instances manage is the
// first one's: its series would otherwise be duplicates.
func (s *Source) merge(parts []part) *source.Snapshot {
	out := &source.Snapshot{}
	var names []acmestate.Name
	var fileErrs []files.FileError
	seen := map[string]bool{}
	for _, p := range parts {
		out.Chains = append(out.Chains, p.chains...)
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
	return out
}
