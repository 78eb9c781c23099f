#ifndef GOLIBEVENT_MEMCACHE_H
#define GOLIBEVENT_MEMCACHE_H

#include <stddef.h>
#include <stdint.h>

/* golibevent_memcache_install gives libevent allocation functions
 * (event_set_mem_functions) that keep the blocks libevent frees in a cache
 * per thread and hand them out again. Every block is an ordinary malloc
 * block, so free and realloc take any block libevent returns. It returns 1
 * when it installed the cache, and 0 in builds with AddressSanitizer, which
 * keep plain malloc so that a use after free is caught. */
int golibevent_memcache_install(void);

/* golibevent_memcache_thread_stats reports, for the calling thread, the
 * allocations served from its cache, those that went to malloc, and the
 * blocks its cache keeps now. */
void golibevent_memcache_thread_stats(uint64_t *hits, uint64_t *misses, uint64_t *cached);

/* golibevent_memcache_thread_empty gives the calling thread's cached blocks
 * back to free. */
void golibevent_memcache_thread_empty(void);

/* golibevent_memcache_check runs the cache's own checks: size classes, reuse,
 * the limits, and the release of a thread's blocks when the thread ends. It
 * returns 0, or the number of the first check that failed. */
int golibevent_memcache_check(void);

#endif
