#!/bin/sh
# Installs what the end-to-end suite (go test -tags e2e ./e2e/...) runs: Prometheus,
# Alertmanager, nginx with its mail module, openssl and certbot from Debian, and Pebble (the
# ACME test server) with pebble-challtestsrv from source, the JDK's keytool (Java keystores the
# certs tests read), and the Kubernetes control plane
# (etcd, kube-apiserver: e2e/install-kube.sh). Idempotent: installed tools are kept.
set -eu

PEBBLE_VERSION=v2.10.1

need_apt=
for tool in prometheus prometheus-alertmanager nginx openssl certbot lego caddy keytool; do
	command -v "$tool" >/dev/null 2>&1 || need_apt=1
done
[ -e /usr/lib/nginx/modules/ngx_mail_module.so ] || need_apt=1
if [ -n "$need_apt" ]; then
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
		prometheus prometheus-alertmanager nginx libnginx-mod-mail openssl certbot lego caddy \
		default-jre-headless
	# The packages start system services on default ports; the suite runs its own instances.
	for svc in prometheus prometheus-alertmanager prometheus-node-exporter nginx caddy; do
		$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
	done
fi

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin=$(go env GOPATH | cut -d: -f1)/bin
for tool in pebble pebble-challtestsrv; do
	if [ ! -x "$gobin/$tool" ] || ! go version -m "$gobin/$tool" | grep -q "pebble/v2.*$PEBBLE_VERSION"; then
		go install "github.com/letsencrypt/pebble/v2/cmd/$tool@$PEBBLE_VERSION"
	fi
done

sh "$(dirname "$0")/install-kube.sh"
