#!/usr/bin/env bash
# Runs every fuzz target in the repository, one at a time (fuzzing saturates the cores it is
# given), and prints one line per target.
#
#   bench/fuzz.sh [FUZZTIME] [PACKAGE_PATTERN]     e.g. bench/fuzz.sh 10m  or  bench/fuzz.sh 3m probe
#
# FUZZTIME defaults to 10m; PARALLEL (default 1) is the number of fuzz workers. A crasher is
# written by `go test` to the package's testdata/fuzz/FuzzXxx/ and stays there as a regression
# case; the script exits 1 when any target failed.
set -uo pipefail
fuzztime=${1:-10m}
filter=${2:-.}
parallel=${PARALLEL:-1}
cd "$(dirname "$0")/.."

status=0
while IFS=: read -r file _ decl; do
	pkg=$(dirname "$file")
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$decl")
	[[ $pkg =~ $filter ]] || continue
	log=$(mktemp)
	start=$(date +%s)
	if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -parallel="$parallel" "$pkg" >"$log" 2>&1; then
		result=ok
	else
		result=FAIL
		status=1
	fi
	# The last progress line says how many inputs were run and how many are interesting.
	progress=$(grep -E '^fuzz: elapsed' "$log" | tail -1 | sed -E 's/^fuzz: //')
	printf '%-5s %-14s %-28s %4ss  %s\n' "$result" "$pkg" "$name" "$(($(date +%s) - start))" "$progress"
	[ "$result" = ok ] || sed 's/^/    /' "$log"
	rm -f "$log"
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort)
exit $status
