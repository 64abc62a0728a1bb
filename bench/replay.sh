#!/usr/bin/env bash
# Certbot log replay, whole process: `check` on a certbot host whose letsencrypt.log is SIZE
# MiB of real certbot 2.1.0 output (the captures in logparse/testdata, repeated), which
# replays the whole log once and exits. Prints CPU (user + system), wall time, peak RSS and
# MiB of log per CPU-second, one line per run, then the medians. With two binaries, the runs
# alternate (A B A B …) so both see the same load, and the last line is the CPU ratio B/A.
#
#   bench/replay.sh BINARY [BINARY_B]        (SIZE=1024 MiB, RUNS=5)
set -euo pipefail
a=$(realpath "${1:?usage: $0 BINARY [BINARY_B]}")
b=${2:+$(realpath "$2")}
size=${SIZE:-1024}
runs=${RUNS:-5}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat "$here"/../logparse/testdata/certbot-2.1.0/*.log >"$work/one.log"
one=$(stat -c %s "$work/one.log")
for _ in $(seq $((size * 1048576 / one))); do cat "$work/one.log"; done >"$work/letsencrypt.log"
mib=$(awk -v b="$(stat -c %s "$work/letsencrypt.log")" 'BEGIN {printf "%.1f", b / 1048576}')
mkdir -p "$work/etc/renewal" "$work/etc/live"
cat >"$work/config.yml" <<EOF
certbot:
  config_dir: $work/etc
  log_file: $work/letsencrypt.log
EOF

# run BINARY: one replay; prints "cpu_s wall_s rss_mib".
run() {
	/usr/bin/time -f '%U %S %e %M' -o "$work/time" "$1" check --config.file="$work/config.yml" >/dev/null 2>&1 || true
	tail -1 "$work/time" | awk '{printf "%.2f %.2f %d\n", $1 + $2, $3, $4 / 1024}'
}

printf '%s MiB of log\n%-2s %8s %8s %8s %12s\n' "$mib" "" cpu_s wall_s rss_mib MiB_per_cpu_s
: >"$work/a" && : >"$work/b"
for i in $(seq "$runs"); do
	for bin in a ${b:+b}; do
		path=$a && [ "$bin" = a ] || path=$b
		read -r cpu wall rss < <(run "$path")
		echo "$cpu $wall $rss" >>"$work/$bin"
		printf '%-2s %8s %8s %8s %12.0f\n' "$bin" "$cpu" "$wall" "$rss" "$(awk -v m="$mib" -v c="$cpu" 'BEGIN {print m / c}')"
	done
done
for bin in a ${b:+b}; do
	cpu=$(awk '{print $1}' "$work/$bin" | median)
	printf '%-2s median %8s CPU-s %8s s %8s MiB %12.0f MiB/CPU-s\n' "$bin" "$cpu" \
		"$(awk '{print $2}' "$work/$bin" | median)" "$(awk '{print $3}' "$work/$bin" | median)" \
		"$(awk -v m="$mib" -v c="$cpu" 'BEGIN {print m / c}')"
done
if [ -n "$b" ]; then
	awk -v a="$(awk '{print $1}' "$work/a" | median)" -v b="$(awk '{print $1}' "$work/b" | median)" \
		'BEGIN {printf "CPU ratio b/a: %.2f\n", b / a}'
fi
