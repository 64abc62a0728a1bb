package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/common/version"
	toolkit "github.com/prometheus/exporter-toolkit/web"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/server"
)

// serve runs the exporter until ctx ends; SIGHUP reloads the config.
func serve(ctx context.Context, src server.ConfigSource, webFlags *toolkit.FlagConfig, o server.HTTPOptions, logger *slog.Logger) int {
	logger.Info("Starting "+server.Name, "version", version.Info(), "config", configName(src))
	e, err := server.New(src, logger, time.Now)
	if err != nil {
		logger.Error("Error loading config", "err", err)
		return 1
	}
	h, err := e.Handler(o)
	if err != nil {
		logger.Error("Error building HTTP handler", "err", err)
		return 1
	}
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
	return 0
}

func configName(src server.ConfigSource) string {
	if src.File == "" {
		return "built-in default"
	}
	return src.File
}
