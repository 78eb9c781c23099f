/*
 * A cache per thread in front of malloc, for libevent's own allocations.
 *
 * An HTTP request makes about 26 small allocations inside evhttp (headers,
 * their names and values, request lines, buffers). A single-threaded C
 * program gets most of them from glibc without a lock. A Go program always
 * runs several threads, so glibc takes its arena lock for each allocation
 * that its own per-thread cache (tcache) does not serve, such as calloc and
 * sizes whose tcache bin is empty or full. This cache keeps freed blocks
 * per size class, per thread, without locks. A class keeps at least
 * CLASS_MIN_COUNT blocks, and more while they fit in CLASS_BYTES. The cache
 * keeps at most GROUP_BYTES of small blocks and GROUP_BYTES of large ones,
 * so that large blocks never crowd out the small ones. Its blocks come from malloc and go back to free, so code
 * that calls malloc and free directly can share every block with it.
 */
#include "memcache.h"

#include <event2/event.h>

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Classes 0 to 63 are the usable sizes of glibc's small chunks on 64-bit
 * systems, 24 to 1032 bytes in steps of 16, so that a block from the cache
 * is never larger than the one malloc would give. Classes 64 to 67 are 2, 4,
 * 8 and 16 KiB and serve only requests of exactly that size: libevent 2.1
 * allocates evbuffer chains in powers of two from 1024 bytes
 * (MIN_BUFFER_SIZE in evbuffer-internal.h). Other requests go to malloc. */
#define SMALL_MIN ((size_t)24)
#define SMALL_STEP ((size_t)16)
#define SMALL_CLASSES 64
#define LARGE_CLASSES 4
#define CLASSES (SMALL_CLASSES + LARGE_CLASSES)
#define SMALL_MAX (SMALL_MIN + SMALL_STEP * (SMALL_CLASSES - 1))
#define LARGE_MIN ((size_t)2048)
#define LARGE_MAX (LARGE_MIN << (LARGE_CLASSES - 1))

/* A server loop pass that reads 50 keep-alive connections makes their 50
 * requests before it frees any of them: about 15 blocks each of the smallest
 * class, for header names and values. The byte share lets a class of small
 * blocks hold a pass's worth. */
#define CLASS_MIN_COUNT 64
#define CLASS_BYTES ((size_t)32 * 1024)
#define GROUP_BYTES ((size_t)128 * 1024)

struct cached_block {
	struct cached_block *next;
	/* malloc_usable_size of the block, which the byte limits count. */
	size_t usable;
};

struct thread_cache {
	struct cached_block *head[CLASSES];
	unsigned count[CLASSES];
	/* Usable bytes kept in small blocks (bytes[0]) and in large ones
	 * (bytes[1]). */
	size_t bytes[2];
	/* 0 before the thread first caches a block, 1 while it caches, and -1
	 * once the thread's exit handler has emptied the cache. */
	int state;
	uint64_t hits;
	uint64_t misses;
};

static __thread struct thread_cache cache;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_created;
/* Blocks that exit handlers gave back to free, in all threads. The checks
 * read it. */
static uint64_t blocks_released_at_exit;

static int class_group(int c)
{
	return c >= SMALL_CLASSES;
}

static size_t class_size(int c)
{
	if (c < SMALL_CLASSES)
		return SMALL_MIN + (size_t)c * SMALL_STEP;
	return LARGE_MIN << (c - SMALL_CLASSES);
}

/* class_limit returns the number of blocks that class c may keep. */
static unsigned class_limit(int c)
{
	size_t n = CLASS_BYTES / class_size(c);
	return n > CLASS_MIN_COUNT ? (unsigned)n : CLASS_MIN_COUNT;
}

/* class_for_request returns the smallest class whose blocks hold n bytes,
 * or -1 when no class serves n. */
static int class_for_request(size_t n)
{
	int c;
	if (n <= SMALL_MIN)
		return 0;
	if (n <= SMALL_MAX)
		return (int)((n - SMALL_MIN + SMALL_STEP - 1) / SMALL_STEP);
	for (c = SMALL_CLASSES; c < CLASSES; c++) {
		if (class_size(c) == n)
			return c;
	}
	return -1;
}

/* class_for_block returns the largest class whose size fits in a block of
 * usable bytes, or -1, so that a block taken from class c always has room
 * for class_size(c) bytes. A block of twice the largest class or more gets
 * -1: such a block, like the multi-megabyte chains of a large evbuffer,
 * would serve only 16 KiB requests while it holds far more memory. */
static int class_for_block(size_t usable)
{
	int c;
	if (usable < SMALL_MIN)
		return -1;
	if (usable < LARGE_MIN) {
		c = (int)((usable - SMALL_MIN) / SMALL_STEP);
		return c >= SMALL_CLASSES ? SMALL_CLASSES - 1 : c;
	}
	if (usable >= 2 * LARGE_MAX)
		return -1;
	for (c = SMALL_CLASSES; c + 1 < CLASSES && class_size(c + 1) <= usable; c++)
		;
	return c;
}

/* release_blocks gives every cached block of the calling thread back to
 * free and returns their number. */
static uint64_t release_blocks(void)
{
	uint64_t released = 0;
	int c;
	for (c = 0; c < CLASSES; c++) {
		while (cache.head[c] != NULL) {
			struct cached_block *b = cache.head[c];
			cache.head[c] = b->next;
			free(b);
			released++;
		}
		cache.count[c] = 0;
	}
	cache.bytes[0] = 0;
	cache.bytes[1] = 0;
	return released;
}

/* empty_cache is the destructor of exit_key. It runs when a thread that
 * cached blocks ends, and the thread caches nothing after that. */
static void empty_cache(void *unused)
{
	uint64_t released;
	(void)unused;
	released = release_blocks();
	cache.state = -1;
	__atomic_add_fetch(&blocks_released_at_exit, released, __ATOMIC_RELAXED);
}

static void *cached_malloc(size_t n)
{
	int c = class_for_request(n);
	int from = c;
	struct cached_block *b;
	if (c < 0) {
		cache.misses++;
		return malloc(n);
	}
	b = cache.head[from];
	if (b == NULL && from + 1 < CLASSES && class_group(from + 1) == class_group(from)) {
		/* malloc can return a chunk larger than requested, and such a
		 * block lands one class up when it is freed. */
		from++;
		b = cache.head[from];
	}
	if (b == NULL) {
		cache.misses++;
		return malloc(class_size(c));
	}
	cache.head[from] = b->next;
	cache.count[from]--;
	cache.bytes[class_group(from)] -= b->usable;
	cache.hits++;
	return b;
}

static void *cached_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

static void cached_free(void *p)
{
	struct cached_block *b = p;
	size_t usable;
	int c;
	if (p == NULL)
		return;
	if (cache.state <= 0) {
		/* The thread's exit handler must be registered before its
		 * cache keeps any block. */
		if (cache.state < 0 || !exit_key_created ||
		    pthread_setspecific(exit_key, &cache) != 0) {
			free(p);
			return;
		}
		cache.state = 1;
	}
	usable = malloc_usable_size(p);
	c = class_for_block(usable);
	if (c < 0 || cache.count[c] >= class_limit(c) ||
	    cache.bytes[class_group(c)] + usable > GROUP_BYTES) {
		free(p);
		return;
	}
	b->next = cache.head[c];
	b->usable = usable;
	cache.head[c] = b;
	cache.count[c]++;
	cache.bytes[class_group(c)] += usable;
}

static void create_exit_key(void)
{
	exit_key_created = pthread_key_create(&exit_key, empty_cache) == 0;
}

int golibevent_memcache_install(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 0;
#else
	pthread_once(&exit_key_once, create_exit_key);
	event_set_mem_functions(cached_malloc, cached_realloc, cached_free);
	return 1;
#endif
}

void golibevent_memcache_thread_empty(void)
{
	release_blocks();
}

void golibevent_memcache_thread_stats(uint64_t *hits, uint64_t *misses, uint64_t *cached)
{
	uint64_t n = 0;
	int c;
	for (c = 0; c < CLASSES; c++)
		n += cache.count[c];
	*hits = cache.hits;
	*misses = cache.misses;
	*cached = n;
}

/* Blocks that the limit check allocates beyond a class's limit. */
#define EXTRA_BLOCKS 64

/* check_on_thread runs the checks that need a thread of their own: reuse
 * and the limits. It stores in *arg the blocks that its cache keeps when it
 * ends. */
static void *check_on_thread(void *arg)
{
	unsigned *cached = arg;
	static const size_t sizes[2] = {40, 1000};
	/* Room for the largest class limit, that of the smallest class, and
	 * EXTRA_BLOCKS more. */
	static __thread void *blocks[CLASS_BYTES / SMALL_MIN + EXTRA_BLOCKS];
	void *p, *q;
	unsigned n;
	int i, c, k;

	*cached = 0;
	p = cached_malloc(100);
	cached_free(p);
	q = cached_malloc(100);
	if (q != p || cache.hits != 1)
		return (void *)(intptr_t)10;
	cached_free(q);

	/* A class of 40-byte blocks keeps as many as fit in CLASS_BYTES, and
	 * one of 1000-byte blocks keeps CLASS_MIN_COUNT. */
	if (class_limit(class_for_request(40)) != CLASS_BYTES / 40 ||
	    class_limit(class_for_request(1000)) != CLASS_MIN_COUNT)
		return (void *)(intptr_t)11;
	for (k = 0; k < 2; k++) {
		unsigned limit, fit = 0, want;
		c = class_for_request(sizes[k]);
		limit = class_limit(c);
		/* malloc may give a chunk larger than requested, whose block
		 * goes to a larger class, so the check counts the blocks that
		 * fit class c and needs more of them than the limit. */
		for (i = 0; i < (int)limit + EXTRA_BLOCKS; i++) {
			blocks[i] = cached_malloc(sizes[k]);
			if (class_for_block(malloc_usable_size(blocks[i])) == c)
				fit++;
		}
		if (fit <= limit)
			return (void *)(intptr_t)15;
		want = cache.count[c] + fit < limit ? cache.count[c] + fit : limit;
		for (i = 0; i < (int)limit + EXTRA_BLOCKS; i++)
			cached_free(blocks[i]);
		if (cache.count[c] != want || cache.bytes[0] > GROUP_BYTES)
			return (void *)(intptr_t)11;
	}

	/* The cache keeps at most GROUP_BYTES of large blocks, here of 16
	 * KiB, and they leave room for the small ones. */
	for (i = 0; i < 20; i++)
		blocks[i] = cached_malloc(LARGE_MAX);
	for (i = 0; i < 20; i++)
		cached_free(blocks[i]);
	if (cache.bytes[1] > GROUP_BYTES || cache.count[CLASSES - 1] == 0)
		return (void *)(intptr_t)12;
	p = cached_malloc(16);
	cached_free(p);
	if (cached_malloc(16) != p)
		return (void *)(intptr_t)13;

	/* A block far larger than every class goes back to free, and the
	 * byte counts stay within their limits. */
	p = cached_malloc((size_t)1 << 20);
	n = cache.count[CLASSES - 1];
	cached_free(p);
	if (cache.count[CLASSES - 1] != n || cache.bytes[0] > GROUP_BYTES ||
	    cache.bytes[1] > GROUP_BYTES)
		return (void *)(intptr_t)14;

	for (c = 0; c < CLASSES; c++)
		*cached += cache.count[c];
	return NULL;
}

int golibevent_memcache_check(void)
{
	pthread_t thread;
	void *result;
	unsigned cached;
	uint64_t released_before;
	size_t n;
	int c;

	/* The checks run the cache's functions directly, so they also run in
	 * builds that never install them. */
	pthread_once(&exit_key_once, create_exit_key);

	/* A small request gets the smallest class that is large enough, and
	 * a larger one only a class of exactly its size. */
	for (n = 0; n <= LARGE_MAX + 1; n++) {
		c = class_for_request(n);
		if (n > SMALL_MAX) {
			if (c >= 0 && class_size(c) != n)
				return 1;
			if (c < 0 && (n == LARGE_MIN || n == LARGE_MAX))
				return 1;
			continue;
		}
		if (c < 0 || class_size(c) < n || (c > 0 && class_size(c - 1) >= n))
			return 2;
		/* On 64-bit systems glibc gives n bytes a chunk of n + 8 rounded
		 * up to 16, of which 8 less are usable: the class is that. */
		if (n > SMALL_MIN && class_size(c) != (n + 8 + 15) / 16 * 16 - 8)
			return 2;
	}
	/* A block goes back to a class no larger than its usable size, and a
	 * block that malloc gave for class c goes back to class c or, when
	 * malloc gave more than requested, to a larger one. */
	for (n = SMALL_MIN; n < 2 * LARGE_MAX; n++) {
		c = class_for_block(n);
		if (c < 0 || class_size(c) > n)
			return 3;
	}
	/* Larger blocks are never cached. */
	if (class_for_block(2 * LARGE_MAX) >= 0 ||
	    class_for_block((size_t)32 << 20) >= 0)
		return 3;
	for (c = 0; c < CLASSES; c++) {
		void *p = malloc(class_size(c));
		int back;
		if (p == NULL)
			return 4;
		back = class_for_block(malloc_usable_size(p));
		free(p);
		if (back < c)
			return 5;
	}

	released_before = __atomic_load_n(&blocks_released_at_exit, __ATOMIC_RELAXED);
	if (pthread_create(&thread, NULL, check_on_thread, &cached) != 0)
		return 6;
	if (pthread_join(thread, &result) != 0)
		return 7;
	if (result != NULL)
		return (int)(intptr_t)result;
	if (cached == 0 ||
	    __atomic_load_n(&blocks_released_at_exit, __ATOMIC_RELAXED) - released_before < cached)
		return 8;
	return 0;
}
