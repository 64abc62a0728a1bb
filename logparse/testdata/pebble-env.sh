# Sourced by capture-caddy.sh and capture-lego.sh: starts Pebble and pebble-challtestsrv
# (v2.10.1, go install) on loopback, plus a static HTTPS file server that serves Pebble's
# directory under /staging/dir, so that a client configured with a "staging" directory URL
# talks to Pebble. Sets: tmp (scratch dir, removed on exit), pebble_dir, minica, ca, staging_ca.
# Every name resolves to 127.0.0.1 through challtestsrv's DNS; its management API
# (cts_api PATH JSON) changes answers per scenario.
pebble_dir=$(go env GOMODCACHE)/github.com/letsencrypt/pebble/v2@v2.10.1
minica=$pebble_dir/test/certs/pebble.minica.pem
ca=https://127.0.0.1:14000/dir
staging_ca=https://127.0.0.1:14001/staging/dir
tmp=$(mktemp -d)
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for CMD...: poll a condition for up to 30 s.
wait_for() {
  i=0
  until "$@" >/dev/null 2>&1; do
    i=$((i+1)); [ $i -lt 300 ] || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 0.1
  done
}

cts_api() { curl -sf -d "$2" "http://127.0.0.1:8055/$1" >/dev/null; }

# Retry-After off: Pebble sends it at random as seconds or as an HTTP date, and older ACME
# clients reject the date (Caddy 2.6.2: "response had invalid Retry-After header").
# caddy-2.6.2/issue-bad-retry-after.log is the issue scenario of capture-caddy.sh run with
# PEBBLE_RETRY_AFTER=1 (at random: it may take a few runs to hit the date form).
if [ "${PEBBLE_RETRY_AFTER:-0}" = 1 ]; then ra=; else ra='/"authz": 3,/s/3/0/; /"order": 5/s/5/0/;'; fi
for port in 14000 14001 15000 8053 8055 5002 5003; do
  # curl exits 7 when the connection is refused: nothing listens there.
  rc=0; curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" || rc=$?
  [ $rc -eq 7 ] || { echo "127.0.0.1:$port is taken (another capture running?)" >&2; exit 1; }
done
sed -e 's/0.0.0.0:/127.0.0.1:/' -e "s#test/certs#$pebble_dir/test/certs#" -e "$ra" \
  "$pebble_dir/test/config/pebble-config.json" >"$tmp/pebble.json"
pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dnsserver 127.0.0.1:8053 \
  -management 127.0.0.1:8055 -http01 "" -https01 "" -tlsalpn01 "" -doh "" >"$tmp/challtestsrv.out" 2>&1 &
pids="$pids $!"
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
  pebble -config "$tmp/pebble.json" -dnsserver 127.0.0.1:8053 >"$tmp/pebble.out" 2>&1 &
pids="$pids $!"
wait_for curl -sf --cacert "$minica" "$ca" || { cat "$tmp/pebble.out" >&2; exit 1; }
wait_for curl -sf http://127.0.0.1:8055/clear-request-history -d '{"host":"x","type":"http"}'

mkdir -p "$tmp/staging-root/staging"
curl -sf --cacert "$minica" "$ca" >"$tmp/staging-root/staging/dir"
python3 - "$tmp/staging-root" "$pebble_dir/test/certs/localhost" >"$tmp/staging.out" 2>&1 <<'PY' &
import functools, http.server, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2] + "/cert.pem", sys.argv[2] + "/key.pem")
class H(http.server.SimpleHTTPRequestHandler):
    extensions_map = {"": "application/json"}  # ACME clients insist on a JSON directory
h = functools.partial(H, directory=sys.argv[1])
s = http.server.ThreadingHTTPServer(("127.0.0.1", 14001), h)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
pids="$pids $!"
wait_for curl -sf --cacert "$minica" "$staging_ca"
