#!/bin/sh
# Installs the Kubernetes control plane the Kubernetes source is tested against
# (internal/testkube): etcd from Debian, and kube-apiserver and kubectl built from the
# k8s.io/kubernetes module. Idempotent: binaries that already report KUBE_VERSION are kept,
# so only the first run pays for the build (about 15 CPU-minutes, 2.5 GB of memory and 9 GB
# of Go module and build caches).
set -eu

KUBE_VERSION=v1.37.2

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

if ! command -v etcd >/dev/null 2>&1; then
	$SUDO apt-get update
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends etcd-server
	# The package starts a system etcd on the default ports; tests run their own.
	$SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
fi

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin=$(go env GOPATH | cut -d: -f1)/bin
if "$gobin/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $KUBE_VERSION" &&
	"$gobin/kubectl" version --client 2>/dev/null | grep -qx "Client Version: $KUBE_VERSION"; then
	exit 0
fi

# `go install k8s.io/kubernetes/cmd/...` is refused: its go.mod replaces the k8s.io/* staging
# modules with ./staging, which the module zip lacks. Build a copy whose go.mod requires the
# published staging modules (v0.X.Y for v1.X.Y) instead. The copy lives outside any repo and
# is removed afterwards; the Go module and build caches keep a rebuild cheaper.
staging=v0.${KUBE_VERSION#v1.}
go mod download "k8s.io/kubernetes@$KUBE_VERSION"
src=$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION
work=$(mktemp -d "${TMPDIR:-/tmp}/kubernetes-build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
cp -R "$src" "$work/k8s"
chmod -R u+w "$work/k8s"
cd "$work/k8s"
rm -f go.work go.work.sum
args=
for m in $(sed -n 's/^[[:space:]]*\(k8s\.io\/[a-z0-9-]*\) => \.\/staging.*/\1/p' go.mod); do
	args="$args -dropreplace=$m"
	# Staging modules required only as the v0.0.0 placeholder get the published release.
	if grep -qE "^[[:space:]]+$m v0\.0\.0\$" go.mod; then
		args="$args -require=$m@$staging"
	fi
done
# shellcheck disable=SC2086 # one word per flag
go mod edit $args

minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags="$ldflags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
mkdir -p "$gobin"
# kubectl shares most packages with kube-apiserver: about 1 CPU-minute more.
GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" \
	go build -trimpath -ldflags "$ldflags" -o "$work/bin/" ./cmd/kube-apiserver ./cmd/kubectl
mv "$work/bin/kube-apiserver" "$work/bin/kubectl" "$gobin/"
"$gobin/kube-apiserver" --version
"$gobin/kubectl" version --client
