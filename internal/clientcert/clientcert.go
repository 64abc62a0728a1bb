// Package clientcert is the `client` source: the client certificate each probe module presents
// for mutual TLS (tls_config.cert_file, or the inline tls_config.cert). It expires like any
// other certificate, and when it does the probes of that module fail at the handshake, whatever
// their targets serve (blackbox_exporter issue #974). Each module's file is read through the
// files source, as a files: entry of usage client (the same cache, fsnotify watch and rescan,
// bounded reads, file error series and client_auth policy), never at /probe time; an inline
// certificate is parsed once (the config check made sure it parses). The private key is never
// read.
package clientcert

import (
	"cmp"
	"context"
	"crypto/x509"
	"log/slog"
	"slices"
	"sync"
	"time"

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
	mods  []module
	clock clockwork.Clock
}

type module struct {
	name  string
	files *files.Source // nil for an inline certificate
	// inline is the inline certificate's chain, verified by merge at each publish.
	inline *certs.Chain
	xs     []*x509.Certificate
}

// New prepares a source for the modules' certificates. Its log lines carry the module.
func New(mods []config.ModuleCert, logger *slog.Logger, clock clockwork.Clock) *Source {
	s := &Source{clock: clock}
	for _, m := range mods {
		if m.Inline != "" {
			s.mods = append(s.mods, inlineModule(m))
			continue
		}
		l := logger.With("source", certs.SourceClient, "module", m.Module)
		s.mods = append(s.mods, module{name: m.Module, files: files.New([]config.Files{m.Files}, "", l, clock)})
	}
	return s
}

// inlineModule parses an inline certificate; the config check refuses one that does not parse.
func inlineModule(m config.ModuleCert) module {
	xs, _ := certs.Decode([]byte(m.Inline), "")
	c := &certs.Chain{Location: certs.Location{Source: certs.SourceClient, Module: m.Module},
		Labels: certs.NewLabels(m.Files.Labels), Usage: certs.UsageClient}
	for _, x := range xs {
		c.Certs = append(c.Certs, certs.New(x))
	}
	return module{name: m.Module, inline: c, xs: xs}
}

// Once reads every module's file once.
func (s *Source) Once(ctx context.Context) *source.Snapshot {
	snaps := make([]*source.Snapshot, len(s.mods))
	for i, m := range s.mods {
		if m.files != nil {
			snaps[i] = m.files.Once(ctx)
		}
	}
	return s.merge(snaps)
}

// Run publishes once every module's file was read, then after every change to one of them and
// at each validity bound of an inline certificate.
func (s *Source) Run(ctx context.Context, publish func(*source.Snapshot)) {
	type update struct {
		i    int
		snap *source.Snapshot
	}
	updates := make(chan update)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, m := range s.mods {
		if m.files == nil {
			continue
		}
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
	missing := 0
	for _, m := range s.mods {
		if m.files != nil {
			missing++
		}
	}
	// The inline chains' verdicts change at their certificates' validity bounds: publish again
	// then, as the files source re-checks a file's chain.
	var bound <-chan time.Time
	send := func() {
		publish(s.merge(latest))
		if next := s.nextBound(); !next.IsZero() {
			bound = s.clock.After(next.Sub(s.clock.Now()))
		}
	}
	if missing == 0 {
		send()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-bound:
			send()
		case u := <-updates:
			if latest[u.i] == nil {
				missing--
			}
			latest[u.i] = u.snap
			if missing == 0 {
				send()
			}
		}
	}
}

// nextBound is the next validity bound of an inline certificate (zero when none is ahead).
func (s *Source) nextBound() time.Time {
	var lists [][]*x509.Certificate
	for _, m := range s.mods {
		lists = append(lists, m.xs)
	}
	return certs.NextBound(s.clock.Now(), lists...)
}

// merge makes the modules' files snapshots the client source's: chains of source client named
// by module, health per module (source client, name the module), and one file error series per
// file and reason however many modules share the file.
func (s *Source) merge(snaps []*source.Snapshot) *source.Snapshot {
	out := &source.Snapshot{}
	var errs []files.FileError
	now := s.clock.Now()
	for i, snap := range snaps {
		name := s.mods[i].name
		if c := s.mods[i].inline; c != nil {
			c := *c
			c.Verify = certs.Verify(s.mods[i].xs, certs.VerifyOptions{Now: now})
			out.Chains = append(out.Chains, c)
			out.Status = append(out.Status, source.Status{Source: certs.SourceClient, Name: name, Up: true, LastSuccess: now})
			continue
		}
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
