package server_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	toolkit "github.com/prometheus/exporter-toolkit/web"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/registry"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/server"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// TestShutdownLogs: a SIGTERM is logged with its cause when the exporter starts to stop, and a
// last line says the stop is complete, so that a supervisor's log tells a clean stop from a crash.
func TestShutdownLogs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	if err := os.WriteFile(p, []byte("files:\n  - paths: ["+filepath.Join(t.TempDir(), "*.pem")+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs testwait.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	// As main does: the signal ends the context instead of the process.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	systemd, webCfg := false, ""
	flags := &toolkit.FlagConfig{WebListenAddresses: &[]string{"127.0.0.1:0"}, WebSystemdSocket: &systemd, WebConfigFile: &webCfg}
	code := make(chan int, 1)
	go func() {
		code <- server.Serve(ctx, server.ConfigSource{File: p}, registry.Sources, flags, server.HTTPOptions{}, logger)
	}()
	testwait.For(t, "listening", func() bool { return strings.Contains(logs.String(), `msg="Listening on"`) })

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := <-code; c != 0 {
		t.Fatalf("exit code %d\n%s", c, logs.String())
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var got []string
	for _, l := range lines {
		if strings.Contains(l, "Shutting down") || strings.Contains(l, "Stopped") {
			got = append(got, l)
		}
	}
	want := []string{
		`level=INFO msg="Shutting down" cause="terminated signal received"`,
		`level=INFO msg=Stopped`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || lines[len(lines)-1] != want[1] {
		t.Errorf("shutdown lines:\n%s\nwant\n%s\n(the last line of all must be the second)\nlog:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), logs.String())
	}
}
