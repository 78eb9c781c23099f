#!/usr/bin/env bash
# Runs the DNS benchmarks. It builds the package's DNS server
# (bench/cmd/dns-pkg), the C evdns server on the same libevent
# (bench/c/dnsserver.c) and the load generator (bench/cmd/dnsload). Then it
# measures the queries per second that each server answers, and the lookups
# per second that the package's resolver completes against the C server,
# and prints medians and the ratio of the package's server to the C server.
#
# Each round runs every server once, in an order that alternates between
# rounds. The server is pinned to CPU 0 and dnsload to CPU 1, with
# DNS_INFLIGHT queries in flight for DNS_DURATION seconds after a 0.5 s
# warm-up. The ratio is taken within each round, then its median is
# printed, so that a slow round weighs on both servers alike.
#
# Everything binds and sends to 127.0.0.1 only. dnsload stops by itself
# after its duration, and the whole script reruns itself under timeout, so
# that it ends after DNS_TIME_LIMIT seconds at most. The EXIT trap kills the
# servers that the script started.
#
# Environment (all optional):
#   DNS_ROUNDS      rounds (default: 7)
#   DNS_DURATION    counted seconds per run (default: 3)
#   DNS_INFLIGHT    queries or lookups in flight (default: 16)
#   DNS_TIME_LIMIT  seconds after which the script stops itself (default: 300)
#   BENCH_OUT       folder for the raw results (default: bench/results,
#                   which git ignores)
#
# With the defaults a run takes about 1.5 minutes on 2 cores.
set -euo pipefail

time_limit=${DNS_TIME_LIMIT:-300}
if [[ -z ${GOLIBEVENT_DNS_BENCH_BOUNDED:-} ]]; then
	export GOLIBEVENT_DNS_BENCH_BOUNDED=1
	exec timeout --kill-after=15 "$time_limit" "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${DNS_ROUNDS:-7}
duration=${DNS_DURATION:-3}
inflight=${DNS_INFLIGHT:-16}
out_dir=${BENCH_OUT:-$root/bench/results}

for tool in taskset gcc go; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench-dns: $tool is missing; install it (taskset is in util-linux)" >&2
		exit 1
	fi
done
if (($(nproc) < 2)); then
	echo "bench-dns: the benchmark pins the server to CPU 0 and the client to CPU 1, but this machine has $(nproc) CPU" >&2
	exit 1
fi

work=$(mktemp -d)
bin=$work/bin
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			{ wait "$pid" || true; } 2>/dev/null
		fi
	done
	rm -rf "$work"
}
trap cleanup EXIT
for signal in HUP INT TERM; do
	# shellcheck disable=SC2064 # the signal's name is expanded now on purpose
	trap "echo 'bench-dns: stopped by SIG$signal' >&2; exit 1" "$signal"
done

mkdir -p "$bin" "$out_dir"
raw="$out_dir/dns-$(date -u +%Y%m%dT%H%M%SZ).txt"

echo "Building the DNS servers and the load generator" >&2
(
	cd "$root/bench"
	go build -o "$bin/dns-pkg" ./cmd/dns-pkg
	go build -o "$bin/dnsload" ./cmd/dnsload
)
# The same static link of libevent as the package's default build.
gcc -O2 -Wall -Wextra -o "$bin/dnsserver-c" "$root/bench/c/dnsserver.c" \
	-Wl,-Bstatic -levent_extra -levent_pthreads -levent_core -Wl,-Bdynamic -lpthread

# start_server starts server $1 (c or pkg) on CPU 0 and sets server_pid and
# server_addr once it is bound.
runs=0
start_server() {
	local command out err i
	case $1 in
	c) command="$bin/dnsserver-c" ;;
	pkg) command="$bin/dns-pkg" ;;
	esac
	runs=$((runs + 1))
	out=$work/server-$runs.out
	err=$work/server-$runs.err
	taskset -c 0 "$command" 0 >"$out" 2>"$err" &
	server_pid=$!
	pids+=("$server_pid")
	for ((i = 0; i < 100; i++)); do
		server_addr=$(awk '/^listening /{print $2; exit}' "$out" 2>/dev/null || true)
		if [[ -n $server_addr ]]; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench-dns: server $1 did not start within 10 s; its errors:" >&2
	cat "$err" >&2
	return 1
}

stop_server() {
	kill "$server_pid" 2>/dev/null || true
	{ wait "$server_pid" || true; } 2>/dev/null
}

# load runs dnsload on CPU 1 with mode $1 against server_addr and prints
# its queries per second.
load() {
	timeout $((duration + 30)) taskset -c 1 "$bin/dnsload" -mode "$1" -inflight "$inflight" \
		-duration "${duration}s" "$server_addr" | awk -F'[ =]' '/^qps=/ {print $2}'
}

echo "# rounds=$rounds duration=${duration}s inflight=$inflight $(nproc) CPUs" >"$raw"
for ((round = 1; round <= rounds; round++)); do
	order=(c pkg)
	if ((round % 2 == 0)); then
		order=(pkg c)
	fi
	for name in "${order[@]}"; do
		start_server "$name"
		qps=$(load queries)
		echo "round=$round server=$name qps=$qps" >>"$raw"
		if [[ $name == c ]]; then
			qps=$(load resolver)
			echo "round=$round resolver qps=$qps" >>"$raw"
		fi
		stop_server
	done
	echo "round $round of $rounds done" >&2
done

awk '
function median(list, n,   i, j, t, a) {
	split(list, a, " ")
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^round=/ {
	split($1, r, "="); split($NF, q, "=")
	if ($2 == "resolver") { res = res " " q[2]; nres++ }
	else { split($2, s, "="); v[r[2], s[2]] = q[2]; if (r[2] > maxr) maxr = r[2] }
}
END {
	for (i = 1; i <= maxr; i++) {
		c = c " " v[i, "c"]; p = p " " v[i, "pkg"]
		ratio = ratio " " v[i, "pkg"] / v[i, "c"]
	}
	printf "| DNS server | queries/s (median of %d) | ratio to C (median of per-round ratios) |\n", maxr
	printf "| --- | --- | --- |\n"
	printf "| C evdns server (c/dnsserver.c) | %d | 1.00 |\n", median(c, maxr)
	printf "| package DNSServer (cmd/dns-pkg) | %d | %.2f |\n", median(p, maxr), median(ratio, maxr)
	printf "\nresolver lookups/s against the C server (median of %d): %d\n", nres, median(res, nres)
}' "$raw" | tee -a "$raw"
echo "raw results: $raw" >&2
