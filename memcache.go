//go:build cgo

package libevent

// #include "memcache.h"
import "C"

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// memCacheEnv names the environment variable that keeps libevent on plain
// malloc: GOLIBEVENT_MEMCACHE=off (or 0 or false), read once when the
// package is initialized.
const memCacheEnv = "GOLIBEVENT_MEMCACHE"

// memCacheOn records whether init installed the cache.
var memCacheOn bool

// MemCacheEnabled reports whether the package gave libevent its allocation
// cache when it was initialized. See "Memory" in the package documentation.
func MemCacheEnabled() bool {
	return memCacheOn
}

// installMemCache gives libevent its allocation functions, before libevent
// allocates anything, unless the environment turns the cache off or the
// program is not a Go program.
//
// In a Go program, package initialization runs on the process's main
// thread before any C code of the program can use libevent. In a C
// program that links Go as a c-archive or c-shared library, it runs on a
// thread of its own. C code may already be using libevent there, maybe
// with allocation functions of its own, and replacing them would hand
// their blocks to free. Comparing the thread with the main thread
// separates the two cases.
func installMemCache() {
	switch strings.ToLower(os.Getenv(memCacheEnv)) {
	case "off", "0", "false":
		return
	}
	if unix.Gettid() != unix.Getpid() {
		return
	}
	memCacheOn = C.golibevent_memcache_install() != 0
}

// memCacheThreadStats returns the calling thread's allocations served from
// its cache and from malloc, and the blocks its cache keeps. The caller
// must stay on its thread in between (a callback, or runtime.LockOSThread).
func memCacheThreadStats() (hits, misses, cached uint64) {
	var h, m, n C.uint64_t
	C.golibevent_memcache_thread_stats(&h, &m, &n)
	return uint64(h), uint64(m), uint64(n)
}

// emptyMemCacheThread gives the calling thread's cached blocks back to
// free, so that a test starts from an empty cache.
func emptyMemCacheThread() {
	C.golibevent_memcache_thread_empty()
}

// checkMemCache runs the C checks of the cache and returns the number of
// the first one that failed, or 0.
func checkMemCache() int {
	return int(C.golibevent_memcache_check())
}
