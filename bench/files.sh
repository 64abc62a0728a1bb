#!/usr/bin/env bash
# Whole-process benchmark of the local files source.
#
#   bench/files.sh ./cert_expiry_exporter [N]
#
# Writes N certificates with /work/shared/bench/gen-certs.go (every 10th a fullchain), starts
# the exporter on them, and reports: time until every certificate is on /metrics, peak RSS,
# scrape time and size, and the time for one changed file to show up. Polling /metrics while
# the exporter loads is part of the measurement, as for the peers' figures.
set -euo pipefail
bin=${1:?usage: $0 BINARY [N]}
n=${2:-10000}
port=${PORT:-19115}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

go run /work/shared/bench/gen-certs.go -n "$n" -out "$work/certs"
cat >"$work/config.yml" <<YAML
files:
  - paths: ["$work/certs/**/*.pem"]
YAML

now_ms() { date +%s%3N; }
count() { curl -sf "http://127.0.0.1:$port/metrics" | grep -c '^cert_not_after_timestamp_seconds{.*index="0"' || true; }

start=$(now_ms)
"$bin" --config.file="$work/config.yml" --web.listen-address="127.0.0.1:$port" >"$work/log" 2>&1 &
pid=$!
peak=0
until [ "$(count)" -ge "$n" ]; do
	rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	peak=$((rss > peak ? rss : peak))
	kill -0 "$pid" || { cat "$work/log"; exit 1; }
	sleep 0.05
done
loaded=$(now_ms)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
peak=$((rss > peak ? rss : peak))

s=$(now_ms)
bytes=$(curl -sf "http://127.0.0.1:$port/metrics" | wc -c)
scrape=$(($(now_ms) - s))

# One file changes (gets the content of another): time until the path shows the new serial.
dst="$work/certs/d0000/000001-cert.pem"
serial=$(printf '%x' 1002) # gen-certs.go numbers serials 1000 + i
s=$(now_ms)
cp "$work/certs/d0000/000002-cert.pem" "$dst"
until curl -sf "http://127.0.0.1:$port/metrics" | grep -q "^cert_not_after_timestamp_seconds{.*path=\"$dst\".*serial=\"$serial\""; do sleep 0.02; done
change=$(($(now_ms) - s))

echo "certificates:          $n"
echo "all on /metrics after: $((loaded - start)) ms"
echo "peak RSS:              $((peak / 1024)) MiB"
echo "scrape:                $scrape ms, $((bytes / 1024 / 1024)) MiB of text"
echo "one changed file seen: $change ms"
