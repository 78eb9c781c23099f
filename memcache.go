//go:build cgo

package libevent

// #include "memcache.h"
import "C"

import "os"

// memCacheEnv names the environment variable that keeps libevent on plain
// malloc: GOLIBEVENT_MEMCACHE=off, read once when the package is
// initialized.
const memCacheEnv = "GOLIBEVENT_MEMCACHE"

// memCacheOn records whether init installed the cache.
var memCacheOn bool

// installMemCache gives libevent its allocation functions, before libevent
// allocates anything, unless the environment turns the cache off.
func installMemCache() {
	if os.Getenv(memCacheEnv) == "off" {
		return
	}
	memCacheOn = C.golibevent_memcache_install() != 0
}

// memCacheThreadStats returns the calling thread's allocations served from
// its cache and from malloc, and the blocks its cache keeps. The caller
// must stay on its thread in between (a callback, or runtime.LockOSThread).
func memCacheThreadStats() (hits, misses, held uint64) {
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
