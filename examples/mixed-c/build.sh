#!/bin/sh
# Builds the mixed-c example into DIR (default examples/mixed-c/build):
# DIR/golib.a and DIR/golib.h from the Go package golib, then the C program
# DIR/mixed-c from host/main.c linked with them.
#
# The c-archive holds Go's runtime, the Go code and the package's C shims,
# but not libevent: go build records the package's -levent flags and leaves
# them to the final link. So the C program links
# libevent's static archives once, after golib.a, and the one copy serves
# both the C code and the Go code. Linking them twice, or adding a shared
# libevent, would give the program two libevents with separate state.
#
# Environment: GO (default go) and CC (default cc).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/build"}
mkdir -p "$out"
out=$(cd "$out" && pwd)

(cd "$here" && "${GO:-go}" build -buildmode=c-archive -o "$out/golib.a" ./golib)

"${CC:-cc}" -Wall -Wextra -O2 -I"$out" -o "$out/mixed-c" "$here/host/main.c" \
	"$out/golib.a" \
	-Wl,-Bstatic -levent_extra -levent_pthreads -levent_core -Wl,-Bdynamic \
	-lpthread
