// Package registry lists the sources the exporter runs: `serve` and `check` both take them
// from here. A new source is one more line.
package registry

import (
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/ari"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/caddy"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certbot"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/clientcert"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/kube"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/lego"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// Sources are every source, in the order their series are written.
var Sources = source.Registry{
	files.Factory,
	certbot.Factory,
	lego.Factory,
	caddy.Factory,
	kube.Factory,
	probe.Targets,
	kube.Ingresses,
	clientcert.Factory,
	ari.Factory,
}
