#!/bin/sh
# Captures real certbot logs for logparse's table tests: the certbot installed here (Debian's
# package, with python3-certbot-nginx) against Pebble and pebble-challtestsrv v2.10.1
# (go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1 and …/pebble-challtestsrv@v2.10.1)
# and nginx, all on loopback. Every authenticator certbot ships is used: standalone, webroot,
# nginx and manual (HTTP-01 and DNS-01 through --manual-auth-hook/--manual-cleanup-hook), and
# every failure Pebble and challtestsrv can cause, plus certbot's own (hooks, lock, broken confs).
#
# Usage: sh logparse/testdata/capture.sh [SCENARIO...]
#   Runs every scenario below, in order (later ones build on the lineages of earlier ones), and
#   writes logparse/testdata/certbot-<version>/SCENARIO.log for the scenarios named (all when
#   none is named), then rewrites their golden files (go test -run TestFoldRealLogs -update).
#   Idempotent: each run starts from empty directories; a written log replaces the old one.
#   issue.log and renew-*.log were captured on 2026-11-25 and are replayed by certbot's tests
#   at fixed clock times: name the other scenarios unless those times are moved too.
#   Needs: certbot, nginx, pebble, pebble-challtestsrv, curl, openssl, python3, ss; the ports in
#   use below free. Takes about two minutes (one scenario waits out Pebble's 15 s timeout).
#
# No certificate or key is written: the PEM blocks certbot logs (the CSR, the downloaded chain)
# are replaced by a marker, and the capture fails if a private key shows up in a log.
#
# Pebble cannot produce CAA refusals (it does not check CAA), rate limits (it has none),
# NXDOMAIN wording (it reports any failed lookup as "could not resolve URL") or Let's Encrypt's
# problem texts: logparse covers those with hand-built records (testdata/handbuilt/).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
version=$(certbot --version 2>&1 | sed -n 's/^certbot //p')
[ -n "$version" ] || { echo "capture.sh: certbot --version printed no version" >&2; exit 1; }
out=$here/certbot-$version
mkdir -p "$out"
wanted=" $* "
pebble_bin=$(command -v pebble || echo "$(go env GOPATH)/bin/pebble")
cts_bin=$(command -v pebble-challtestsrv || echo "$(go env GOPATH)/bin/pebble-challtestsrv")
for tool in "$pebble_bin" "$cts_bin" certbot nginx curl openssl python3 ss; do
  command -v "$tool" >/dev/null || { echo "capture.sh: $tool not found" >&2; exit 1; }
done

# Ports: the ACME server, its management API, the HTTP-01 port Pebble validates on, the DNS
# server and challtestsrv's management API. Not Pebble's defaults, so that a Pebble started by
# something else on this machine does not answer instead.
acme=14100 acme_mgmt=15100 http=5102 dns=8153 cts=8155
for p in $acme $acme_mgmt $http $dns $cts; do
  if ss -Htuln "sport = :$p" | grep -q .; then echo "capture.sh: port $p is in use" >&2; exit 1; fi
done

tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx's workers read the web roots below it
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for c in site blocker; do [ -f "$tmp/$c/nginx.pid" ] && nginx -c "$tmp/$c/nginx.conf" -s stop 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
certbot plugins --config-dir "$tmp/p" --work-dir "$tmp/p" --logs-dir "$tmp/p" 2>/dev/null | grep -q '^\* nginx' ||
  { echo "capture.sh: certbot's nginx plugin is missing (apt-get install python3-certbot-nginx)" >&2; exit 1; }

# wait_for FILE: until a background helper says it is ready.
wait_for() {
  i=0; until [ -e "$1" ]; do i=$((i+1)); [ $i -lt 200 ] || { echo "capture.sh: $1 did not appear" >&2; exit 1; }; sleep 0.1; done
}

# Pebble's HTTPS certificate is made here (a throwaway CA, valid two days), not taken from its source tree.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=capture-ca \
  -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$tmp/tls.key" -out "$tmp/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tmp/tls.ext"
openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 2 \
  -extfile "$tmp/tls.ext" -out "$tmp/tls.pem" 2>/dev/null
export REQUESTS_CA_BUNDLE="$tmp/ca.pem"
server=https://127.0.0.1:$acme/dir
# 90-day certificates: a fresh lineage is not due (certbot renews 30 days before expiry).
# blocked-domain.example is refused by policy (rejectedIdentifier).
cat >"$tmp/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$acme", "managementListenAddress": "127.0.0.1:$acme_mgmt",
  "certificate": "$tmp/tls.pem", "privateKey": "$tmp/tls.key", "httpPort": $http, "tlsPort": 0,
  "ocspResponderURL": "", "externalAccountBindingRequired": false,
  "domainBlocklist": ["blocked-domain.example"], "retryAfter": {"authz": 1, "order": 1},
  "keyAlgorithm": "ecdsa", "profiles": {"default": {"description": "90 days", "validityPeriod": 7776000}}}}
EOF

# start_pebble [NONCEREJECT]: validation stays real; no random sleeps, no authorization reuse
# (a renewal would skip its challenge), nonces rejected only when asked (default none).
start_pebble() {
  env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT="${1:-0}" PEBBLE_AUTHZREUSE=0 \
    "$pebble_bin" -config "$tmp/pebble.json" -dnsserver 127.0.0.1:$dns -strict=false >>"$tmp/pebble.out" 2>&1 &
  pebble_pid=$!; pids="$pids $pebble_pid"
  i=0; until curl -sf --cacert "$tmp/ca.pem" "$server" >/dev/null; do
    i=$((i+1)); [ $i -lt 100 ] || { echo "capture.sh: pebble did not start" >&2; cat "$tmp/pebble.out" >&2; exit 1; }; sleep 0.1
  done
}
stop_pebble() { kill "$pebble_pid"; wait "$pebble_pid" 2>/dev/null || true; }

# DNS: every name resolves to 127.0.0.1 (where certbot's standalone server listens) except the
# names served by nginx (127.0.0.2) and old.example.test, "another server" (127.0.0.3).
cts_api() { curl -sf -d "$2" "http://127.0.0.1:$cts/$1" >/dev/null; }
start_dns() {
  "$cts_bin" -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dnsserver 127.0.0.1:$dns -management 127.0.0.1:$cts \
    -http01 "" -https01 "" -tlsalpn01 "" -doh "" >>"$tmp/challtestsrv.out" 2>&1 &
  cts_pid=$!; pids="$pids $cts_pid"
  i=0; until cts_api set-default-ipv4 '{"ip":"127.0.0.1"}'; do
    i=$((i+1)); [ $i -lt 100 ] || { echo "capture.sh: challtestsrv did not start" >&2; exit 1; }; sleep 0.1
  done
  for h in w.example.test m.example.test n.example.test; do set_a $h 127.0.0.2; done
  set_a old.example.test 127.0.0.3
}
stop_dns() { kill "$cts_pid"; wait "$cts_pid" 2>/dev/null || true; }
set_a() { cts_api clear-a "{\"host\":\"$1\"}"; cts_api add-a "{\"host\":\"$1\",\"addresses\":[\"$2\"]}"; }

# nginx "site": the web server of the webroot, nginx and manual authenticators, root $tmp/www,
# on 127.0.0.2; on 127.0.0.3 another server with another root. nginx "blocker": a web server
# holding certbot's standalone port on 127.0.0.1.
nginx_conf() { # NAME LISTEN ROOT [LISTEN ROOT]
  d=$tmp/$1; mkdir -p "$d"
  {
    echo "pid $d/nginx.pid; error_log $d/error.log; worker_processes 1;"
    [ "$(id -u)" = 0 ] && echo "user root;"
    echo "events { worker_connections 64; }"
    echo "http { access_log $d/access.log;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $d/$t;"; done
    echo "  server { listen $2; server_name w.example.test m.example.test n.example.test; root $3; }"
    [ $# -lt 5 ] || echo "  server { listen $4; root $5; }"
    echo "}"
  } >"$d/nginx.conf"
}
for d in www moved elsewhere; do mkdir -p "$tmp/$d"; echo $d >"$tmp/$d/marker"; done
nginx_conf site 127.0.0.2:$http "$tmp/www" 127.0.0.3:$http "$tmp/elsewhere"
nginx_conf blocker 127.0.0.1:$http "$tmp/elsewhere"
# web NAME start|stop|reload ADDRESS MARKER: acts on an nginx, then waits until ADDRESS serves
# the marker of the root wanted (nginx applies signals asynchronously); "" waits until nothing answers.
web() {
  case $2 in start) nginx -c "$tmp/$1/nginx.conf" ;; *) nginx -c "$tmp/$1/nginx.conf" -s "$2" 2>/dev/null ;; esac
  i=0; until [ "$(curl -s "http://$3:$http/marker")" = "$4" ]; do
    i=$((i+1)); [ $i -lt 100 ] || { echo "capture.sh: nginx $1 $2: $3 does not serve \"$4\"" >&2; exit 1; }; sleep 0.1
  done
}
web site start 127.0.0.2 www

# cb SCENARIO EXIT CONFDIR ARGS...: one certbot run with its own logs directory, expected to
# exit with EXIT; its log becomes SCENARIO.log when SCENARIO is wanted ("-" keeps none).
# Renewals run as certbot's timer does (`certbot renew`): the CA, account and plugin come from
# the renewal conf. PATH is the system's: certbot logs it when it looks for a hook.
cb() {
  name=$1 want=$2 conf=$3; shift 3
  logs=$tmp/logs/$name; rm -rf "$logs"; mkdir -p "$logs"
  set +e
  env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin certbot --config-dir "$tmp/$conf" --work-dir "$tmp/work" --logs-dir "$logs" --non-interactive \
    --no-random-sleep-on-renew "$@" >"$logs/out" 2>&1
  rc=$?
  set -e
  if [ "$rc" != "$want" ]; then
    echo "capture.sh: $name: certbot exited $rc, want $want" >&2; cat "$logs/out" >&2; exit 1
  fi
  if [ "$name" != - ] && { [ "$wanted" = "  " ] || case $wanted in *" $name "*) true ;; *) false ;; esac; }; then
    redact "$logs/letsencrypt.log" >"$out/$name.log"
    written="$written $name"
  fi
}
written=""
issue() { name=$1 want=$2 conf=$3; shift 3; cb "$name" "$want" "$conf" certonly --server "$server" --agree-tos --register-unsafely-without-email "$@"; }

# redact LOG: the log without PEM blocks; fails on anything that looks like a private key.
redact() {
  if grep -q 'PRIVATE KEY' "$1"; then echo "capture.sh: $1 holds a private key" >&2; exit 1; fi
  sed -e 's/-----BEGIN CERTIFICATE REQUEST-----[^-]*-----END CERTIFICATE REQUEST-----/(CSR removed by capture.sh)/g' "$1" |
    awk '/^-----BEGIN CERTIFICATE-----$/ { skip = 1; print "(certificate removed by capture.sh)"; next }
         skip && /^-----END CERTIFICATE-----$/ { skip = 0; next }
         !skip'
}
strip_hooks() { sed -i '/^\(pre_hook\|post_hook\|renew_hook\|deploy_hook\) = /d' "$tmp/$1/renewal/$2.conf"; }
standalone="--standalone --http-01-address 127.0.0.1 --http-01-port $http"

start_dns
start_pebble

# --- standalone: lineage a.example.test (+ www) in config dir s ---------------------------------
issue issue 0 s $standalone -d a.example.test -d www.a.example.test
cb renew-success 0 s renew --force-renewal
cb renew-not-due 0 s renew
cb renew-dry-run 0 s renew --dry-run --server "$server"
# certbot listens on another port than the one the CA connects to.
cb renew-connection 1 s renew --force-renewal --http-01-port $((http+1))
# Hooks given on the command line of a successful renewal are saved in the renewal conf, so
# the deploy hook fails again in the next run, and the pre and post hooks in the one after.
cb renew-deploy-hook-fails 0 s renew --force-renewal --deploy-hook 'echo reloading; echo broken >&2; exit 1'
cb renew-pre-post-hook-fail 0 s renew --force-renewal --pre-hook 'sh -c "exit 3"' --post-hook false
# The CA's DNS server is down: the CA cannot resolve the name.
stop_dns
cb renew-dns 1 s renew --force-renewal
start_dns
strip_hooks s a.example.test
# A broken renewal conf next to the good one (not due).
printf 'this is = [not a\n[renewalparams\n' >"$tmp/s/renewal/broken.example.test.conf"
cb renew-parsefail 1 s renew
rm "$tmp/s/renewal/broken.example.test.conf"
sed '/^authenticator = /d' "$tmp/s/renewal/a.example.test.conf" >"$tmp/s/renewal/noauth.example.test.conf"
cb standalone-conf-no-authenticator 1 s renew
rm "$tmp/s/renewal/noauth.example.test.conf"
# The renewal conf names an authenticator that is not installed.
cp "$tmp/s/renewal/a.example.test.conf" "$tmp/a.conf"
sed -i 's/^authenticator = .*/authenticator = apache/' "$tmp/s/renewal/a.example.test.conf"
cb standalone-conf-plugin-missing 1 s renew --force-renewal
cp "$tmp/a.conf" "$tmp/s/renewal/a.example.test.conf"
cb standalone-unknown-cert-name 1 s renew --cert-name nosuch.example.test
# Another certbot holds the lock (certbot uses fcntl.lockf on <config_dir>/.certbot.lock).
python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"a"); fcntl.lockf(f,fcntl.LOCK_EX); open(sys.argv[2],"w").close(); time.sleep(60)' \
  "$tmp/s/.certbot.lock" "$tmp/locked" &
lk=$!; pids="$pids $lk"
wait_for "$tmp/locked"
cb renew-lock 1 s renew
kill "$lk"
# A web server holds the standalone port.
web blocker start 127.0.0.1 elsewhere
cb standalone-port-in-use 1 s renew --force-renewal
# The pre hook meant to stop that web server fails (its pid file is not where the hook looks),
# so the port stays taken.
sed "s#pid $tmp/blocker/nginx.pid#pid $tmp/blocker/stale.pid#" "$tmp/blocker/nginx.conf" >"$tmp/blocker/stale.conf"
cb standalone-pre-hook-fails 1 s renew --force-renewal --pre-hook "nginx -c $tmp/blocker/stale.conf -s stop"
web blocker stop 127.0.0.1 ""
# The names resolve to an address where connections are never accepted (SYNs dropped once the
# listen queue is full): the CA times out.
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.5", int(sys.argv[1]))); s.listen(0)
c = socket.create_connection(("127.0.0.5", int(sys.argv[1])))  # fills the queue
open(sys.argv[2], "w").close(); time.sleep(120)' $http "$tmp/holding" &
hold=$!; pids="$pids $hold"
wait_for "$tmp/holding"
set_a a.example.test 127.0.0.5; set_a www.a.example.test 127.0.0.5
cb standalone-timeout 1 s renew --force-renewal
kill "$hold"
cts_api clear-a '{"host":"a.example.test"}'; cts_api clear-a '{"host":"www.a.example.test"}'
# DNS answers SERVFAIL for one of the names; then no A record at all.
cts_api set-servfail '{"host":"a.example.test."}'
cb standalone-dns-servfail 1 s renew --force-renewal
cts_api clear-servfail '{"host":"a.example.test."}'
cts_api set-default-ipv4 '{"ip":""}'
cb standalone-dns-no-record 1 s renew --force-renewal
cts_api set-default-ipv4 '{"ip":"127.0.0.1"}'
# A deploy hook from renewal-hooks/deploy/ fails.
mkdir -p "$tmp/s/renewal-hooks/deploy"
printf '#!/bin/sh\necho "reload failed" >&2\nexit 2\n' >"$tmp/s/renewal-hooks/deploy/50-reload"
chmod +x "$tmp/s/renewal-hooks/deploy/50-reload"
cb standalone-deploy-dir-hook-fails 0 s renew --force-renewal
rm "$tmp/s/renewal-hooks/deploy/50-reload"

# --- standalone, certonly of new certificates (config dir c) ------------------------------------
issue standalone-certonly-connection 1 c $standalone --http-01-port $((http+1)) -d b.example.test
issue standalone-certonly-deploy-hook-fails 0 c $standalone -d c.example.test --deploy-hook 'sh -c "exit 4"'
web blocker start 127.0.0.1 elsewhere
issue standalone-certonly-pre-hook-fails 1 c $standalone -d e.example.test --pre-hook "nginx -c $tmp/blocker/stale.conf -s stop"
web blocker stop 127.0.0.1 ""
issue standalone-certonly-rejected-identifier 1 c $standalone -d blocked-domain.example

# --- standalone, two lineages in one run, one fails (config dir two) ----------------------------
issue - 0 two $standalone -d p.example.test
issue - 0 two $standalone -d q.example.test
cts_api set-servfail '{"host":"p.example.test."}'
cb standalone-two-lineages-one-fails 1 two renew --force-renewal
cts_api clear-servfail '{"host":"p.example.test."}'

# --- webroot: lineage w.example.test served by nginx (config dir w) -----------------------------
issue webroot-issue 0 w --webroot -w "$tmp/www" -d w.example.test
cb webroot-renew 0 w renew --force-renewal
# The site's document root moved; certbot still writes to the old one: 404.
sed -i "s#root $tmp/www;#root $tmp/moved;#" "$tmp/site/nginx.conf"; web site reload 127.0.0.2 moved
cb webroot-404 1 w renew --force-renewal
sed -i "s#root $tmp/moved;#root $tmp/www;#" "$tmp/site/nginx.conf"; web site reload 127.0.0.2 www
# The name points at another server (a stale A record): 404 there.
set_a w.example.test 127.0.0.3
cb webroot-wrong-a-record 1 w renew --force-renewal
set_a w.example.test 127.0.0.2
# The web server is down.
web site stop 127.0.0.2 ""
cb webroot-server-down 1 w renew --force-renewal
web site start 127.0.0.2 www
# The webroot cannot be created (its parent is a file).
touch "$tmp/notadir"
cp "$tmp/w/renewal/w.example.test.conf" "$tmp/w.conf"
sed -i "s#= $tmp/www\$#= $tmp/notadir/www#" "$tmp/w/renewal/w.example.test.conf"
cb webroot-unwritable 1 w renew --force-renewal
cp "$tmp/w.conf" "$tmp/w/renewal/w.example.test.conf"

# --- nginx authenticator: lineage n.example.test (config dir n) ---------------------------------
ngx="--nginx --nginx-server-root $tmp/site --http-01-port $http"
issue nginx-issue 0 n $ngx -d n.example.test
cb nginx-renew 0 n renew --force-renewal
cp "$tmp/site/nginx.conf" "$tmp/site.conf"
echo "no_such_directive on;" >>"$tmp/site/nginx.conf"
cb nginx-config-broken 1 n renew --force-renewal
cp "$tmp/site.conf" "$tmp/site/nginx.conf"
cts_api set-servfail '{"host":"n.example.test."}'
cb nginx-dns-servfail 1 n renew --force-renewal
cts_api clear-servfail '{"host":"n.example.test."}'
set_a n.example.test 127.0.0.4
cb nginx-wrong-a-record 1 n renew --force-renewal
set_a n.example.test 127.0.0.2

# --- manual HTTP-01: lineage m.example.test, hooks publish into nginx's root (config dir m) ------
acme_dir=$tmp/www/.well-known/acme-challenge
printf '#!/bin/sh\nmkdir -p %s && printf %%s "$CERTBOT_VALIDATION" >%s/"$CERTBOT_TOKEN"\n' "$acme_dir" "$acme_dir" >"$tmp/http-auth"
printf '#!/bin/sh\nrm -f %s/"$CERTBOT_TOKEN"\n' "$acme_dir" >"$tmp/http-cleanup"
chmod +x "$tmp/http-auth" "$tmp/http-cleanup"
issue manual-http-issue 0 m --manual --preferred-challenges http-01 --manual-auth-hook "$tmp/http-auth" \
  --manual-cleanup-hook "$tmp/http-cleanup" -d m.example.test
cb manual-http-renew 0 m renew --force-renewal
cb manual-http-auth-hook-fails 1 m renew --force-renewal --manual-auth-hook 'echo uploading; echo "upload failed: permission denied" >&2; exit 1'
cb manual-http-no-publish 1 m renew --force-renewal --manual-auth-hook 'echo nothing to do'
cb manual-http-wrong-content 1 m renew --force-renewal \
  --manual-auth-hook "mkdir -p $acme_dir && echo stale >$acme_dir/\$CERTBOT_TOKEN"
# The auth hook saved in the renewal conf was deleted.
mv "$tmp/http-auth" "$tmp/http-auth.moved"
cb manual-http-auth-hook-missing 1 m renew --force-renewal
mv "$tmp/http-auth.moved" "$tmp/http-auth"
cb manual-http-cleanup-hook-fails 0 m renew --force-renewal --manual-cleanup-hook 'sh -c "exit 6"'

# --- manual DNS-01: d.example.test and *.d.example.test, hooks set TXT records through
# challtestsrv's API (config dir d) ----------------------------------------------------------------
printf '#!/bin/sh\ncurl -sf -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\",\\"value\\":\\"$CERTBOT_VALIDATION\\"}" http://127.0.0.1:%s/set-txt\n' $cts >"$tmp/dns-auth"
printf '#!/bin/sh\ncurl -sf -d "{\\"host\\":\\"_acme-challenge.$CERTBOT_DOMAIN.\\"}" http://127.0.0.1:%s/clear-txt\n' $cts >"$tmp/dns-cleanup"
chmod +x "$tmp/dns-auth" "$tmp/dns-cleanup"
issue manual-dns-issue 0 d --manual --preferred-challenges dns-01 --manual-auth-hook "$tmp/dns-auth" \
  --manual-cleanup-hook "$tmp/dns-cleanup" -d d.example.test -d '*.d.example.test'
cb manual-dns-renew 0 d renew --force-renewal
cb manual-dns-wrong-txt 1 d renew --force-renewal --manual-auth-hook \
  "curl -sf -d '{\"host\":\"_acme-challenge.'\$CERTBOT_DOMAIN'.\",\"value\":\"stale\"}' http://127.0.0.1:$cts/set-txt"
cb manual-dns-no-txt 1 d renew --force-renewal --manual-auth-hook true
cts_api set-servfail '{"host":"_acme-challenge.d.example.test."}'
cb manual-dns-servfail 1 d renew --force-renewal
cts_api clear-servfail '{"host":"_acme-challenge.d.example.test."}'

# --- the CA and the account ---------------------------------------------------------------------
# certbot does not trust the CA's certificate.
REQUESTS_CA_BUNDLE=$tmp/tls.pem
cb standalone-ca-untrusted 1 s renew --force-renewal
REQUESTS_CA_BUNDLE=$tmp/ca.pem
# The account was deactivated at the CA (certbot unregister), its local copy kept.
issue - 0 acct $standalone -d x.example.test
cp -a "$tmp/acct/accounts" "$tmp/accounts.bak"
cb - 0 acct unregister --server "$server"
rm -rf "$tmp/acct/accounts"; cp -a "$tmp/accounts.bak" "$tmp/acct/accounts"
cb standalone-account-deactivated 1 acct renew --force-renewal
# The local account is gone.
rm -rf "$tmp/acct/accounts"
cb standalone-account-missing 1 acct renew --force-renewal
# The CA is down.
stop_pebble
cb standalone-ca-down 1 s renew --force-renewal
# A new CA instance: it knows no account.
start_pebble
cb standalone-account-unknown-to-ca 1 s renew --force-renewal
# The CA rejects every nonce (badNonce; certbot retries once).
stop_pebble
start_pebble 100
issue standalone-certonly-bad-nonce 1 nonce $standalone -d y.example.test
stop_pebble

if [ -n "$written" ]; then
  (cd "$here/.." && go test -count=1 -run '^TestFoldRealLogs$' . -update >/dev/null)
  echo "capture.sh: wrote$written into $out (and their .golden.json)"
fi
