/*
 * Compile-time check of the libevent headers that cgo finds. The package
 * calls functions that appeared in libevent 2.1.12 and relies on 2.1's
 * behaviour, so any other series is rejected here with a message instead of
 * failing later with undefined symbols or subtle differences.
 */
#ifndef GOLIBEVENT_LIBEVENT_VERSION_H
#define GOLIBEVENT_LIBEVENT_VERSION_H

#include <event2/event.h>

#define GOLIBEVENT_MIN_VERSION_NUMBER 0x02010c00 /* 2.1.12 */
#define GOLIBEVENT_NEXT_SERIES_NUMBER 0x02020000 /* 2.2.0 */

#if !defined(LIBEVENT_VERSION_NUMBER)
#error "golibevent: the libevent headers define no LIBEVENT_VERSION_NUMBER; install libevent 2.1.12 (run third_party/libevent/setup.sh)"
#elif LIBEVENT_VERSION_NUMBER < GOLIBEVENT_MIN_VERSION_NUMBER
#error "golibevent: libevent is older than 2.1.12; install libevent 2.1.12 (run third_party/libevent/setup.sh)"
#elif LIBEVENT_VERSION_NUMBER >= GOLIBEVENT_NEXT_SERIES_NUMBER
#error "golibevent: libevent is newer than the 2.1 series; this package supports libevent 2.1.12 to 2.1.x only (run third_party/libevent/setup.sh)"
#endif

#endif
