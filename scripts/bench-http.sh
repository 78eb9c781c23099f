#!/usr/bin/env bash
# Runs the HTTP benchmarks. It builds the "Hello, World!" servers of bench/:
# the package's native handler and its net/http Handler adapter, a C evhttp
# server on the same libevent (also with the package's keeper events, see
# http_keeper.c), Go's net/http and fasthttp. It drives each
# with wrk and prints a table of medians with ratios.
#
# For each round, every server runs once, in an order rotated by one each
# round. The server is pinned to CPU 0 and wrk (one thread, HTTP_CONNS
# keep-alive connections) to CPU 1. Each run is a 1 s warm-up and then
# HTTP_DURATION counted seconds. The server's user and system CPU time is
# read from /proc/PID/stat around the counted part, which gives requests
# per server CPU-second.
#
# Everything listens on and connects to 127.0.0.1 only. Each wrk run is
# bounded by timeout, and the whole script reruns itself under timeout, so
# that it ends by itself after HTTP_TIME_LIMIT seconds at most. The EXIT
# trap kills every process that the script started.
#
# Environment (all optional):
#   HTTP_ROUNDS      rounds (default: 5)
#   HTTP_DURATION    counted seconds per run (default: 4)
#   HTTP_CONNS       wrk connections (default: 50)
#   HTTP_MAX_OTHER   the share of the two CPUs, in percent, that other
#                    processes and guests may take during a run for it to
#                    count in the medians (default: 20)
#   HTTP_SERVERS     servers, from: c c-keeper c-changelist pkg
#                    pkg-changelist adapter adapter-changelist gonet fasthttp
#                    (default: all but adapter-changelist)
#   HTTP_TIME_LIMIT  seconds after which the script stops itself
#                    (default: 420)
#   BENCH_OUT        folder for the raw results (default: bench/results,
#                    which git ignores)
#
# With the defaults a run takes about 4 minutes on 2 cores: 40 runs of
# about 5.5 seconds each.
set -euo pipefail

time_limit=${HTTP_TIME_LIMIT:-420}
if [[ -z ${GOLIBEVENT_HTTP_BENCH_BOUNDED:-} ]]; then
	# timeout signals the whole process group when the time is up, which
	# includes every server and wrk run that this script starts.
	export GOLIBEVENT_HTTP_BENCH_BOUNDED=1
	exec timeout --kill-after=15 "$time_limit" "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${HTTP_ROUNDS:-5}
duration=${HTTP_DURATION:-4}
conns=${HTTP_CONNS:-50}
max_other=${HTTP_MAX_OTHER:-20}
read -r -a servers <<<"${HTTP_SERVERS:-c c-keeper c-changelist pkg pkg-changelist adapter gonet fasthttp}"
out_dir=${BENCH_OUT:-$root/bench/results}

bench_name=bench-http
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
bench_require "install it (third_party/libevent/setup.sh --test-tools installs wrk)" taskset gcc go wrk
bench_require_two_cpus "wrk"
bench_start_workdir

mkdir -p "$bin" "$out_dir"
raw="$out_dir/http-$(date -u +%Y%m%dT%H%M%SZ).txt"

echo "Building the HTTP servers" >&2
(
	cd "$root/bench"
	for cmd in http-pkg http-gonet http-fasthttp; do
		go build -o "$bin/$cmd" "./cmd/$cmd"
	done
)
# The same static link of libevent as the package's default build
# (build_static.go).
gcc -O2 -Wall -Wextra -o "$bin/httpd-c" "$root/bench/c/httpd.c" \
	-Wl,-Bstatic -levent_extra -levent_pthreads -levent_core -Wl,-Bdynamic -lpthread

# server_command prints the command line of a server, without the port.
server_command() {
	case $1 in
	c) echo "$bin/httpd-c" ;;
	c-keeper) echo "$bin/httpd-c -k" ;;
	c-changelist) echo "$bin/httpd-c -c" ;;
	pkg) echo "$bin/http-pkg -mode native" ;;
	pkg-changelist) echo "$bin/http-pkg -mode native -changelist" ;;
	adapter) echo "$bin/http-pkg -mode adapter" ;;
	adapter-changelist) echo "$bin/http-pkg -mode adapter -changelist" ;;
	gonet) echo "$bin/http-gonet" ;;
	fasthttp) echo "$bin/http-fasthttp" ;;
	*)
		echo "bench-http: unknown server $1 in HTTP_SERVERS" >&2
		return 1
		;;
	esac
}

# start_server starts server $1 on CPU 0 on a free port and sets server_pid,
# server_addr and server_err once it listens.
server_runs=0
start_server() {
	local command out i
	command=$(server_command "$1")
	server_runs=$((server_runs + 1))
	out=$work/server-$server_runs.out
	server_err=$work/server-$server_runs.err
	# taskset execs the server, so $! is the server's PID.
	# shellcheck disable=SC2086 # the command line is split on purpose
	taskset -c 0 $command 0 >"$out" 2>"$server_err" &
	server_pid=$!
	pids+=("$server_pid")
	server_addr=
	for ((i = 0; i < 100; i++)); do
		server_addr=$(awk '/^listening /{print $2; exit}' "$out" 2>/dev/null || true)
		if [[ -n $server_addr ]]; then
			return 0
		fi
		if ! kill -0 "$server_pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "bench-http: server $1 did not start listening within 10 s; its errors:" >&2
	cat "$server_err" >&2
	return 1
}

stop_server() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
}

# cpu_ticks prints the user and system CPU time of process $1 in clock ticks.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# busy_ticks prints the busy time of CPUs 0 and 1 in clock ticks: user,
# nice, system, irq, softirq and steal.
busy_ticks() {
	awk '/^cpu[01] / {busy += $2 + $3 + $4 + $7 + $8 + $9} END {print busy}' /proc/stat
}

# field prints the value of key $1 in a line of key=value pairs on stdin.
field() {
	tr ' ' '\n' | awk -F= -v key="$1" '$1 == key {print $2}'
}

# latency_us converts a wrk latency such as 512.00us, 1.20ms or 2.00s to
# microseconds.
latency_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1e6; else print "-"
	}'
}

ticks_per_second=$(getconf CLK_TCK)

run_load() {
	local name=$1 round=$2 url before after busy_before busy_after wrk_before wrk_after started ended report
	local total rps p50 p99 errors cpu_s per_cpu cpu_percent other
	start_server "$name"
	url="http://$server_addr/"
	if ! taskset -c 1 timeout 30 wrk -t1 -c"$conns" -d1s "$url" >/dev/null; then
		echo "bench-http: the warm-up against $name failed; server errors:" >&2
		cat "$server_err" >&2
		return 1
	fi
	before=$(cpu_ticks "$server_pid")
	busy_before=$(busy_ticks)
	started=$(date +%s.%N)
	if ! report=$(taskset -c 1 timeout $((duration + 30)) wrk -t1 -c"$conns" -d"${duration}s" --latency "$url"); then
		echo "bench-http: the wrk run against $name failed; server errors:" >&2
		cat "$server_err" >&2
		return 1
	fi
	after=$(cpu_ticks "$server_pid")
	busy_after=$(busy_ticks)
	ended=$(date +%s.%N)
	stop_server

	total=$(awk '/ requests in / {print $1; exit}' <<<"$report")
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$report")
	p50=$(latency_us "$(awk '$1 == "50%" {print $2}' <<<"$report")")
	p99=$(latency_us "$(awk '$1 == "99%" {print $2}' <<<"$report")")
	errors=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$report")
	cpu_s=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" 'BEGIN {printf "%.3f", t / hz}')
	per_cpu=$(awk -v n="$total" -v c="$cpu_s" 'BEGIN {if (c > 0) printf "%.0f", n / c; else print "-"}')
	cpu_percent=$(awk -v c="$cpu_s" -v s="$started" -v e="$ended" 'BEGIN {printf "%.0f", 100 * c / (e - s)}')
	# What the two CPUs spent on anything but this server and one busy
	# wrk thread: other processes, and other guests of the hypervisor.
	# wrk's thread counts as a full CPU, so this is a lower bound.
	other=$(awk -v b=$((busy_after - busy_before)) -v hz="$ticks_per_second" -v c="$cpu_s" \
		-v s="$started" -v e="$ended" \
		'BEGIN {o = 100 * (b / hz - c - (e - s)) / (2 * (e - s)); printf "%.0f", o < 0 ? 0 : o}')
	echo "load round=$round server=$name requests=$total requests_per_second=$rps p50_us=$p50 p99_us=$p99 errors=$errors server_cpu_seconds=$cpu_s requests_per_cpu_second=$per_cpu server_cpu_percent=$cpu_percent other_cpu_percent=$other" |
		tee -a "$raw" >&2
}

{
	echo "# HTTP benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# cpu: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(nproc) CPUs"
	echo "# kernel: $(uname -r); $(go version); gcc $(gcc -dumpfullversion); $(wrk --version 2>&1 | head -1)"
	echo "# libevent: $(pkg-config --modversion libevent 2>/dev/null || echo unknown)"
	echo "# commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "# rounds=$rounds duration=${duration}s conns=$conns"
} >"$raw"
echo "Raw results go to $raw" >&2

count=${#servers[@]}
for ((round = 1; round <= rounds; round++)); do
	for ((i = 0; i < count; i++)); do
		run_load "${servers[(i + round - 1) % count]}" "$round"
	done
done

# counted_lines prints the result lines of server $1 from runs in which
# other work took at most max_other percent of the two CPUs.
counted_lines() {
	{ grep "^load .* server=$1 " "$raw" || true; } |
		awk -v max="$max_other" '{for (i = 1; i <= NF; i++) if ($i ~ /^other_cpu_percent=/) {split($i, kv, "="); if (kv[2] + 0 <= max) print}}'
}

# median prints the median of key $2 over the counted lines of server $1.
median() {
	counted_lines "$1" | field "$2" | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# round_ratio prints the median over the rounds of server $1's value of key
# $3 divided by server $2's value in the same round, with two decimals.
round_ratio() {
	{
		counted_lines "$1" | sed 's/^/a /'
		counted_lines "$2" | sed 's/^/b /'
	} | awk -v key="$3" '
		{
			round = ""; value = ""
			for (i = 2; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "round") round = kv[2]
				if (kv[1] == key) value = kv[2]
			}
			if ($1 == "a") a[round] = value; else b[round] = value
		}
		END {for (r in a) if ((r in b) && b[r] > 0) print a[r] / b[r]}' |
		sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) print "-"; else printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# c_peer prints the C server with the same base flags as server $1.
c_peer() {
	case $1 in
	*-changelist) echo c-changelist ;;
	*) echo c ;;
	esac
}

{
	echo
	echo "Medians of $rounds rounds (runs: those in which other work took at most $max_other% of the CPUs):"
	printf '%-19s %4s %9s %6s %8s %8s %10s %8s %7s %7s %6s %7s %6s\n' server runs 'req/s' 'vs C' 'vs C-k' 'vs gonet' \
		'req/CPU-s' 'vs gonet' 'p50 us' 'p99 us' 'srv %' 'other %' errors
	for name in "${servers[@]}"; do
		printf '%-19s %4s %9s %6s %8s %8s %10s %8s %7s %7s %6s %7s %6s\n' "$name" \
			"$(counted_lines "$name" | wc -l)" "$(median "$name" requests_per_second)" \
			"$(round_ratio "$name" "$(c_peer "$name")" requests_per_second)" \
			"$(round_ratio "$name" c-keeper requests_per_second)" \
			"$(round_ratio "$name" gonet requests_per_second)" \
			"$(median "$name" requests_per_cpu_second)" \
			"$(round_ratio "$name" gonet requests_per_cpu_second)" \
			"$(median "$name" p50_us)" "$(median "$name" p99_us)" \
			"$(median "$name" server_cpu_percent)" "$(median "$name" other_cpu_percent)" \
			"$(median "$name" errors)"
	done
	echo
	echo "vs C: the median over the rounds of the ratio within each round against the C evhttp server"
	echo "with the same base flags (c for the default base, c-changelist for the changelist flag)."
	echo "vs C-k: the same against c-keeper, C evhttp on the default base with the keeper events"
	echo "that the package adds to its servers' connections."
	echo "vs gonet: the same against Go's net/http. req/CPU-s: requests per second of the server's"
	echo "user and system CPU time. srv %: the server's CPU use; near 100, the server sets the pace."
	echo "other %: a lower bound of the share of both CPUs that went to other processes and guests."
} | tee -a "$raw"
