#!/bin/sh
# Captures real certbot logs against Pebble on loopback, for logparse's table tests.
# Needs: certbot (Debian package), pebble + pebble-challtestsrv v2.10.1 in PATH (go install).
# Usage: capture.sh OUTDIR   (writes OUTDIR/<scenario>.log; keeps nothing secret: logs hold no keys)
set -eu
out=$(realpath "${1:?usage: capture.sh OUTDIR}")
pebble_dir=$(go env GOMODCACHE)/github.com/letsencrypt/pebble/v2@v2.10.1
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

# Pebble on loopback only; every name resolves to 127.0.0.1 through challtestsrv's DNS.
sed -e 's/0.0.0.0:/127.0.0.1:/' -e "s#test/certs#$pebble_dir/test/certs#" \
  "$pebble_dir/test/config/pebble-config.json" >"$tmp/pebble.json"
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dnsserver 127.0.0.1:8053 \
  -management 127.0.0.1:8055 -http01 "" -https01 "" -tlsalpn01 "" -doh "" >"$tmp/challtestsrv.out" 2>&1 &
cts=$!; pids="$pids $cts"
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
  pebble -config "$tmp/pebble.json" -dnsserver 127.0.0.1:8053 >"$tmp/pebble.out" 2>&1 &
pids="$pids $!"
i=0; until curl -sf --cacert "$pebble_dir/test/certs/pebble.minica.pem" https://127.0.0.1:14000/dir >/dev/null; do
  i=$((i+1)); [ $i -lt 100 ] || { echo "pebble did not start" >&2; cat "$tmp/pebble.out" >&2; exit 1; }; sleep 0.1
done
export REQUESTS_CA_BUNDLE="$pebble_dir/test/certs/pebble.minica.pem"

# cb SCENARIO ARGS...: one certbot invocation whose log (its own logs dir) becomes OUTDIR/SCENARIO.log
cb() {
  name=$1; shift
  mkdir -p "$tmp/logs-$name"
  certbot --config-dir "$tmp/conf" --work-dir "$tmp/work" --logs-dir "$tmp/logs-$name" \
    --server https://127.0.0.1:14000/dir --non-interactive --agree-tos \
    --register-unsafely-without-email --no-random-sleep-on-renew "$@" >"$tmp/$name.out" 2>&1 || echo "$name: certbot exit $?"
  cp "$tmp/logs-$name/letsencrypt.log" "$out/$name.log"
}
cb issue certonly --standalone --http-01-address 127.0.0.1 --http-01-port 5002 -d a.example.test -d www.a.example.test
cb renew-success renew --force-renewal
# Pebble's certificates are short-lived; make the lineage not due yet.
sed -i '1i renew_before_expiry = 1 day' "$tmp/conf/renewal/a.example.test.conf"
cb renew-not-due renew
cb renew-dry-run renew --dry-run
# Pebble validates on 5002; certbot listens on 5003: the CA cannot connect.
cb renew-connection renew --force-renewal --http-01-port 5003
cb renew-deploy-hook-fails renew --force-renewal --deploy-hook 'echo reloading; echo broken >&2; exit 1'
cb renew-pre-post-hook-fail renew --force-renewal --pre-hook 'sh -c "exit 3"' --post-hook false
# Without DNS the CA cannot resolve the name.
kill "$cts"; wait "$cts" 2>/dev/null || true
cb renew-dns renew --force-renewal
# A broken renewal conf next to the good one.
printf 'this is = [not a\n[renewalparams\n' >"$tmp/conf/renewal/broken.example.test.conf"
cb renew-parsefail renew
rm "$tmp/conf/renewal/broken.example.test.conf"
# Another certbot holds the lock (certbot uses fcntl.lockf on <config_dir>/.certbot.lock).
python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"a"); fcntl.lockf(f,fcntl.LOCK_EX); open(sys.argv[2],"w").close(); time.sleep(30)' \
  "$tmp/conf/.certbot.lock" "$tmp/locked" &
lk=$!; pids="$pids $lk"
i=0; until [ -e "$tmp/locked" ]; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done
cb renew-lock renew
kill "$lk"
cp "$tmp/conf/renewal/a.example.test.conf" "$out/a.example.test.conf"
