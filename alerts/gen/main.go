// Command gen writes alerts/cert_expiry_exporter.rules.yml from alerts/alerts.yml.tmpl and
// alerts/config.yml. Run it as `go generate ./alerts` or `go run ./alerts/gen` from the
// repository root.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/alerts"
)

func main() {
	dir := flag.String("dir", "alerts", "directory holding "+alerts.ConfigFile+" and "+alerts.TemplateFile)
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	cfgData, err := os.ReadFile(filepath.Join(dir, alerts.ConfigFile))
	if err != nil {
		return err
	}
	cfg, err := alerts.ParseConfig(cfgData)
	if err != nil {
		return err
	}
	tmpl, err := os.ReadFile(filepath.Join(dir, alerts.TemplateFile))
	if err != nil {
		return err
	}
	out, err := alerts.Generate(cfg, tmpl)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, alerts.RulesFile), out, 0o644)
}
