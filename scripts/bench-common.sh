# Shared by scripts/bench-echo.sh, bench-http.sh and bench-dns.sh: checks
# of the machine, the temporary folder, and the cleanup of the processes
# that a benchmark starts. Set bench_name, which messages begin with, then
# source this file.

# bench_require exits with a message when one of the commands after hint is
# missing; hint says how to install it.
bench_require() {
	local hint=$1 tool
	shift
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null; then
			echo "$bench_name: $tool is missing; $hint" >&2
			exit 1
		fi
	done
}

# bench_require_two_cpus exits unless the server on CPU 0 and the client
# named by $1 on CPU 1 can run apart.
bench_require_two_cpus() {
	if (($(nproc) < 2)); then
		echo "$bench_name: the benchmark pins the server to CPU 0 and $1 to CPU 1, but this machine has $(nproc) CPU" >&2
		exit 1
	fi
}

# bench_cleanup kills and reaps the processes in pids that are still
# running, then removes $work. The others were reaped already, and kill -0
# fails for them.
bench_cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			# bash may report on stderr that it has no record of a
			# process that it already reaped.
			{ wait "$pid" || true; } 2>/dev/null
		fi
	done
	rm -rf "$work"
}

# bench_start_workdir creates the temporary folder $work with $bin in it,
# empties pids, and installs the traps that run bench_cleanup.
bench_start_workdir() {
	local signal
	work=$(mktemp -d)
	bin=$work/bin
	pids=()
	trap bench_cleanup EXIT
	for signal in HUP INT TERM; do
		# shellcheck disable=SC2064 # the names are expanded now on purpose
		trap "echo '$bench_name: stopped by SIG$signal' >&2; exit 1" "$signal"
	done
}
