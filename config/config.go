// Package config defines the configuration file: its types, defaults, validation and loading.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	promconfig "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/fsread"
)

// DefaultFile is the --config.file default; when it is absent and the flag was not given,
// Default() is used so that a certbot host works with zero setup.
const DefaultFile = "cert_expiry_exporter.yml"

// Config is the whole configuration file. Its top-level keys are a documented contract.
type Config struct {
	Files   []Files           `yaml:"files,omitempty"`
	Certbot *Certbot          `yaml:"certbot,omitempty"`
	Lego    List[Lego]        `yaml:"lego,omitempty"`
	Caddy   List[Caddy]       `yaml:"caddy,omitempty"`
	Targets []Target          `yaml:"targets,omitempty"`
	Modules map[string]Module `yaml:"modules,omitempty"`
	Probe   Probe             `yaml:"probe,omitempty"`
	Drift   Drift             `yaml:"drift,omitempty"`
	ARI     ARI               `yaml:"ari,omitempty"`
	// Kubernetes is nil when the section is absent.
	Kubernetes *Kubernetes `yaml:"kubernetes,omitempty"`
}

// maxConfigBytes bounds the config file: real ones are a few KiB.
const maxConfigBytes = 16 << 20

// Load reads and parses a config file.
func Load(path string) (*Config, error) {
	data, err := fsread.ReadFile(path, maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	// An empty file is what a reload reads while the file is rewritten in place (truncated,
	// then written): taken as a config, it would stop every source.
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: the config file is empty (being rewritten? write a new file and rename it over the old one)", path)
	}
	cfg, err := Parse(data)
	if err == nil {
		err = cfg.checkFiles()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// checkFiles makes sure the files the config names can be read, so that a typo is an error at
// load (and a reload keeps the old config) rather than a probe or scan failing later. Parse stays
// free of I/O for tests and fuzzing.
func (c *Config) checkFiles() error {
	check := func(field, path string) error {
		if path == "" {
			return nil
		}
		f, _, err := fsread.Open(path)
		if err != nil {
			return fieldError(field, "%v", err)
		}
		return f.Close()
	}
	checkTLS := func(p string, tc *promconfig.TLSConfig) error {
		return errors.Join(check(p+".ca_file", tc.CAFile), check(p+".cert_file", tc.CertFile), check(p+".key_file", tc.KeyFile))
	}
	for i, f := range c.Files {
		if err := errors.Join(check(fmt.Sprintf("files[%d].ca_file", i), f.CAFile), check(fmt.Sprintf("files[%d].password_file", i), f.PasswordFile)); err != nil {
			return err
		}
	}
	if k := c.Kubernetes; k != nil {
		if err := errors.Join(check("kubernetes.kubeconfig", k.Kubeconfig), check("kubernetes.secrets.pkcs12_password_file", k.Secrets.PKCS12PasswordFile)); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		m := c.Modules[name]
		if err := checkTLS("modules."+name+".tls_config", &m.TLSConfig); err != nil {
			return err
		}
	}
	return checkTLS("ari.tls_config", &c.ARI.TLSConfig)
}

// Parse decodes strictly (unknown keys are errors naming their path), applies defaults and
// validates. An empty document is a valid config that watches nothing.
func Parse(data []byte) (*Config, error) {
	cfg := &Config{}
	if len(bytes.TrimSpace(data)) > 0 {
		var root yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("line %d: a config file holds one YAML document, found a second", extra.Line)
		}
		if err := checkKnownFields(&root, cfg); err != nil {
			return nil, err
		}
		if err := root.Decode(cfg); err != nil {
			return nil, err
		}
		if nullSection(&root, "certbot") {
			cfg.Certbot = &Certbot{}
		}
		if nullSection(&root, "kubernetes") {
			cfg.Kubernetes = &Kubernetes{} // a bare `kubernetes:` is the in-cluster defaults
		}
		if nullSection(&root, "kubernetes", "cert_manager") {
			cfg.Kubernetes.CertManager = &KubeCertManager{}
		}
		if nullSection(&root, "kubernetes", "ingresses") {
			cfg.Kubernetes.Ingresses = &KubeIngresses{}
		}
		if nullSection(&root, "kubernetes", "gateways") {
			cfg.Kubernetes.Gateways = &KubeGateways{}
		}
		if nullSection(&root, "kubernetes", "configmaps") {
			cfg.Kubernetes.ConfigMaps = &KubeConfigMaps{}
		}
		if nullSection(&root, "caddy") {
			cfg.Caddy = List[Caddy]{{}} // a bare `caddy:` is one instance with the defaults
		}
	}
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// applyDefaults is the one place defaults are set; each section's defaults live beside its type.
func (c *Config) applyDefaults() {
	for i := range c.Files {
		c.Files[i].defaults()
	}
	if c.Certbot != nil {
		c.Certbot.defaults()
	}
	for i := range c.Lego {
		c.Lego[i].defaults()
	}
	for i := range c.Caddy {
		c.Caddy[i].defaults()
	}
	if c.Modules == nil {
		c.Modules = map[string]Module{}
	}
	if _, ok := c.Modules[DefaultModule]; !ok {
		c.Modules[DefaultModule] = Module{}
	}
	for name, m := range c.Modules {
		m.defaults()
		c.Modules[name] = m
	}
	for i := range c.Targets {
		c.Targets[i].defaults()
	}
	if c.Kubernetes != nil {
		c.Kubernetes.defaults()
	}
	c.Probe.defaults()
	c.Drift.defaults()
	c.ARI.defaults()
}

func (c *Config) validate() error {
	for i := range c.Files {
		if err := c.Files[i].validate(fmt.Sprintf("files[%d]", i)); err != nil {
			return err
		}
		for j := range i {
			if slices.Equal(c.Files[i].Paths, c.Files[j].Paths) {
				return fieldError(fmt.Sprintf("files[%d].paths", i), "same globs as files[%d]", j)
			}
		}
	}
	if c.Certbot != nil {
		if err := c.Certbot.validate("certbot"); err != nil {
			return err
		}
	}
	for i := range c.Lego {
		p := listPath("lego", i, len(c.Lego))
		if err := c.Lego[i].validate(p); err != nil {
			return err
		}
		for j := range i {
			if c.Lego[j].Path == c.Lego[i].Path {
				return fieldError(p+".path", "same path as %s", listPath("lego", j, len(c.Lego)))
			}
		}
	}
	for i := range c.Caddy {
		p := listPath("caddy", i, len(c.Caddy))
		if err := c.Caddy[i].validate(p, c.Modules); err != nil {
			return err
		}
		for j := range i {
			if c.Caddy[j].StorageDir == c.Caddy[i].StorageDir {
				return fieldError(p+".storage_dir", "same storage_dir as %s", listPath("caddy", j, len(c.Caddy)))
			}
		}
	}
	for name, m := range c.Modules {
		if err := m.validate(fmt.Sprintf("modules.%s", name)); err != nil {
			return err
		}
	}
	for i := range c.Targets {
		if err := c.Targets[i].validate(fmt.Sprintf("targets[%d]", i), c.Modules, c.Targets[:i]); err != nil {
			return err
		}
	}
	if c.Kubernetes != nil {
		if err := c.Kubernetes.validate("kubernetes"); err != nil {
			return err
		}
		if in := c.Kubernetes.Ingresses; in != nil {
			if err := in.validate("kubernetes.ingresses", c.Modules); err != nil {
				return err
			}
		}
		if gw := c.Kubernetes.Gateways; gw != nil {
			if err := gw.validate("kubernetes.gateways", c.Modules); err != nil {
				return err
			}
		}
	}
	if err := c.Probe.validate("probe"); err != nil {
		return err
	}
	if err := c.Drift.validate("drift"); err != nil {
		return err
	}
	if err := c.ARI.validate("ari"); err != nil {
		return err
	}
	return c.checkLabelNames()
}

// checkLabelNames bounds the distinct owner label names across every entry: each one is a
// label of every cert_info series.
func (c *Config) checkLabelNames() error {
	seen := map[string]bool{}
	for i := range c.Files {
		if err := c.Files[i].Labels.countNames(fmt.Sprintf("files[%d].labels", i), seen); err != nil {
			return err
		}
	}
	for i := range c.Targets {
		if err := c.Targets[i].Labels.countNames(fmt.Sprintf("targets[%d].labels", i), seen); err != nil {
			return err
		}
	}
	for i := range c.Lego {
		if err := c.Lego[i].Labels.countNames(listPath("lego", i, len(c.Lego))+".labels", seen); err != nil {
			return err
		}
	}
	for i := range c.Caddy {
		if err := c.Caddy[i].Labels.countNames(listPath("caddy", i, len(c.Caddy))+".labels", seen); err != nil {
			return err
		}
	}
	if c.Kubernetes != nil {
		if err := c.Kubernetes.ownerLabels().countNames("kubernetes", seen); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		if err := c.Modules[name].Labels.countNames("modules."+name+".labels", seen); err != nil {
			return err
		}
	}
	return nil
}

// Redacted returns the config as YAML for the /config page. Secrets are redacted by their
// types (prometheus/common's Secret, URL), wherever they are.
func (c *Config) Redacted() ([]byte, error) { return yaml.Marshal(c) }

// fieldError names the offending field path, e.g. "files[1].paths: must not be empty".
func fieldError(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
}
