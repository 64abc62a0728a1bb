// Package exporter runs the exporter: it owns the config, starts and restarts the sources on
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/ari"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certbot"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/targets"
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
	src    ConfigSource
	logger *slog.Logger
	now    func() time.Time

	cfg atomic.Pointer[config.Config]
	Inv *inventory.Inventory

	reloads chan chan error

	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge

	mu      sync.Mutex
	running map[inventory.Kind]*runner
}

// New loads the config (an error here means exit 1) and prepares the exporter.
func New(src ConfigSource, logger *slog.Logger, now func() time.Time) (*Exporter, error) {
	cfg, err := src.Load()
	if err != nil {
		return nil, err
	}
	e := &Exporter{
		src:     src,
		logger:  logger,
		now:     now,
		Inv:     inventory.New(),
		running: map[inventory.Kind]*runner{},
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

// runner is one running source and the config it was started with.
type runner struct {
	cfg    any
	cancel context.CancelFunc
	done   chan struct{}
}

// applySources starts, restarts or stops each source so that it runs with cfg. A source whose
// part of the config did not change keeps running untouched (its caches and history stay).
func (e *Exporter) applySources(ctx context.Context, cfg *config.Config) {
	var certbotDir string
	if cfg.Certbot != nil {
		certbotDir = cfg.Certbot.ConfigDir
	}
	type filesCfg struct {
		Files      []config.Files
		CertbotDir string
	}
	type targetsCfg struct {
		Targets []config.Target
		Modules map[string]config.Module
		Probe   config.Probe
	}
	e.apply(ctx, inventory.Certbot, cfg.Certbot, cfg.Certbot != nil, func(ctx context.Context, gen uint64) {
		certbot.New(*cfg.Certbot, e.logger.With("source", "certbot"), e.now, e.Inv.CertbotPublisher(gen)).Run(ctx)
	})
	e.apply(ctx, inventory.Files, filesCfg{cfg.Files, certbotDir}, len(cfg.Files) > 0, func(ctx context.Context, gen uint64) {
		files.New(cfg.Files, certbotDir, e.logger.With("source", "files"), e.now, e.Inv.FilesPublisher(gen)).Run(ctx)
	})
	e.apply(ctx, inventory.Targets, targetsCfg{cfg.Targets, cfg.Modules, cfg.Probe}, len(cfg.Targets) > 0, func(ctx context.Context, gen uint64) {
		s := targets.New(cfg, e.logger.With("source", "targets"), e.now, e.Inv.TargetsPublisher(gen))
		s.Seed(e.Inv.View().Targets) // the replaced scheduler's last snapshot, still visible
		s.Run(ctx)
	})
	e.Inv.SetDrift(time.Duration(cfg.Drift.GracePeriod), e.now)
	// ARI asks about local files whose CA is known: certbot lineages or ari.directories.
	ariCfg := cfg.ARI
	ariOn := len(cfg.Files) > 0 && ((*ariCfg.Enabled && cfg.Certbot != nil) || len(ariCfg.Directories) > 0)
	e.apply(ctx, inventory.ARI, ariCfg, ariOn, func(ctx context.Context, gen uint64) {
		subjects := func() []ari.Subject { return e.Inv.View().ARISubjects(ariCfg, e.now()) }
		ari.New(subjects, ari.Options{}, e.logger.With("source", "ari"), e.now, e.Inv.ARIPublisher(gen)).Run(ctx)
	})
}

func (e *Exporter) apply(ctx context.Context, k inventory.Kind, part any, enabled bool, run func(context.Context, uint64)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.running[k]
	if old != nil && enabled && reflect.DeepEqual(old.cfg, part) {
		return
	}
	if old != nil {
		old.cancel()
		<-old.done
		delete(e.running, k)
	}
	gen := e.Inv.Restart(k, enabled)
	if !enabled {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &runner{cfg: part, cancel: cancel, done: make(chan struct{})}
	e.running[k] = r
	go func() {
		defer close(r.done)
		run(ctx, gen)
	}()
}

func (e *Exporter) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, r := range e.running {
		r.cancel()
		<-r.done
		delete(e.running, k)
	}
}
