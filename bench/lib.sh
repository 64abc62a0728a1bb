# Shared helpers of the whole-process benchmarks (sourced, not run).

now_ms() { date +%s%3N; }

# cpu_s PID: user + system CPU seconds the process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# hwm_mib PID: peak resident set size (VmHWM) in MiB.
hwm_mib() { awk '/^VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }

# rss_mib PID: current resident set size in MiB.
rss_mib() { awk '/^VmRSS/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }

# prom_scrape URL: GET as Prometheus 3 does (content negotiation preferring OpenMetrics, gzip).
prom_scrape() {
	curl -sf --compressed \
		-H 'Accept: application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2' \
		"$1"
}

# median: median of the numbers on stdin, one per line.
median() { sort -n | awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

# wait_http URL: wait until URL answers (10 s at most).
wait_http() {
	local deadline=$(($(now_ms) + 10000))
	until curl -sf -o /dev/null "$1"; do
		[ "$(now_ms)" -lt "$deadline" ] || { echo "no answer from $1" >&2; return 1; }
		sleep 0.02
	done
}
