#!/bin/sh
# Captures real Caddy logs (zap JSON on stderr, as `caddy run` writes them under systemd)
# against Pebble on loopback, for logparse's Caddy table tests, and the storage layout Caddy
# leaves (file names, and the <name>.json metadata; no certificate or key).
# Caddy runs with only the TLS app ("automate" loader): no listener but the HTTP-01 solver on
# 127.0.0.1:5002, admin endpoint off.
# Needs: caddy (Debian package, or a newer one built elsewhere), pebble + pebble-challtestsrv
# v2.10.1 (go install), curl, python3.
# Usage: capture-caddy.sh OUTDIR [CADDY]   e.g. capture-caddy.sh testdata/caddy-2.6.2 /usr/bin/caddy
set -eu
out=$(realpath "${1:?usage: capture-caddy.sh OUTDIR [CADDY]}")
caddy=${2:-caddy}
mkdir -p "$out"
. "$(dirname "$0")/pebble-env.sh"
data=$tmp/caddy-data
# Caddy autosaves its config under XDG_CONFIG_HOME; keep that in the scratch dir too.
export XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/share"

# config CA PORT RATIO NAMES...: a config managing NAMES with CA, solving HTTP-01 on PORT;
# RATIO is the renewal window (0 = Caddy's default, 1/3 of the lifetime; 1 = renew at the
# next maintenance tick, every 3 s here instead of Caddy's 10 min).
config() {
  c=$1 port=$2 ratio=$3; shift 3
  names=$(printf '"%s",' "$@"); names=${names%,}
  cat <<JSON
{"admin": {"disabled": true},
 "storage": {"module": "file_system", "root": "$data"},
 "logging": {"logs": {"default": {"writer": {"output": "stderr"}, "encoder": {"format": "json"}, "level": "INFO"}}},
 "apps": {"tls": {
   "certificates": {"automate": [$names]},
   "automation": {"renew_interval": "3s", "policies": [{"subjects": [$names], "renewal_window_ratio": $ratio,
     "issuers": [{"module": "acme", "ca": "$c", "email": "admin@example.test",
       "trusted_roots_pem_files": ["$minica"],
       "challenges": {"bind_host": "127.0.0.1", "http": {"alternate_port": $port}, "tls-alpn": {"disabled": true}}}]}]}}}}
JSON
}

# cd_run SCENARIO UNTIL COUNT ARGS...: run Caddy with config ARGS until its log holds COUNT
# lines matching UNTIL (at most 150 s), then stop it; the log becomes OUTDIR/SCENARIO.log.
cd_run() {
  name=$1 until=$2 count=$3; shift 3
  config "$@" >"$tmp/$name.json"
  : >"$out/$name.log" # before the background job opens it: the loop below reads it at once
  "$caddy" run --config "$tmp/$name.json" 2>"$out/$name.log" >/dev/null &
  pid=$!; pids="$pids $pid"
  i=0
  while [ "$(grep -c -- "$until" "$out/$name.log")" -lt "$count" ]; do
    i=$((i+1)); [ $i -lt 1500 ] || { echo "$name: no '$until' x$count" >&2; break; }
    kill -0 "$pid" 2>/dev/null || { echo "$name: caddy exited" >&2; break; }
    sleep 0.1
  done
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
a="a.example.test www.a.example.test"

cd_run issue 'certificate obtained successfully' 2 "$ca" 5002 0 $a
cd_run renew 'certificate renewed successfully' 2 "$ca" 5002 1 $a
# Caddy starts, finds both certificates fresh, and keeps them (nothing logged per name).
cd_run not-due 'started background certificate maintenance' 1 "$ca" 5002 0 $a
# Pebble validates on 5002; Caddy listens on 5003: the CA cannot connect. Caddy retries
# after 1 minute; stop after the second failed attempt.
cd_run renew-connection '"attempt":2' 1 "$ca" 5003 1 $a
# The name resolves to an address where nothing listens.
cts_api add-a '{"host":"a.example.test.","addresses":["127.0.0.2"]}'
cd_run renew-dns-wrong-address 'will retry' 1 "$ca" 5002 1 a.example.test
cts_api clear-a '{"host":"a.example.test."}'
# The name has no A record at all.
cts_api set-default-ipv4 '{"ip":""}'
cd_run renew-dns-no-address 'will retry' 1 "$ca" 5002 1 a.example.test
cts_api set-default-ipv4 '{"ip":"127.0.0.1"}'
# The name's DNS server fails.
cts_api set-servfail '{"host":"www.a.example.test."}'
cd_run renew-dns-servfail 'will retry' 1 "$ca" 5002 1 www.a.example.test
cts_api clear-servfail '{"host":"www.a.example.test."}'
# Pebble refuses names on its block list (as a CA's policy or a CAA record would).
cd_run issue-rejected 'will retry' 1 "$ca" 5002 0 blocked-domain.example
# The CA cannot be reached at all.
cd_run issue-ca-down 'will retry' 1 https://127.0.0.1:14009/dir 5002 0 b.example.test
# Another Caddy (sharing the storage) holds the issuance lock: this one waits on it, silently.
mkdir -p "$data/locks"
now=$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z)
printf '{"created":"%s","updated":"%s"}' "$now" "$now" >"$data/locks/issue_cert_c.example.test.lock"
cd_run issue-lock-held '"acquiring lock"' 1 "$ca" 5002 0 c.example.test
# A staging directory: a second issuer directory beside the production one.
cd_run issue-staging 'certificate obtained successfully' 1 "$staging_ca" 5002 0 s.example.test

# The storage layout (file names) and the metadata Caddy writes, for the storage tests.
(cd "$data" && find . -type f ! -path './locks/*' | LC_ALL=C sort) >"$out/storage-files.txt"
find "$data/certificates" -name '*.json' | while read -r f; do
  cp "$f" "$out/$(basename "$(dirname "$(dirname "$f")")")--$(basename "$f")"
done
