#!/usr/bin/env bash
# Whole-process /probe benchmark: N sequential /probe requests (one keep-alive HTTP client, as
# a Prometheus scraping many targets would use) against a loopback Go TLS server running in
# its own process (bench/tlsserver). Reports the exporter's CPU per probe (utime + stime from
# /proc) and the request latency, to compare with the peers' "1000 sequential" figures.
#
#   bench/probe.sh ./cert_expiry_exporter [N]        (default N: 1000; RUNS, default 3)
set -euo pipefail
bin=$(realpath "${1:?usage: $0 BINARY [N]}")
n=${2:-1000}
runs=${RUNS:-3}
port=${PORT:-19117}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
work=$(mktemp -d)
pid= srv=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; [ -z "$srv" ] || kill "$srv" 2>/dev/null; rm -rf "$work"' EXIT

(cd "$here/.." && go build -o "$work/tlsserver" ./bench/tlsserver)
"$work/tlsserver" -dir "$work" >"$work/addr" &
srv=$!
until [ -s "$work/addr" ]; do kill -0 "$srv" && sleep 0.02; done
target=$(cat "$work/addr")
cat >"$work/config.yml" <<YAML
modules:
  tls:
    tls_config: {server_name: localhost, ca_file: $work/ca.pem}
YAML
url="http://127.0.0.1:$port/probe?target=$target&module=tls"
for _ in $(seq "$n"); do echo "url = \"$url\""; done >"$work/urls"

printf '%-4s %6s %12s %12s %12s %10s\n' run probes cpu_ms/probe median_ms p99_ms probes/s
for run in $(seq "$runs"); do
	"$bin" --config.file="$work/config.yml" --web.listen-address="127.0.0.1:$port" >"$work/log" 2>&1 &
	pid=$!
	wait_http "http://127.0.0.1:$port/-/healthy"
	curl -sf "$url" | grep -q '^probe_success 1' || { echo "warm-up probe failed:" >&2; curl -s "$url" >&2; exit 1; }
	cpu0=$(cpu_s "$pid")
	s=$(now_ms)
	curl -s -K "$work/urls" -w '%{stderr}%{time_total}\n' 2>"$work/times" >"$work/bodies"
	wall=$(($(now_ms) - s))
	cpu1=$(cpu_s "$pid")
	ok=$(grep -c '^probe_success 1' "$work/bodies" || true)
	[ "$ok" -eq "$n" ] || { echo "only $ok of $n probes succeeded" >&2; exit 1; }
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	printf '%-4s %6s %12s %12s %12s %10s\n' "$run" "$n" \
		"$(awk -v a="$cpu0" -v b="$cpu1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) * 1000 / n}')" \
		"$(awk '{print $1 * 1000}' "$work/times" | median)" \
		"$(awk '{print $1 * 1000}' "$work/times" | sort -n | awk -v n="$n" 'NR == int(n * 0.99) {print; exit}')" \
		"$(awk -v w="$wall" -v n="$n" 'BEGIN {printf "%.0f", n * 1000 / w}')"
done
