// Package server runs the exporter: it owns the config, starts and restarts the sources on
// reload, and serves the HTTP endpoints.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// ConfigSource says where the config comes from.
type ConfigSource struct {
	// File is the path to load on start and reload; empty means Builtin only.
	File string
	// Builtin is used when File is empty.
	Builtin *config.Config
}

// Load returns the config from its source.
func (s ConfigSource) Load() (*config.Config, error) {
	if s.File == "" {
		return s.Builtin, nil
	}
	return config.Load(s.File)
}

// ResolveConfig applies the --config.file rule: an explicit flag must point at a readable file;
// the default name falls back to the built-in config when it does not exist.
func ResolveConfig(path string, explicit bool) ConfigSource {
	if !explicit {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return ConfigSource{Builtin: config.Default()}
		}
	}
	return ConfigSource{File: path}
}

// Exporter ties config, sources, inventory and HTTP together.
type Exporter struct {
	src     ConfigSource
	sources source.Registry
	logger  *slog.Logger
	clock   clockwork.Clock
	now     func() time.Time

	cfg   atomic.Pointer[config.Config]
	store *inventory.Store

	reloads chan chan error

	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge

	mu      sync.Mutex
	running map[string]*runner
}

// New loads the config (an error here means exit 1) and prepares the exporter to run the
// sources of the registry that the config configures.
func New(src ConfigSource, sources source.Registry, logger *slog.Logger, clock clockwork.Clock) (*Exporter, error) {
	cfg, err := src.Load()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(sources))
	for i, f := range sources {
		names[i] = f.Name
	}
	e := &Exporter{
		src:     src,
		sources: sources,
		logger:  logger,
		clock:   clock,
		now:     clock.Now,
		store:   inventory.New(names...),
		running: map[string]*runner{},
		reloads: make(chan chan error),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cert_expiry_exporter_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cert_expiry_exporter_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	e.cfg.Store(cfg)
	return e, nil
}

// Config is the config in force.
func (e *Exporter) Config() *config.Config { return e.cfg.Load() }

// Run starts the sources and serves reload requests until ctx ends. It is the one goroutine
// that owns reloads, so two reloads never interleave.
func (e *Exporter) Run(ctx context.Context) {
	e.applySources(ctx, e.Config())
	e.markReloaded()
	for {
		select {
		case <-ctx.Done():
			e.stop()
			return
		case reply := <-e.reloads:
			reply <- e.reload(ctx)
		}
	}
}

// Reload asks the reload goroutine to reload and waits for the outcome.
func (e *Exporter) Reload(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case e.reloads <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Exporter) reload(ctx context.Context) error {
	cfg, err := e.src.Load()
	if err != nil {
		e.reloadOK.Set(0)
		e.logger.Error("Config reload failed; the previous config stays in force", "err", err)
		return fmt.Errorf("config reload failed, previous config kept: %w", err)
	}
	e.cfg.Store(cfg)
	e.applySources(ctx, cfg)
	e.markReloaded()
	e.logger.Info("Config reloaded", "file", e.src.File)
	return nil
}

// markReloaded sets the reload gauges only once the new config is live.
func (e *Exporter) markReloaded() {
	e.reloadOK.Set(1)
	e.reloadTime.Set(float64(e.now().UnixNano()) / 1e9)
}

// runner is one running source and the config part it was started with.
type runner struct {
	part   any
	cancel context.CancelFunc
	done   chan struct{}
}

// stopGrace is how long a source may take to stop once told to. A source stuck in a read
// that ignores its context (a hung network filesystem) is then left behind: its publishes are
// dropped, and reload and shutdown go on without it.
const stopGrace = 5 * time.Second

// applySources starts, restarts or stops each source so that it runs with cfg. A source whose
// part of the config did not change keeps running untouched (its caches and history stay).
func (e *Exporter) applySources(ctx context.Context, cfg *config.Config) {
	e.store.SetGrace(time.Duration(cfg.Drift.GracePeriod))
	e.mu.Lock()
	defer e.mu.Unlock()
	// Derived sources start on what the others found: after their first snapshots, as in check.
	var first []string
	for _, f := range e.sources {
		if _, enabled := f.Part(cfg); enabled && !f.Derived {
			first = append(first, f.Name)
		}
	}
	type change struct {
		f       source.Factory
		part    any
		enabled bool
	}
	var changes []change
	var stopping []string
	for _, f := range e.sources {
		part, enabled := f.Part(cfg)
		old := e.running[f.Name]
		if old != nil && enabled && reflect.DeepEqual(old.part, part) {
			continue
		}
		if old != nil {
			old.cancel()
			stopping = append(stopping, f.Name)
		}
		changes = append(changes, change{f, part, enabled})
	}
	e.awaitStopped(stopping) // all at once: one stuck source costs one stopGrace
	for _, c := range changes {
		f := c.f
		publish := e.store.Restart(f.Name, c.enabled)
		if !c.enabled {
			continue
		}
		src := f.New(cfg, source.Env{
			Logger: e.logger.With("source", f.Name),
			Clock:  e.clock,
			Others: e.store.Others(f.Name),
			Prev:   e.store.Snapshot(f.Name), // the replaced source's, still visible
		})
		ctx, cancel := context.WithCancel(ctx)
		r := &runner{part: c.part, cancel: cancel, done: make(chan struct{})}
		e.running[f.Name] = r
		go func() {
			defer close(r.done)
			if f.Derived && !e.store.WaitFor(ctx, first) {
				return
			}
			src.Run(ctx, publish)
		}()
	}
}

// awaitStopped waits up to stopGrace for the cancelled runners named to end, and removes them
// from e.running; those still running are logged and left behind. Called with e.mu held.
func (e *Exporter) awaitStopped(names []string) {
	if len(names) == 0 {
		return
	}
	deadline := e.clock.NewTimer(stopGrace)
	defer deadline.Stop()
	expired := false
	for _, name := range names {
		r := e.running[name]
		delete(e.running, name)
		if !expired {
			select {
			case <-r.done:
				continue
			case <-deadline.Chan():
				expired = true
			}
		}
		select {
		case <-r.done:
		default:
			e.logger.Error("Source did not stop within "+stopGrace.String()+" of being told to; left behind, what it publishes is dropped", "source", name)
		}
	}
}

func (e *Exporter) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	var names []string
	for _, f := range e.sources { // registry order, for the log
		if r := e.running[f.Name]; r != nil {
			r.cancel()
			names = append(names, f.Name)
		}
	}
	e.awaitStopped(names)
}
