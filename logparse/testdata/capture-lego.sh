#!/bin/sh
# Captures real lego logs (stderr and stdout, as cron or a systemd unit would record them)
# against Pebble on loopback, for logparse's lego table tests, and the storage layout lego
# leaves (file names, and the certificates/<name>.json metadata; no certificate or key).
# Needs: lego (Debian package, or a newer one built elsewhere), pebble + pebble-challtestsrv
# v2.10.1 (go install), curl, python3.
# Usage: capture-lego.sh OUTDIR [LEGO]   e.g. capture-lego.sh testdata/lego-4.9.1 /usr/bin/lego
set -eu
out=$(realpath "${1:?usage: capture-lego.sh OUTDIR [LEGO]}")
lego=${2:-lego}
mkdir -p "$out"
. "$(dirname "$0")/pebble-env.sh"
export LEGO_CA_CERTIFICATES="$minica"

# lg SCENARIO ARGS...: one lego invocation; its output becomes OUTDIR/SCENARIO.log.
lg() {
  name=$1; shift
  "$lego" --path "$tmp/lego" --email admin@example.test --accept-tos "$@" >"$out/$name.log" 2>&1 ||
    echo "$name: lego exit $?"
}
http="--http --http.port 127.0.0.1:5002"
a="-d a.example.test -d www.a.example.test"

lg issue --server "$ca" $http $a run
lg renew-success --server "$ca" $http $a renew --days 9999 --no-random-sleep
lg renew-not-due --server "$ca" $http $a renew --days 1 --no-random-sleep
# Pebble validates on 5002; lego listens on 5003: the CA cannot connect.
lg renew-connection --server "$ca" --http --http.port 127.0.0.1:5003 $a renew --days 9999 --no-random-sleep
# The name resolves to an address where nothing listens.
cts_api add-a '{"host":"a.example.test.","addresses":["127.0.0.2"]}'
lg renew-dns-wrong-address --server "$ca" $http $a renew --days 9999 --no-random-sleep
cts_api clear-a '{"host":"a.example.test."}'
# The name has no A record at all.
cts_api set-default-ipv4 '{"ip":""}'
lg renew-dns-no-address --server "$ca" $http $a renew --days 9999 --no-random-sleep
cts_api set-default-ipv4 '{"ip":"127.0.0.1"}'
# The name's DNS server fails.
cts_api set-servfail '{"host":"www.a.example.test."}'
lg renew-dns-servfail --server "$ca" $http $a renew --days 9999 --no-random-sleep
cts_api clear-servfail '{"host":"www.a.example.test."}'
# Renewed, then the hook fails (lego exits 1 after saving the certificate).
lg renew-hook-fails --server "$ca" $http $a renew --days 9999 --no-random-sleep --renew-hook false
# An account lego has not registered with this CA.
lg renew-no-account --server "$ca" --email other@example.test $http $a renew --days 9999 --no-random-sleep
# Pebble refuses names on its block list (as a CA's policy or a CAA record would).
lg issue-rejected --server "$ca" $http -d blocked-domain.example run
# The CA cannot be reached at all (run: renew would first miss an account for that server).
lg issue-ca-down --server https://127.0.0.1:14009/dir $http -d b.example.test run
# The CA unreachable for a renewal cron runs (stopped CA, blocked egress): lego fails before it
# names the certificate.
lg renew-ca-down --server https://127.0.0.1:14009/dir $http $a renew --days 9999 --no-random-sleep
# A staging directory: a second account under accounts/127.0.0.1_14001/.
lg issue-staging --server "$staging_ca" $http -d s.example.test run

# The storage layout (file names) and the metadata lego writes, for the storage tests.
(cd "$tmp/lego" && find . -type f | LC_ALL=C sort) >"$out/storage-files.txt"
cp "$tmp/lego/certificates/a.example.test.json" "$out/a.example.test.json"
cp "$tmp/lego/certificates/s.example.test.json" "$out/s.example.test.json"
