#!/usr/bin/env bash
# Runs the TLS benchmarks of bench/tls_test.go: full TLS 1.3 handshakes per
# second and echo throughput over one connection, for the package's server
# (OpenSSL bufferevents) and a Go crypto/tls server, both driven by a
# crypto/tls client in the same process on 127.0.0.1.
#
# The test binary is built once. Each round runs every (benchmark, server)
# pair once, in an order rotated by one each round, so that a slow spell of
# the machine hits both servers alike. The table shows the median of each
# pair over the rounds, and the median of the per-round ratios pkg / gotls,
# which is steadier on a shared machine than the ratio of the medians.
#
# The script stops itself after TLS_TIME_LIMIT seconds at most.
#
# Environment (all optional):
#   TLS_ROUNDS      rounds (default: 5)
#   TLS_BENCHTIME   -benchtime of each run (default: 2s)
#   TLS_TIME_LIMIT  seconds after which the script stops itself
#                   (default: 300)
#   BENCH_OUT       folder for the raw results (default: bench/results,
#                   which git ignores)
#
# With the defaults a run takes about 1.5 minutes: 20 runs of about 3 s
# plus the build.
set -euo pipefail

time_limit=${TLS_TIME_LIMIT:-300}
if [[ -z ${GOLIBEVENT_TLS_BENCH_BOUNDED:-} ]]; then
	export GOLIBEVENT_TLS_BENCH_BOUNDED=1
	exec timeout --kill-after=15 "$time_limit" "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${TLS_ROUNDS:-5}
benchtime=${TLS_BENCHTIME:-2s}
out_dir=${BENCH_OUT:-$root/bench/results}
mkdir -p "$out_dir"
raw=$out_dir/tls-$(date +%Y%m%d-%H%M%S).txt

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "bench-tls: building the benchmark binary"
(cd "$root/bench" && go test -c -o "$work/bench.test" .)

pairs=(
	"Handshake pkg" "Handshake gotls"
	"Echo pkg" "Echo gotls"
)
n=${#pairs[@]}
for ((round = 0; round < rounds; round++)); do
	for ((i = 0; i < n; i++)); do
		read -r bench server <<<"${pairs[$(((i + round) % n))]}"
		line=$("$work/bench.test" -test.run '^$' -test.bench "^BenchmarkTLS$bench/server=$server\$" \
			-test.benchtime "$benchtime" -test.count 1 | grep '^BenchmarkTLS' || true)
		if [[ -z $line ]]; then
			echo "bench-tls: BenchmarkTLS$bench/server=$server printed no result" >&2
			exit 1
		fi
		# Fields: name, iterations, ns/op value, "ns/op", then the
		# benchmark's own metric (MB/s or handshakes/s).
		read -r _ _ ns _ metric unit _ <<<"$line"
		printf '%d %s %s %s %s %s\n' "$round" "$bench" "$server" "$ns" "$metric" "$unit" | tee -a "$raw"
	done
done

echo
echo "bench-tls: medians of $rounds rounds (raw results in $raw)"
awk '
function median(list,    arr, k, m, i, j, t) {
	k = split(list, arr, " ")
	for (i = 1; i <= k; i++)
		for (j = i + 1; j <= k; j++)
			if (arr[j] + 0 < arr[i] + 0) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
	m = int((k + 1) / 2)
	if (k % 2 == 1) return arr[m]
	return (arr[m] + arr[m + 1]) / 2
}
{
	metric[$2 " " $3] = metric[$2 " " $3] " " $5
	unit[$2] = $6
	value[$1 " " $2 " " $3] = $5
	seen[$1] = 1
}
END {
	printf "%-10s %-6s %16s\n", "benchmark", "server", "median"
	split("Handshake Echo", names, " ")
	split("pkg gotls", servers, " ")
	for (b = 1; b <= 2; b++)
		for (s = 1; s <= 2; s++)
			printf "%-10s %-6s %12.1f %s\n", names[b], servers[s], median(metric[names[b] " " servers[s]]), unit[names[b]]
	print ""
	print "median of per-round ratios pkg / gotls (above 1: the package is faster)"
	for (b = 1; b <= 2; b++) {
		ratios = ""
		for (r in seen)
			ratios = ratios " " value[r " " names[b] " pkg"] / value[r " " names[b] " gotls"]
		printf "%-10s %6.2f\n", names[b], median(ratios)
	}
}' "$raw"
