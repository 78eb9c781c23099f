#!/usr/bin/env bash
# Runs the echo benchmarks. It builds the echo servers of bench/ (the
# package's, a C one on the same libevent, Go net and gnet) and the two
# clients. Then it measures each server's throughput and its memory per idle
# connection, and prints a table of medians with ratios against the C server
# and Go net.
#
# Throughput: for each round, every server runs once, in an order rotated by
# one each round. The server is pinned to CPU 0 and cmd/echoload to CPU 1,
# with ECHO_CONNS connections, each a closed loop of one 64-byte request and
# its reply, for ECHO_DURATION seconds after a 0.5 s warm-up.
#
# Memory: for each memory round, every server is started afresh and its
# VmRSS is read from /proc/PID/status. cmd/echoidle then opens
# ECHO_IDLE_CONNS connections from another process, pings each once and
# keeps them open, and VmRSS is read again one second after the last ping.
# The difference divided by the number of connections is the memory per idle
# connection.
#
# Everything listens on and connects to 127.0.0.1 only. Each client run is
# bounded by timeout, and the whole script reruns itself under timeout, so
# that it ends by itself after ECHO_TIME_LIMIT seconds at most. The EXIT trap
# kills every process that the script started.
#
# Environment (all optional):
#   ECHO_ROUNDS       throughput rounds (default: 7)
#   ECHO_MEM_ROUNDS   memory rounds (default: 3)
#   ECHO_DURATION     counted seconds per throughput run (default: 4)
#   ECHO_CONNS        connections of the load generator (default: 100)
#   ECHO_IDLE_CONNS   idle connections of a memory run (default: 10000)
#   ECHO_MAX_OTHER    the share of the two CPUs, in percent, that other
#                     processes and guests may take during a throughput run
#                     for it to count in the medians (default: 10)
#   ECHO_SERVERS      servers of the throughput runs, from: c c-direct
#                     c-event c-locked pkg-bufferevent
#                     pkg-bufferevent-writethrough pkg-bufferevent-nolock
#                     pkg-bufferevent-copy pkg-event pkg-c-in-go gonet
#                     gnet (default: all but c-locked)
#   ECHO_MEM_SERVERS  servers of the memory runs (default: those of
#                     ECHO_SERVERS without c-direct, c-locked,
#                     pkg-bufferevent-nolock and pkg-bufferevent-copy)
#   ECHO_TIME_LIMIT   seconds after which the script stops itself
#                     (default: 720)
#   BENCH_OUT         folder for the raw results (default: bench/results,
#                     which git ignores)
#   ECHO_SUMMARY_ONLY a raw results file of an earlier run: print its table
#                     again, without building or running anything
#
# With the defaults a run takes about 8 minutes on 2 cores, most of it the
# 77 throughput runs of about 5 seconds each.
set -euo pipefail

time_limit=${ECHO_TIME_LIMIT:-720}
if [[ -z ${GOLIBEVENT_ECHO_BENCH_BOUNDED:-} ]]; then
	# timeout signals the whole process group when the time is up, which
	# includes every server and client that this script starts.
	export GOLIBEVENT_ECHO_BENCH_BOUNDED=1
	exec timeout --kill-after=15 "$time_limit" "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${ECHO_ROUNDS:-7}
mem_rounds=${ECHO_MEM_ROUNDS:-3}
duration=${ECHO_DURATION:-4}
conns=${ECHO_CONNS:-100}
idle_conns=${ECHO_IDLE_CONNS:-10000}
max_other=${ECHO_MAX_OTHER:-10}
read -r -a servers <<<"${ECHO_SERVERS:-c c-direct c-event pkg-bufferevent pkg-bufferevent-writethrough pkg-bufferevent-nolock pkg-bufferevent-copy pkg-event pkg-c-in-go gonet gnet}"
# c-direct, c-locked, pkg-bufferevent-nolock and pkg-bufferevent-copy keep
# the same state per connection as their plain versions, so by default the
# memory runs leave them out.
if [[ -n ${ECHO_MEM_SERVERS:-} ]]; then
	read -r -a mem_servers <<<"$ECHO_MEM_SERVERS"
else
	mem_servers=()
	for name in "${servers[@]}"; do
		if [[ $name != pkg-bufferevent-copy && $name != pkg-bufferevent-nolock && $name != c-locked && $name != c-direct ]]; then
			mem_servers+=("$name")
		fi
	done
fi
out_dir=${BENCH_OUT:-$root/bench/results}

bench_name=bench-echo
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
bench_require "install it (taskset is in util-linux)" taskset gcc go
bench_require_two_cpus "the client"
bench_start_workdir

mkdir -p "$bin" "$out_dir"
raw="$out_dir/echo-$(date -u +%Y%m%dT%H%M%SZ).txt"
summary_only=${ECHO_SUMMARY_ONLY:-}
if [[ -n $summary_only ]]; then
	# Print the table of an earlier run, for its servers, and append it to
	# that run's file.
	raw=$summary_only
	read -r rounds mem_rounds < <(awk -F'[ =]' '/^# rounds=/ {print $3, $5}' "$raw")
	present=()
	for name in "${servers[@]}" c-locked; do
		if grep -q "^load .* server=$name " "$raw"; then
			present+=("$name")
		fi
	done
	servers=("${present[@]}")
fi

if [[ -z $summary_only ]]; then
	echo "Building the echo servers and clients" >&2
	(
		cd "$root/bench"
		for cmd in echo-pkg echo-gonet echo-gnet echoload echoidle; do
			go build -o "$bin/$cmd" "./cmd/$cmd"
		done
	)
	# The same static link of libevent as the package's default build
	# (build_static.go).
	gcc -O2 -Wall -Wextra -o "$bin/echo-c" "$root/bench/c/echo.c" \
		-Wl,-Bstatic -levent_extra -levent_pthreads -levent_core -Wl,-Bdynamic -lpthread
fi

# server_command prints the command line of a server, without the port.
server_command() {
	case $1 in
	c) echo "$bin/echo-c -m bufferevent" ;;
	c-direct) echo "$bin/echo-c -m bufferevent-direct" ;;
	c-event) echo "$bin/echo-c -m event" ;;
	c-locked) echo "$bin/echo-c -t -m bufferevent" ;;
	pkg-bufferevent) echo "$bin/echo-pkg -mode bufferevent" ;;
	pkg-bufferevent-writethrough) echo "$bin/echo-pkg -mode bufferevent -writethrough" ;;
	pkg-bufferevent-nolock) echo "$bin/echo-pkg -mode bufferevent -nolock" ;;
	pkg-event) echo "$bin/echo-pkg -mode event" ;;
	pkg-bufferevent-copy) echo "$bin/echo-pkg -mode bufferevent-copy" ;;
	pkg-c-in-go) echo "$bin/echo-pkg -mode c-in-go" ;;
	gonet) echo "$bin/echo-gonet" ;;
	gnet) echo "$bin/echo-gnet" ;;
	*)
		echo "bench-echo: unknown server $1 in ECHO_SERVERS" >&2
		return 1
		;;
	esac
}

# start_server starts server $1 on CPU 0 on a free port and sets server_pid,
# server_addr and server_err (the file of its standard error) once it
# listens.
server_runs=0
start_server() {
	local command out
	command=$(server_command "$1")
	# Each run gets its own files, so that a previous server's line cannot
	# be taken for this one's.
	server_runs=$((server_runs + 1))
	out=$work/server-$server_runs.out
	server_err=$work/server-$server_runs.err
	# taskset execs the server, so $! is the server's PID.
	# shellcheck disable=SC2086 # the command line is split on purpose
	taskset -c 0 $command 0 >"$out" 2>"$server_err" &
	server_pid=$!
	pids+=("$server_pid")
	server_addr=
	local i
	for ((i = 0; i < 100; i++)); do
		# The file may not exist yet, until the shell has set up the
		# redirection of the command started above.
		server_addr=$(awk '/^listening /{print $2; exit}' "$out" 2>/dev/null || true)
		if [[ -n $server_addr ]]; then
			return 0
		fi
		if ! kill -0 "$server_pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "bench-echo: server $1 did not start listening within 10 s; its errors:" >&2
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
# nice, system, irq, softirq and steal (time that the hypervisor gave to
# another guest).
busy_ticks() {
	awk '/^cpu[01] / {busy += $2 + $3 + $4 + $7 + $8 + $9} END {print busy}' /proc/stat
}

rss_kb() {
	awk '/^VmRSS:/{print $2}' "/proc/$1/status"
}

# field prints the value of key $1 in a line of key=value pairs on stdin.
field() {
	tr ' ' '\n' | awk -F= -v key="$1" '$1 == key {print $2}'
}

ticks_per_second=$(getconf CLK_TCK)

run_load() {
	local name=$1 round=$2 before after busy_before busy_after started ended line total cpu_us cpu_percent other
	start_server "$name"
	before=$(cpu_ticks "$server_pid")
	busy_before=$(busy_ticks)
	started=$(date +%s.%N)
	if ! line=$(taskset -c 1 timeout $((duration + 30)) "$bin/echoload" -addr "$server_addr" \
		-conns "$conns" -size 64 -duration "${duration}s" -warmup 500ms); then
		echo "bench-echo: the load run against $name failed; server errors:" >&2
		cat "$server_err" >&2
		return 1
	fi
	after=$(cpu_ticks "$server_pid")
	busy_after=$(busy_ticks)
	ended=$(date +%s.%N)
	stop_server
	total=$(field total_requests <<<"$line")
	cpu_us=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$total" \
		'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
	cpu_percent=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v s="$started" -v e="$ended" \
		'BEGIN {printf "%.0f", 100 * t / hz / (e - s)}')
	# What CPUs 0 and 1 spent on anything but this server and echoload:
	# other processes, and other guests of the hypervisor.
	other=$(awk -v b=$((busy_after - busy_before)) -v t=$((after - before)) -v hz="$ticks_per_second" \
		-v load="$(field cpu_seconds <<<"$line")" -v s="$started" -v e="$ended" \
		'BEGIN {o = 100 * (b / hz - t / hz - load) / (2 * (e - s)); printf "%.0f", o < 0 ? 0 : o}')
	echo "load round=$round server=$name $line server_cpu_us_per_request=$cpu_us server_cpu_percent=$cpu_percent other_cpu_percent=$other" |
		tee -a "$raw" >&2
}

run_memory() {
	local name=$1 round=$2 before after idle_pid i ready= idle_out idle_err
	start_server "$name"
	sleep 0.5
	before=$(rss_kb "$server_pid")

	idle_out=$work/idle-$server_runs.out
	idle_err=$work/idle-$server_runs.err
	taskset -c 1 timeout 150 "$bin/echoidle" -addr "$server_addr" -conns "$idle_conns" -hold 120s \
		>"$idle_out" 2>"$idle_err" &
	idle_pid=$!
	pids+=("$idle_pid")
	for ((i = 0; i < 1200; i++)); do
		if grep -q '^ready ' "$idle_out" 2>/dev/null; then
			ready=1
			break
		fi
		if ! kill -0 "$idle_pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if [[ -z $ready ]]; then
		echo "bench-echo: echoidle did not get $idle_conns connections to $name ready within 120 s:" >&2
		cat "$idle_err" >&2
		return 1
	fi

	sleep 1
	after=$(rss_kb "$server_pid")
	kill "$idle_pid" 2>/dev/null || true
	wait "$idle_pid" 2>/dev/null || true
	stop_server
	echo "memory round=$round server=$name conns=$idle_conns rss_before_kb=$before rss_after_kb=$after kb_per_conn=$(
		awk -v a="$after" -v b="$before" -v n="$idle_conns" 'BEGIN {printf "%.3f", (a - b) / n}'
	)" | tee -a "$raw" >&2
}

if [[ -z $summary_only ]]; then
	{
		echo "# echo benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "# cpu: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(nproc) CPUs"
		echo "# kernel: $(uname -r); $(go version); gcc $(gcc -dumpfullversion)"
		echo "# libevent: $(pkg-config --modversion libevent 2>/dev/null || echo unknown)"
		echo "# commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
		echo "# rounds=$rounds mem_rounds=$mem_rounds duration=${duration}s conns=$conns idle_conns=$idle_conns"
	} >"$raw"
	echo "Raw results go to $raw" >&2

	count=${#servers[@]}
	for ((round = 1; round <= rounds; round++)); do
		for ((i = 0; i < count; i++)); do
			run_load "${servers[(i + round - 1) % count]}" "$round"
		done
	done
	count=${#mem_servers[@]}
	for ((round = 1; round <= mem_rounds; round++)); do
		for ((i = 0; i < count; i++)); do
			run_memory "${mem_servers[(i + round - 1) % count]}" "$round"
		done
	done
fi

# counted_lines prints the result lines of kind $1 for server $2 that count
# in the medians: every memory line, and the throughput lines of runs in
# which other work took at most max_other percent of the two CPUs.
counted_lines() {
	{ grep "^$1 .* server=$2 " "$raw" || true; } |
		awk -v max="$max_other" '$1 != "load" {print; next}
			{for (i = 1; i <= NF; i++) if ($i ~ /^other_cpu_percent=/) {split($i, kv, "="); if (kv[2] + 0 <= max) print}}'
}

# median prints the median of the values of key $3 in the counted lines of
# kind $1 for server $2.
median() {
	counted_lines "$1" "$2" | field "$3" | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# ratio prints $1 / $2 with two decimals, or - if either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b}'
}

# round_ratio prints the median over the throughput rounds of server $1's
# value of key $3 divided by server $2's value in the same round, with two
# decimals. Rounds in which either run does not count are left out.
round_ratio() {
	{
		counted_lines load "$1" | sed 's/^/a /'
		counted_lines load "$2" | sed 's/^/b /'
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

declare -A rps kb
for name in "${servers[@]}"; do
	rps[$name]=$(median load "$name" requests_per_second)
	kb[$name]=$(median memory "$name" kb_per_conn)
done
{
	echo
	echo "Medians of $rounds throughput rounds (runs: those in which other work took at most $max_other% of"
	echo "the CPUs) and of $mem_rounds memory rounds:"
	printf '%-28s %4s %9s %6s %6s %9s %7s %7s %7s %6s %6s %7s %8s %6s %9s\n' server runs 'req/s' 'vs C' 'vs C-d' 'vs Go net' \
		'p50 us' 'p99 us' 'srv us' 'srv %' 'load %' 'other %' 'KB/conn' 'vs C' 'vs Go net'
	for name in "${servers[@]}"; do
		printf '%-28s %4s %9s %6s %6s %9s %7s %7s %7s %6s %6s %7s %8s %6s %9s\n' "$name" \
			"$(counted_lines load "$name" | wc -l)" "${rps[$name]}" \
			"$(round_ratio "$name" c requests_per_second)" "$(round_ratio "$name" c-direct requests_per_second)" \
			"$(round_ratio "$name" gonet requests_per_second)" \
			"$(median load "$name" p50_us)" "$(median load "$name" p99_us)" \
			"$(median load "$name" server_cpu_us_per_request)" "$(median load "$name" server_cpu_percent)" \
			"$(median load "$name" cpu_percent)" "$(median load "$name" other_cpu_percent)" \
			"${kb[$name]}" "$(ratio "${kb[$name]}" "${kb[c]:--}")" "$(ratio "${kb[$name]}" "${kb[gonet]:--}")"
	done
	echo
	echo "vs C, vs C-d (c-direct) and vs Go net: for req/s, the median over the rounds of the ratio within"
	echo "each round; for KB/conn, the ratio of the medians. srv us: the server's CPU time per request, in microseconds."
	echo "srv % and load %: the CPU use of the server and of the load generator; the one near 100 sets the"
	echo "pace. other %: the share of both CPUs that went to other processes and to other guests of the"
	echo "hypervisor (steal) during the run. KB/conn: the server's VmRSS growth per idle connection."
	busiest=$(grep '^load ' "$raw" | field other_cpu_percent | sort -n | tail -1)
	if ((busiest > max_other)); then
		echo "In at least one run, other work took $busiest% of the two CPUs. Such runs are left out of the"
		echo "medians but kept in $raw."
	fi
} | tee -a "$raw"
