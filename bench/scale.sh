#!/usr/bin/env bash
# Whole-process scale benchmark of local certificate files: for each size, the time from start
# until every leaf is on /metrics (polled all along, as Prometheus would scrape it), the CPU
# and peak RSS that took, then the cost of a /metrics scrape once loaded.
#
#   bench/scale.sh ./cert_expiry_exporter [SIZE...]      (default sizes: 1000 10000 100000)
#
# A size is gen-certs.go's -n (/work/shared/bench): N leaves, every 10th file a fullchain, so
# 10000 is 11,000 certificates, the peers' "11,000 certs". RUNS (default 3) runs per size;
# the last line per size is the median. Results go to stdout; everything is removed at exit.
set -euo pipefail
bin=$(realpath "${1:?usage: $0 BINARY [SIZE...]}")
shift
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
runs=${RUNS:-3}
port=${PORT:-19116}
here=$(dirname "$0")
. "$here/lib.sh"
work=$(mktemp -d)
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port/metrics"

leaves() { prom_scrape "$url" | grep -c '^cert_not_after_timestamp_seconds{.*index="0"' || true; }

printf '%-8s %-4s %10s %8s %9s | %9s %9s %9s %9s %8s\n' \
	size run loaded_ms cpu_s peak_mib scrape_ms prom_ms scrape_mib series rss_mib
for n in "${sizes[@]}"; do
	rm -rf "$work/certs"
	go run /work/shared/bench/gen-certs.go -n "$n" -out "$work/certs"
	printf 'files:\n  - paths: ["%s/certs/**/*.pem"]\n' "$work" >"$work/config.yml"
	: >"$work/results"
	for run in $(seq "$runs"); do
		sync
		start=$(now_ms)
		"$bin" --config.file="$work/config.yml" --web.listen-address="127.0.0.1:$port" >"$work/log" 2>&1 &
		pid=$!
		until [ "$(leaves)" -ge "$n" ]; do
			kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
			sleep 0.05
		done
		loaded=$(($(now_ms) - start))
		cpu=$(cpu_s "$pid")
		peak=$(hwm_mib "$pid")
		# Scrape cost once loaded: plain text (as the peers were measured) and as Prometheus asks.
		plain=() prom=()
		for _ in 1 2 3 4 5; do
			s=$(now_ms)
			curl -sf -o "$work/body" "$url"
			plain+=($(($(now_ms) - s)))
			s=$(now_ms)
			prom_scrape "$url" >/dev/null
			prom+=($(($(now_ms) - s)))
		done
		mib=$(awk -v b="$(stat -c %s "$work/body")" 'BEGIN {printf "%.1f", b / 1048576}')
		series=$(grep -vc '^#' "$work/body")
		rss=$(rss_mib "$pid")
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		pid=
		line=$(printf '%s %s %s %s %s %s %s %s %s' "$loaded" "$cpu" "$peak" \
			"$(printf '%s\n' "${plain[@]}" | median)" "$(printf '%s\n' "${prom[@]}" | median)" "$mib" "$series" "$rss")
		echo "$line" >>"$work/results"
		read -r a b c d e f g h <<<"$line"
		printf '%-8s %-4s %10s %8s %9s | %9s %9s %9s %9s %8s\n' "$n" "$run" "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h"
	done
	meds=()
	for col in 1 2 3 4 5 6 7 8; do meds+=("$(awk -v c=$col '{print $c}' "$work/results" | median)"); done
	printf '%-8s %-4s %10s %8s %9s | %9s %9s %9s %9s %8s\n' "$n" median "${meds[@]}"
done
