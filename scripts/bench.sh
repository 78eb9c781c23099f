#!/usr/bin/env bash
# Runs the benchmarks of the bench/ module and, when benchstat can be fetched
# through the Go module proxy, prints its summary of the runs.
#
# Environment (all optional):
#   BENCH_PATTERN  regular expression for -bench (default: .)
#   BENCH_COUNT    runs of each benchmark, for -count (default: 5)
#   BENCH_TIME     time per run, for -benchtime (default: 1s)
#   BENCH_OUT      folder for the raw output (default: bench/results, which
#                  git ignores)
#
# With the defaults a run takes about 3 to 4 minutes on 2 cores. go test's
# -timeout ends the benchmark binary after 10 minutes, and the benchstat step
# is given at most 2 minutes.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pattern=${BENCH_PATTERN:-.}
count=${BENCH_COUNT:-5}
benchtime=${BENCH_TIME:-1s}
out_dir=${BENCH_OUT:-$root/bench/results}

mkdir -p "$out_dir"
out="$out_dir/bench-$(date -u +%Y%m%dT%H%M%SZ).txt"

cd "$root/bench"
echo "Running the benchmarks in $root/bench (count $count, benchtime $benchtime); raw output goes to $out" >&2
go test -run '^$' -bench "$pattern" -benchmem -count "$count" -benchtime "$benchtime" -timeout 10m | tee "$out"

echo >&2
stat_err=$(mktemp)
trap 'rm -f "$stat_err"' EXIT
if timeout 120 go run golang.org/x/perf/cmd/benchstat@latest "$out" 2>"$stat_err"; then
	exit 0
fi
echo "benchstat could not be run, so there is no summary; the raw output is above and in $out" >&2
sed 's/^/  benchstat: /' "$stat_err" >&2
