package config

import (
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Labels are a config entry's owner labels (team: web, env: prod): static labels put on the
// cert_info series of every certificate the entry finds and, through the shipped rules, on
// its alerts, so that Alertmanager routes a certificate to its owner. Any entry of a source
// that finds certificates may carry them (`labels:`).
type Labels map[string]string

// Bounds on owner labels: they multiply into every cert_info series and every alert.
const (
	maxLabels          = 8  // per entry
	maxLabelNames      = 16 // distinct names in the whole config
	maxLabelNameBytes  = 64
	maxLabelValueBytes = 128
)

// labelName is Prometheus' classic label name syntax, which every Prometheus version and
// Alertmanager route matcher accepts.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ReservedLabels are the label names the exporter's series (and Prometheus, on the alerts)
// set themselves; an owner label of one of these names would clash or be overwritten.
// collector's tests check that every label of a shared family is listed.
var ReservedLabels = []string{
	// certificate and chain series, cert_info
	"source", "domain", "issuer", "serial", "path", "index", "lineage", "target", "ip",
	"subject", "sans", "key_type", "signature_algorithm", "is_ca", "staging", "eku", "alias", "method",
	"reason", "policy",
	// probe, certbot, ARI, health series
	"module", "version", "cipher", "name", "hook", "result", "server", "authenticator",
	"explanation_url", "client", "log", "namespace", "secret", "configmap", "key",
	// Prometheus and Alertmanager
	"job", "instance", "alertname", "alertstate", "severity", "le", "quantile",
}

func (l Labels) validate(path string) error {
	if len(l) > maxLabels {
		return fieldError(path, "%d labels, at most %d", len(l), maxLabels)
	}
	for _, n := range slices.Sorted(maps.Keys(l)) {
		if err := checkLabelName(path+"."+n, n); err != nil {
			return err
		}
		v := l[n]
		switch {
		case v == "":
			return fieldError(path+"."+n, "empty value (an empty label is no label to Prometheus); remove it")
		case len(v) > maxLabelValueBytes:
			return fieldError(path+"."+n, "value longer than %d bytes", maxLabelValueBytes)
		}
	}
	return nil
}

// checkLabelName checks an owner label name (path names it): a static one or one lifted from a
// Kubernetes object.
func checkLabelName(path, n string) error {
	switch {
	case !labelName.MatchString(n):
		return fieldError(path, "invalid label name (want [a-zA-Z_][a-zA-Z0-9_]*)")
	case strings.HasPrefix(n, "__"):
		return fieldError(path, "label names starting with __ are reserved for Prometheus")
	case slices.Contains(ReservedLabels, n):
		return fieldError(path, "%q is a label the exporter or Prometheus sets; choose another name", n)
	case len(n) > maxLabelNameBytes:
		return fieldError(path, "label name longer than %d bytes", maxLabelNameBytes)
	}
	return nil
}

// countNames adds the names of l to seen, and errors naming path once the config uses more
// than maxLabelNames distinct names: each is a label of every cert_info series.
func (l Labels) countNames(path string, seen map[string]bool) error {
	for n := range l {
		seen[n] = true
	}
	if len(seen) > maxLabelNames {
		return fieldError(path, "the config uses more than %d distinct owner label names", maxLabelNames)
	}
	return nil
}
