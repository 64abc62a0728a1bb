// Command cert_expiry_exporter exports certificate expiry and certbot renewal state to Prometheus.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/check"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/demo"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/registry"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/server"
)

func main() {
	stampVersion(debug.ReadBuildInfo())
	tuneGC(os.LookupEnv)
	os.Exit(run(os.Args[1:]))
}

// stampVersion fills what `make build` stamps with -ldflags from the Go toolchain's build
// record when a plain `go build` or `go install module@version` left it empty: the module
// version (a tag, or a pseudo-version of the commit) and the commit time. The revision falls
// back in prometheus/common itself.
func stampVersion(bi *debug.BuildInfo, ok bool) {
	if !ok {
		return
	}
	if version.Version == "" {
		version.Version = "devel"
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			version.Version = strings.TrimPrefix(v, "v")
		}
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" && version.BuildDate == "" {
			version.BuildDate = s.Value
		}
	}
}

func run(args []string) int {
	app := kingpin.New(server.Name, "Prometheus exporter that warns days ahead that a TLS certificate will lapse, and why.")
	var configGiven bool
	configFile := app.Flag("config.file", "Configuration file. When not given and "+config.DefaultFile+" does not exist, a built-in config for a certbot host is used.").
		Default(config.DefaultFile).IsSetByUser(&configGiven).String()
	configCheck := app.Flag("config.check", "Validate the configuration file and exit (0 valid, 1 invalid).").Bool()
	webFlags := kingpinflag.AddFlags(app, ":9117")
	var listenGiven bool
	app.GetFlag("web.listen-address").IsSetByUser(&listenGiven)
	enablePprof := app.Flag("web.enable-pprof", "Serve Go profiling endpoints under /debug/pprof/.").Bool()
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)
	app.Version(version.Print(server.Name))
	app.HelpFlag.Short('h')
	app.Command("serve", "Run the exporter (the default).").Default()
	checkCmd := app.Command("check", "Check every certificate once, print a table, exit 0 ok, 1 warning, 2 critical, 3 unknown (Nagios).")
	checkOutput := checkCmd.Flag("output", "Output format: table or json.").Default("table").Enum("table", "json")
	checkWarning := checkCmd.Flag("warning", "Warning when less than this is left (once the renewal point has passed).").Default("7d").String()
	checkCritical := checkCmd.Flag("critical", "Critical when less than this is left (once the renewal point has passed).").Default("3d").String()
	checkAll := checkCmd.Flag("all", "Also list intermediates and CA certificates (they never change the exit code).").Bool()
	checkTimeout := checkCmd.Flag("timeout", "Give up on sources (probes) after this long.").Default("60s").Duration()
	demoCmd := app.Command("demo", "Generate a temporary world of certificates in every state and run the exporter on it.")

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", server.Name, err)
		if slices.Contains(args, checkCmd.FullCommand()) {
			return check.StatusUnknown // Nagios plugins report usage errors as UNKNOWN
		}
		return 1
	}
	logger := promslog.New(logCfg)
	src := server.ResolveConfig(*configFile, configGiven)

	if *configCheck {
		if _, err := src.Load(); err != nil {
			fmt.Fprintf(os.Stderr, "config invalid: %v\n", err)
			return 1
		}
		fmt.Println("config OK")
		return 0
	}

	switch cmd {
	case checkCmd.FullCommand():
		th, err := check.Thresholds(*checkWarning, *checkCritical)
		if err == nil {
			var cfg *config.Config
			if cfg, err = src.Load(); err == nil {
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				ctx, cancel := context.WithTimeout(ctx, *checkTimeout)
				defer cancel()
				return check.Run(ctx, cfg, registry.Sources, check.Options{Thresholds: th, JSON: *checkOutput == "json", All: *checkAll, Clock: clockwork.NewRealClock(), Logger: logger}, os.Stdout)
			}
		}
		fmt.Printf("CERTIFICATES UNKNOWN - %v\n", err)
		return check.StatusUnknown
	case demoCmd.FullCommand():
		w, err := demo.New(time.Now())
		if err != nil {
			logger.Error("Cannot create the demo world", "err", err)
			return 1
		}
		defer w.Close()
		if !listenGiven {
			// The demo's probe endpoint and pages are for the person running it, not the network.
			*webFlags.WebListenAddresses = []string{demo.DefaultListenAddress}
		}
		*webFlags.WebListenAddresses = demo.ConcretePorts(*webFlags.WebListenAddresses)
		w.Announce(os.Stdout, *webFlags.WebListenAddresses)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return server.Serve(ctx, server.ConfigSource{File: w.Config}, registry.Sources, webFlags, server.HTTPOptions{EnablePprof: *enablePprof}, logger)
	default:
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return server.Serve(ctx, src, registry.Sources, webFlags, server.HTTPOptions{EnablePprof: *enablePprof}, logger)
	}
}
