package server

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/common/version"
	toolkit "github.com/prometheus/exporter-toolkit/web"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Serve runs the exporter until ctx ends (SIGHUP reloads the config) and returns the exit code.
func Serve(ctx context.Context, src ConfigSource, sources source.Registry, webFlags *toolkit.FlagConfig, o HTTPOptions, logger *slog.Logger) int {
	logger.Info("Starting "+Name, "version", version.Info(), "config", src.name())
	e, err := New(src, sources, logger, clockwork.NewRealClock())
	if err != nil {
		logger.Error("Error loading config", "err", err)
		return 1
	}
	h := e.Handler(o)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_ = e.Reload(ctx) // failures are logged and reflected in the reload gauge
			case <-ctx.Done():
				return
			}
		}
	}()

	err = e.Serve(ctx, h, webFlags)
	cancel()
	<-done
	if err != nil {
		logger.Error("HTTP server failed", "err", err)
		return 1
	}
	// Every source has stopped: a supervisor that sees this line knows the stop was clean.
	logger.Info("Stopped")
	return 0
}

func (s ConfigSource) name() string {
	if s.File == "" {
		return "built-in default"
	}
	return s.File
}
