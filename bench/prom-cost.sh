#!/usr/bin/env bash
# What a real Prometheus pays for the exporter's series: for each size, the exporter serves a
# generated tree of certificate files (as bench/scale.sh), a Prometheus (the Debian package)
# scrapes it every 5 s and nothing else; after SCRAPES scrapes (default 12, one minute), print
# its head series, its RSS, and the series per metric family. An empty tree first gives the
# baseline (the exporter's own families and Prometheus' fixed cost). FAMILIES (default 12):
# how many of the largest families to list.
#
#   bench/prom-cost.sh ./cert_expiry_exporter [SIZE...]     (default sizes: 0 10000)
#
# Needs prometheus on PATH. Results go to stdout; everything is removed at exit.
set -euo pipefail
bin=$(realpath "${1:?usage: $0 BINARY [SIZE...]}")
shift
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(0 10000)
scrapes=${SCRAPES:-12}
port=${PORT:-19118}
pport=${PROM_PORT:-19119}
here=$(dirname "$0")
. "$here/lib.sh"
work=$(mktemp -d)
pid= ppid_=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; [ -z "$ppid_" ] || kill "$ppid_" 2>/dev/null; rm -rf "$work"' EXIT
api="http://127.0.0.1:$pport/api/v1/query"

# query EXPR: the first value of an instant query, or 0.
query() { curl -sf --get --data-urlencode "query=$1" "$api" | sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p' | head -1; }

printf '%-8s %12s %12s %10s\n' size head_series exporter_series prom_rss_mib
for n in "${sizes[@]}"; do
	rm -rf "$work/certs" "$work/tsdb"
	mkdir -p "$work/certs"
	[ "$n" -eq 0 ] || go run /work/shared/bench/gen-certs.go -n "$n" -out "$work/certs"
	printf 'files:\n  - paths: ["%s/certs/**/*.pem"]\n' "$work" >"$work/config.yml"
	"$bin" --config.file="$work/config.yml" --web.listen-address="127.0.0.1:$port" >"$work/log" 2>&1 &
	pid=$!
	wait_http "http://127.0.0.1:$port/metrics"
	until [ "$(curl -sf "http://127.0.0.1:$port/metrics" | grep -c '^cert_not_after_timestamp_seconds{.*index="0"' || true)" -ge "$n" ]; do
		kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
		sleep 0.1
	done
	cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 5s, scrape_timeout: 5s}
scrape_configs:
  - job_name: cee
    static_configs: [{targets: ["127.0.0.1:$port"]}]
EOF
	prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
		--web.listen-address="127.0.0.1:$pport" >"$work/prom.log" 2>&1 &
	ppid_=$!
	wait_http "http://127.0.0.1:$pport/-/ready"
	until [ "$(query "count_over_time(up{job=\"cee\"}[10m])")" -ge "$scrapes" ] 2>/dev/null; do
		kill -0 "$ppid_" 2>/dev/null || { cat "$work/prom.log" >&2; exit 1; }
		sleep 1
	done
	head=$(curl -sf "http://127.0.0.1:$pport/metrics" | awk '/^prometheus_tsdb_head_series /{print $2}')
	printf '%-8s %12s %12s %10s\n' "$n" "$head" "$(query 'scrape_samples_scraped{job="cee"}')" "$(rss_mib "$ppid_")"
	curl -sf --get --data-urlencode 'query=sort_desc(count by (__name__) ({job="cee"}))' "$api" |
		grep -o '"__name__":"[^"]*"},"value":\[[^,]*,"[0-9]*"' |
		sed 's/"__name__":"\([^"]*\)"},"value":\[[^,]*,"\([0-9]*\)"/    \2\t\1/' | head -"${FAMILIES:-12}"
	kill "$ppid_" "$pid"
	wait "$ppid_" "$pid" 2>/dev/null || true
	ppid_= pid=
done
