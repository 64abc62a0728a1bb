// Command cert_expiry_exporter exports certificate expiry and certbot renewal state to Prometheus.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/exporter"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	app := kingpin.New(exporter.Name, "Prometheus exporter that warns days ahead that a TLS certificate will lapse, and why.")
	var configGiven bool
	configFile := app.Flag("config.file", "Configuration file. When not given and "+config.DefaultFile+" does not exist, a built-in config for a certbot host is used.").
		Default(config.DefaultFile).IsSetByUser(&configGiven).String()
	configCheck := app.Flag("config.check", "Validate the configuration file and exit (0 valid, 1 invalid).").Bool()
	webFlags := kingpinflag.AddFlags(app, ":9117")
	enablePprof := app.Flag("web.enable-pprof", "Serve Go profiling endpoints under /debug/pprof/.").Bool()
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)
	app.Version(version.Print(exporter.Name))
	app.HelpFlag.Short('h')
	app.Command("serve", "Run the exporter (the default).").Default()

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporter.Name, err)
		return 1
	}
	logger := promslog.New(logCfg)
	src := exporter.ResolveConfig(*configFile, configGiven)

	if *configCheck {
		if _, err := src.Load(); err != nil {
			fmt.Fprintf(os.Stderr, "config invalid: %v\n", err)
			return 1
		}
		fmt.Println("config OK")
		return 0
	}

	switch cmd {
	default:
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, src, webFlags, exporter.HTTPOptions{EnablePprof: *enablePprof}, logger)
	}
}
