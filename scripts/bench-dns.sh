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
# printed, so that a slow round weighs on both servers alike. A round counts
# only if, in each of its runs, other processes and other guests of the
# hypervisor took at most DNS_MAX_OTHER percent of the two CPUs.
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
#   DNS_MAX_OTHER   the share of the two CPUs, in percent, that other work
#                   may take during a run for its round to count (default: 10)
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
max_other=${DNS_MAX_OTHER:-10}
out_dir=${BENCH_OUT:-$root/bench/results}

bench_name=bench-dns
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
bench_require "install it (taskset is in util-linux)" taskset gcc go
bench_require_two_cpus "the client"
bench_start_workdir

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

# cpu_ticks prints the user and system CPU time of process $1 in clock ticks.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# busy_ticks prints the busy time of CPUs 0 and 1 in clock ticks: user,
# nice, system and steal. Interrupt time is left out because the loopback
# traffic of the server and dnsload is handled there, outside both
# processes' own CPU time.
busy_ticks() {
	awk '/^cpu[01] / {busy += $2 + $3 + $4 + $9} END {print busy}' /proc/stat
}

ticks_per_second=$(getconf CLK_TCK)

# load runs dnsload on CPU 1 with mode $1 against server_addr and prints
# "qps=N other=P": its queries or lookups per second, and the percentage of
# the two CPUs that went to anything but the server and dnsload.
load() {
	local before after busy_before busy_after started ended line
	before=$(cpu_ticks "$server_pid")
	busy_before=$(busy_ticks)
	started=$(date +%s.%N)
	line=$(timeout $((duration + 30)) taskset -c 1 "$bin/dnsload" -mode "$1" -inflight "$inflight" \
		-duration "${duration}s" "$server_addr")
	after=$(cpu_ticks "$server_pid")
	busy_after=$(busy_ticks)
	ended=$(date +%s.%N)
	awk -v line="$line" -v b=$((busy_after - busy_before)) -v t=$((after - before)) \
		-v hz="$ticks_per_second" -v s="$started" -v e="$ended" 'BEGIN {
		n = split(line, kv, /[ =]/)
		for (i = 1; i < n; i += 2) v[kv[i]] = kv[i + 1]
		o = 100 * (b / hz - t / hz - v["cpu_seconds"]) / (2 * (e - s))
		printf "qps=%s other=%.0f\n", v["qps"], o < 0 ? 0 : o
	}'
}

echo "# rounds=$rounds duration=${duration}s inflight=$inflight $(nproc) CPUs" >"$raw"
for ((round = 1; round <= rounds; round++)); do
	order=(c pkg)
	if ((round % 2 == 0)); then
		order=(pkg c)
	fi
	for name in "${order[@]}"; do
		start_server "$name"
		echo "round=$round server=$name $(load queries)" >>"$raw"
		if [[ $name == c ]]; then
			echo "round=$round server=resolver $(load resolver)" >>"$raw"
		fi
		stop_server
	done
	echo "round $round of $rounds done" >&2
done

awk -v max="$max_other" '
function median(list, n,   i, j, t, a) {
	split(list, a, " ")
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^round=/ {
	for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	qps[f["round"], f["server"]] = f["qps"]
	if (f["other"] + 0 > max) disturbed[f["round"], f["server"]] = 1
	if (f["round"] + 0 > rounds) rounds = f["round"] + 0
}
END {
	for (r = 1; r <= rounds; r++) {
		if (!((r, "resolver") in disturbed)) {
			nres++
			res = res " " qps[r, "resolver"]
		}
		if ((r, "c") in disturbed || (r, "pkg") in disturbed) continue
		n++
		c = c " " qps[r, "c"]; p = p " " qps[r, "pkg"]
		ratio = ratio " " qps[r, "pkg"] / qps[r, "c"]
	}
	printf "Runs count only if other work took at most %d%% of the two CPUs during them.\n", max
	printf "Server rounds counted: %d of %d. Resolver runs counted: %d of %d.\n\n", n, rounds, nres, rounds
	if (n > 0) {
		printf "| DNS server | queries/s (median) | ratio to C (median of per-round ratios) |\n"
		printf "| --- | --- | --- |\n"
		printf "| C evdns server (c/dnsserver.c) | %d | 1.00 |\n", median(c, n)
		printf "| package DNSServer (cmd/dns-pkg) | %d | %.2f |\n", median(p, n), median(ratio, n)
	}
	if (nres > 0)
		printf "\nresolver lookups/s, the package'"'"'s DNSBase against the C server (median): %d\n", median(res, nres)
}' "$raw" | tee -a "$raw"
echo "raw results: $raw" >&2
