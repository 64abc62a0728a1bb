// Package clientcert is the `client` source: the client certificate each probe module presents
// for mutual TLS (tls_config.cert_file). It expires like any other certificate, and when it
// does the probes of that module fail at the handshake, whatever their targets serve
// (blackbox_exporter issue #974). Each module's file is read through the files source, as a
// files: entry of usage client (the same cache, fsnotify watch and rescan, bounded reads, file
// error series and client_auth policy), never at /probe time; the private key is never read.
package clientcert

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Factory is the `client` source: configured when a module has a tls_config.cert_file. A
// reload restarts it only when a module's file changes (one added, removed, or another path);
// meanwhile its watches see the files change.
var Factory = source.Factory{
	Name: "client",
	Part: func(cfg *config.Config) (any, bool) {
		m := cfg.ModuleCerts()
		return m, len(m) > 0
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		return New(cfg.ModuleCerts(), env.Logger, env.Clock)
	},
}

// Source reads the modules' client certificates. Each module has a files source of its own:
// two modules may share one file, which one files source would read once, for the first.
type Source struct {
	mods []module
}

type module struct {
	name  string
	files *files.Source
}

// New prepares a source for the modules' certificate files. Its log lines carry the module.
func New(mods []config.ModuleCert, logger *slog.Logger, clock clockwork.Clock) *Source {
	s := &Source{}
	for _, m := range mods {
		l := logger.With("source", certs.SourceClient, "module", m.Module)
		s.mods = append(s.mods, module{m.Module, files.New([]config.Files{m.Files}, "", l, clock)})
	}
	return s
}

// Once reads every module's file once.
func (s *Source) Once(ctx context.Context) *source.Snapshot {
	snaps := make([]*source.Snapshot, len(s.mods))
	for i, m := range s.mods {
		snaps[i] = m.files.Once(ctx)
	}
	return s.merge(snaps)
}

// Run publishes once every module's file was read, then after every change to one of them.
func (s *Source) Run(ctx context.Context, publish func(*source.Snapshot)) {
	type update struct {
		i    int
		snap *source.Snapshot
	}
	updates := make(chan update)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, m := range s.mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.files.Run(ctx, func(snap *source.Snapshot) {
				select {
				case updates <- update{i, snap}:
				case <-ctx.Done():
				}
			})
		}()
	}
	latest := make([]*source.Snapshot, len(s.mods))
	missing := len(s.mods)
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			if latest[u.i] == nil {
				missing--
			}
			latest[u.i] = u.snap
			if missing == 0 {
				publish(s.merge(latest))
			}
		}
	}
}

// merge makes the modules' files snapshots the client source's: chains of source client named
// by module, health per module (source client, name the module), and one file error series per
// file and reason however many modules share the file.
func (s *Source) merge(snaps []*source.Snapshot) *source.Snapshot {
	out := &source.Snapshot{}
	var errs []files.FileError
	for i, snap := range snaps {
		name := s.mods[i].name
		for _, c := range snap.Chains {
			c.Source, c.Module = certs.SourceClient, name
			out.Chains = append(out.Chains, c)
		}
		for _, p := range snap.Problems {
			if slices.Contains(files.Reasons, p.Reason) {
				errs = append(errs, files.FileError{Path: p.Where, Reason: p.Reason, Message: p.Message})
			}
			p.Source = certs.SourceClient
			p.Message = "client certificate of module " + name + ": " + p.Message
			out.Problems = append(out.Problems, p)
		}
		for _, st := range snap.Status {
			st.Source, st.Name = certs.SourceClient, name
			out.Status = append(out.Status, st)
		}
	}
	slices.SortFunc(errs, func(a, b files.FileError) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Reason, b.Reason))
	})
	out.Metrics = files.ErrorMetrics(slices.CompactFunc(errs, func(a, b files.FileError) bool {
		return a.Path == b.Path && a.Reason == b.Reason
	}))
	return out
}
