#!/usr/bin/env bash
# Compares examples/httpd and examples/echo at -cores 1 and -cores 2. Each
# round drives httpd with wrk against /hello, then echo with
# bench/cmd/echoload, at 1 and at 2 cores. It prints the requests per
# second of each run, the 2-core/1-core ratio and the 1-minute load
# average before the round. The order of the two core counts alternates each round, so that a
# change of load during the script does not favour one of them.
#
# Nothing is pinned to a CPU: on a 2-CPU machine the server and the load
# generator share both CPUs, so the figures show what a second loop gains
# when the client runs on the same machine, not the scaling of the server
# alone.
#
# Everything listens on and connects to 127.0.0.1 only. Each run is
# bounded by timeout, and the whole script reruns itself under timeout, so
# that it ends by itself after CORES_TIME_LIMIT seconds at most. The EXIT
# trap stops the server that the script started, by its process id.
#
# Environment (all optional):
#   CORES_ROUNDS      rounds (default: 3)
#   CORES_DURATION    seconds per wrk or echoload run (default: 3)
#   CORES_CONNS       connections of wrk and echoload (default: 50)
#   CORES_TIME_LIMIT  seconds after which the script stops itself
#                     (default: 300)
set -euo pipefail

time_limit=${CORES_TIME_LIMIT:-300}
if [[ -z ${GOLIBEVENT_CORES_BENCH_BOUNDED:-} ]]; then
	export GOLIBEVENT_CORES_BENCH_BOUNDED=1
	exec timeout --kill-after=15 "$time_limit" "$0" "$@"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${CORES_ROUNDS:-3}
duration=${CORES_DURATION:-3}
conns=${CORES_CONNS:-50}

for tool in go wrk; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench-cores: $tool is missing; install it (third_party/libevent/setup.sh --test-tools installs wrk)" >&2
		exit 1
	fi
done

bin=$(mktemp -d)
server_pid=""
cleanup() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$bin"
}
trap cleanup EXIT

(cd "$root" && go build -o "$bin/httpd" ./examples/httpd && go build -o "$bin/echo" ./examples/echo)
(cd "$root/bench" && go build -o "$bin/echoload" ./cmd/echoload)

# start_server runs a server in the background and waits until its port
# accepts connections. It sets server_pid.
start_server() {
	local port=$1
	shift
	"$@" 2>/dev/null &
	server_pid=$!
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "bench-cores: the server did not listen on 127.0.0.1:$port: $*" >&2
	exit 1
}

stop_server() {
	kill "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

# run_httpd sets result to the requests per second of wrk against httpd at
# $1 cores. The functions run in the script's own shell, not in a command
# substitution, so that the EXIT trap can read server_pid.
run_httpd() {
	local port=28431 out
	start_server "$port" "$bin/httpd" -listen "127.0.0.1:$port" -root "$bin" -cores "$1"
	out=$(timeout $((duration + 30)) wrk -t1 -c"$conns" -d"${duration}s" "http://127.0.0.1:$port/hello")
	result=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
	stop_server
}

# run_echo sets result to the requests per second of echoload against echo
# at $1 cores.
run_echo() {
	local port=28432 out
	start_server "$port" "$bin/echo" -listen "127.0.0.1:$port" -cores "$1"
	out=$(timeout $((duration + 30)) "$bin/echoload" -addr "127.0.0.1:$port" -conns "$conns" -size 64 \
		-duration "${duration}s" -warmup 500ms)
	result=$(sed -n 's/.* requests_per_second=\([0-9]*\).*/\1/p' <<<"$out")
	stop_server
}

printf '%-6s %-5s %-6s %12s %12s %6s\n' server round load 1-core 2-core ratio
for round in $(seq "$rounds"); do
	load=$(cut -d' ' -f1 /proc/loadavg)
	for server in httpd echo; do
		if ((round % 2)); then
			"run_$server" 1
			one=$result
			"run_$server" 2
			two=$result
		else
			"run_$server" 2
			two=$result
			"run_$server" 1
			one=$result
		fi
		ratio=$(awk -v a="$one" -v b="$two" 'BEGIN { printf "%.2f", b / a }')
		printf '%-6s %-5s %-6s %12s %12s %6s\n' "$server" "$round" "$load" "$one" "$two" "$ratio"
	done
done
