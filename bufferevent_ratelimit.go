//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"

static struct ev_token_bucket_cfg *golibevent_token_bucket_new(size_t read_rate,
    size_t read_burst, size_t write_rate, size_t write_burst, int64_t tick_usec)
{
	struct timeval tick;
	tick.tv_sec = (time_t)(tick_usec / 1000000);
	tick.tv_usec = (suseconds_t)(tick_usec % 1000000);
	return ev_token_bucket_cfg_new(read_rate, read_burst, write_rate,
	    write_burst, &tick);
}
*/
import "C"

import (
	"math"
	"sync"
	"time"
)

// TokenBucket is a rate limit configuration (ev_token_bucket_cfg): each tick
// adds ReadRate and WriteRate bytes to buckets that hold at most ReadBurst
// and WriteBurst bytes. One TokenBucket can limit many bufferevents, each
// with buckets of its own; a RateLimitGroup shares one pair of buckets among
// its members. It is not tied to a base.
type TokenBucket struct {
	ptr *C.struct_ev_token_bucket_cfg

	ReadRate, ReadBurst, WriteRate, WriteBurst int
	Tick                                       time.Duration

	mu     sync.Mutex
	users  int  // bufferevents that use it; libevent keeps a pointer to it
	closed bool // Close was called; the last user frees it
}

// NewTokenBucket creates a rate limit configuration
// (ev_token_bucket_cfg_new). Rates and bursts are in bytes per tick; a rate
// must be at least 1 and at most its burst. tick is the refill period,
// rounded up to a millisecond; 0 means one second.
func NewTokenBucket(readRate, readBurst, writeRate, writeBurst int, tick time.Duration) (*TokenBucket, error) {
	const op = "ev_token_bucket_cfg_new"
	if readRate < 1 || writeRate < 1 {
		return nil, invalidError(op, "rates must be at least 1 byte per tick (read %d, write %d)", readRate, writeRate)
	}
	if readRate > readBurst || writeRate > writeBurst {
		return nil, invalidError(op, "a rate exceeds its burst (read %d > %d or write %d > %d)",
			readRate, readBurst, writeRate, writeBurst)
	}
	if int64(readBurst) > math.MaxInt32 || int64(writeBurst) > math.MaxInt32 {
		return nil, invalidError(op, "burst above %d bytes", math.MaxInt32)
	}
	if tick < 0 {
		return nil, invalidError(op, "negative tick %v", tick)
	}
	if tick == 0 {
		tick = time.Second
	}
	tick = (tick + time.Millisecond - 1) / time.Millisecond * time.Millisecond
	ptr := C.golibevent_token_bucket_new(C.size_t(readRate), C.size_t(readBurst), C.size_t(writeRate),
		C.size_t(writeBurst), C.int64_t(durationToMicros(tick)))
	if ptr == nil {
		return nil, opError(op, nil)
	}
	return &TokenBucket{ptr: ptr, ReadRate: readRate, ReadBurst: readBurst, WriteRate: writeRate,
		WriteBurst: writeBurst, Tick: tick}, nil
}

// Close frees the configuration (ev_token_bucket_cfg_free) once no
// bufferevent uses it any more; libevent keeps a pointer to it in each
// bufferevent it limits. Closing twice is harmless.
func (tb *TokenBucket) Close() error {
	if tb == nil || tb.ptr == nil {
		return nil
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.closed {
		return nil
	}
	tb.closed = true
	if tb.users == 0 {
		C.ev_token_bucket_cfg_free(tb.ptr)
	}
	return nil
}

// use counts a bufferevent that libevent will point at the configuration.
func (tb *TokenBucket) use() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.closed {
		return false
	}
	tb.users++
	return true
}

// unuse ends a use; the last one frees a closed configuration.
func (tb *TokenBucket) unuse() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.users--
	if tb.users == 0 && tb.closed {
		C.ev_token_bucket_cfg_free(tb.ptr)
	}
}

// SetRateLimit limits the bufferevent's reading and writing with its own
// buckets filled by tb (bufferevent_set_rate_limit); nil removes the limit.
func (bev *BufferEvent) SetRateLimit(tb *TokenBucket) error {
	const op = "bufferevent_set_rate_limit"
	if tb != nil && tb.ptr == nil {
		return invalidError(op, "the TokenBucket was not created by NewTokenBucket")
	}
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	if tb != nil && !tb.use() {
		return wrapError(op, ErrClosed)
	}
	var cfg *C.struct_ev_token_bucket_cfg
	if tb != nil {
		cfg = tb.ptr
	}
	bev.mu.Lock()
	current := bev.linked().bucket
	bev.mu.Unlock()
	if current != nil && tb != nil && current.Tick != tb.Tick {
		// Replacing a configuration keeps the buckets' last refill time,
		// counted in ticks of the old configuration (libevent 2.1.12,
		// bufferevent_ratelim.c). Read as a count of the new ticks, that
		// time is nonsense, and libevent skips every refill that seems to
		// span more than INT_MAX ticks or to go back, so the buckets could
		// never refill again. Removing the limit first makes libevent
		// start afresh.
		C.bufferevent_set_rate_limit(bev.ptr, nil)
	}
	if C.bufferevent_set_rate_limit(bev.ptr, cfg) != 0 {
		if tb != nil {
			tb.unuse()
		}
		return opError(op, nil)
	}
	bev.mu.Lock()
	old := bev.linked().bucket
	bev.linksLocked().bucket = tb
	bev.mu.Unlock()
	if old != nil {
		// libevent no longer points at the old configuration.
		old.unuse()
	}
	return nil
}

// ReadLimit and WriteLimit return how many bytes the bufferevent's own
// buckets allow now (bufferevent_get_read_limit and _write_limit); they can
// be negative after a decrement.
func (bev *BufferEvent) ReadLimit() int64 {
	return bev.limit("bufferevent_get_read_limit", func() C.ev_ssize_t { return C.bufferevent_get_read_limit(bev.ptr) })
}

// WriteLimit is the write counterpart of ReadLimit.
func (bev *BufferEvent) WriteLimit() int64 {
	return bev.limit("bufferevent_get_write_limit", func() C.ev_ssize_t { return C.bufferevent_get_write_limit(bev.ptr) })
}

// MaxToRead and MaxToWrite return how many bytes the next read or write may
// move, after the bufferevent's and its group's limits
// (bufferevent_get_max_to_read and _write).
func (bev *BufferEvent) MaxToRead() int64 {
	return bev.limit("bufferevent_get_max_to_read", func() C.ev_ssize_t { return C.bufferevent_get_max_to_read(bev.ptr) })
}

// MaxToWrite is the write counterpart of MaxToRead.
func (bev *BufferEvent) MaxToWrite() int64 {
	return bev.limit("bufferevent_get_max_to_write", func() C.ev_ssize_t { return C.bufferevent_get_max_to_write(bev.ptr) })
}

func (bev *BufferEvent) limit(op string, get func() C.ev_ssize_t) int64 {
	if bev.enter(op) != nil {
		return 0
	}
	defer bev.leave()
	return int64(get())
}

// DecrementReadLimit and DecrementWriteLimit take n bytes from the
// bufferevent's own buckets, for data that moved outside libevent
// (bufferevent_decrement_read_limit and _write_limit); a negative n adds.
func (bev *BufferEvent) DecrementReadLimit(n int64) error {
	return bev.decrement("bufferevent_decrement_read_limit", n, true)
}

// DecrementWriteLimit is the write counterpart of DecrementReadLimit.
func (bev *BufferEvent) DecrementWriteLimit(n int64) error {
	return bev.decrement("bufferevent_decrement_write_limit", n, false)
}

func (bev *BufferEvent) decrement(op string, n int64, read bool) error {
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	bev.mu.Lock()
	limited := bev.linked().bucket != nil
	bev.mu.Unlock()
	if !limited {
		return invalidError(op, "the bufferevent has no rate limit; call SetRateLimit first")
	}
	var r C.int
	if read {
		r = C.bufferevent_decrement_read_limit(bev.ptr, C.ev_ssize_t(n))
	} else {
		r = C.bufferevent_decrement_write_limit(bev.ptr, C.ev_ssize_t(n))
	}
	if r != 0 {
		return opError(op, nil)
	}
	return nil
}

// RateLimitGroup is a set of bufferevents that share one pair of buckets
// (bufferevent_rate_limit_group): together they read and write no more than
// its configuration allows. Create one with [Base.NewRateLimitGroup].
type RateLimitGroup struct {
	ptr  *C.struct_bufferevent_rate_limit_group
	base *Base
	life lifetime

	// tick is the tick of the configuration, which SetConfig cannot
	// change.
	tick time.Duration

	mu      sync.Mutex
	members map[*BufferEvent]struct{}
}

// NewRateLimitGroup creates a group on the base with a copy of tb's
// configuration (bufferevent_rate_limit_group_new); tb may be closed
// afterwards.
func (b *Base) NewRateLimitGroup(tb *TokenBucket) (*RateLimitGroup, error) {
	const op = "bufferevent_rate_limit_group_new"
	if tb == nil || tb.ptr == nil {
		return nil, invalidError(op, "nil TokenBucket")
	}
	if !tb.use() {
		return nil, wrapError(op, ErrClosed)
	}
	defer tb.unuse()
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()
	ptr, errno := C.bufferevent_rate_limit_group_new(b.ptr, tb.ptr)
	if ptr == nil {
		return nil, opError(op, errno)
	}
	g := &RateLimitGroup{ptr: ptr, base: b, tick: tb.Tick, members: make(map[*BufferEvent]struct{})}
	b.addChild(g)
	return g, nil
}

func (g *RateLimitGroup) enter(op string) error {
	if g == nil || g.ptr == nil {
		return invalidError(op, "the RateLimitGroup was not created by NewRateLimitGroup")
	}
	if err := g.base.enter(op); err != nil {
		return err
	}
	if !g.life.acquire() {
		g.base.leave()
		return wrapError(op, ErrClosed)
	}
	return nil
}

func (g *RateLimitGroup) leave() {
	if g.life.release() {
		g.free()
	}
	g.base.leave()
}

func (g *RateLimitGroup) free() {
	if !g.base.removeChild(g) {
		return
	}
	g.release()
}

func (g *RateLimitGroup) freeWithBase() {
	g.life.close()
	g.release()
}

// release removes the members, which libevent requires before it frees a
// group, and frees it.
func (g *RateLimitGroup) release() {
	g.mu.Lock()
	members := g.members
	g.members = nil
	g.mu.Unlock()
	for bev := range members {
		C.bufferevent_remove_from_rate_limit_group(bev.ptr)
		bev.mu.Lock()
		bev.linksLocked().group = nil
		bev.mu.Unlock()
	}
	C.bufferevent_rate_limit_group_free(g.ptr)
}

// Close removes the members from the group and frees it
// (bufferevent_rate_limit_group_free). Closing twice is harmless.
func (g *RateLimitGroup) Close() error {
	if g == nil || g.ptr == nil {
		return nil
	}
	if !g.base.life.acquire() {
		g.life.close()
		return nil
	}
	defer g.base.leave()
	if first, idle := g.life.close(); first && idle {
		g.free()
	}
	return nil
}

// Add makes bev share the group's buckets, leaving any group it was in
// (bufferevent_add_to_rate_limit_group). bev must be on the group's base.
func (g *RateLimitGroup) Add(bev *BufferEvent) error {
	const op = "bufferevent_add_to_rate_limit_group"
	if err := g.enter(op); err != nil {
		return err
	}
	defer g.leave()
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	if bev.base != g.base {
		return invalidError(op, "the bufferevent belongs to another base")
	}
	bev.mu.Lock()
	old := bev.linked().group
	bev.mu.Unlock()
	if old == g {
		return nil
	}
	if C.bufferevent_add_to_rate_limit_group(bev.ptr, g.ptr) != 0 {
		return opError(op, nil)
	}
	if old != nil {
		old.forget(bev)
	}
	g.mu.Lock()
	g.members[bev] = struct{}{}
	g.mu.Unlock()
	bev.mu.Lock()
	bev.linksLocked().group = g
	bev.mu.Unlock()
	return nil
}

// Remove takes bev out of the group (bufferevent_remove_from_rate_limit_group).
func (g *RateLimitGroup) Remove(bev *BufferEvent) error {
	const op = "bufferevent_remove_from_rate_limit_group"
	if err := g.enter(op); err != nil {
		return err
	}
	defer g.leave()
	if err := bev.enter(op); err != nil {
		return err
	}
	defer bev.leave()
	bev.mu.Lock()
	member := bev.linked().group == g
	bev.mu.Unlock()
	if !member {
		return invalidError(op, "the bufferevent is not in this group")
	}
	if C.bufferevent_remove_from_rate_limit_group(bev.ptr) != 0 {
		return opError(op, nil)
	}
	g.forget(bev)
	bev.mu.Lock()
	bev.linksLocked().group = nil
	bev.mu.Unlock()
	return nil
}

// forget drops bev from the member set, after libevent has removed it.
func (g *RateLimitGroup) forget(bev *BufferEvent) {
	g.mu.Lock()
	delete(g.members, bev)
	g.mu.Unlock()
}

// SetConfig replaces the group's configuration with a copy of tb's
// (bufferevent_rate_limit_group_set_cfg). tb's tick must be the group's:
// libevent 2.1.12 keeps the time of the last refill counted in the old
// ticks, so a group with another tick could stop refilling for good.
// Create a new group to change the tick.
func (g *RateLimitGroup) SetConfig(tb *TokenBucket) error {
	const op = "bufferevent_rate_limit_group_set_cfg"
	if tb == nil || tb.ptr == nil {
		return invalidError(op, "nil TokenBucket")
	}
	if g != nil && tb.Tick != g.tick {
		return invalidError(op, "tick %v differs from the group's tick %v; create a new group to change the tick", tb.Tick, g.tick)
	}
	if !tb.use() {
		return wrapError(op, ErrClosed)
	}
	defer tb.unuse()
	if err := g.enter(op); err != nil {
		return err
	}
	defer g.leave()
	if C.bufferevent_rate_limit_group_set_cfg(g.ptr, tb.ptr) != 0 {
		return opError(op, nil)
	}
	return nil
}

// SetMinShare sets the fewest bytes that each member may move when the
// group's bucket is shared out (bufferevent_rate_limit_group_set_min_share);
// libevent's default is 64, and 0 turns the minimum off.
func (g *RateLimitGroup) SetMinShare(n int) error {
	const op = "bufferevent_rate_limit_group_set_min_share"
	if n < 0 || int64(n) > math.MaxInt32 {
		return invalidError(op, "share %d out of range", n)
	}
	if err := g.enter(op); err != nil {
		return err
	}
	defer g.leave()
	if C.bufferevent_rate_limit_group_set_min_share(g.ptr, C.size_t(n)) != 0 {
		return opError(op, nil)
	}
	return nil
}

// ReadLimit and WriteLimit return how many bytes the group's buckets allow
// now (bufferevent_rate_limit_group_get_read_limit and _write_limit).
func (g *RateLimitGroup) ReadLimit() int64 {
	if g.enter("bufferevent_rate_limit_group_get_read_limit") != nil {
		return 0
	}
	defer g.leave()
	return int64(C.bufferevent_rate_limit_group_get_read_limit(g.ptr))
}

// WriteLimit is the write counterpart of ReadLimit.
func (g *RateLimitGroup) WriteLimit() int64 {
	if g.enter("bufferevent_rate_limit_group_get_write_limit") != nil {
		return 0
	}
	defer g.leave()
	return int64(C.bufferevent_rate_limit_group_get_write_limit(g.ptr))
}

// DecrementRead and DecrementWrite take n bytes from the group's buckets
// (bufferevent_rate_limit_group_decrement_read and _write); a negative n
// adds.
func (g *RateLimitGroup) DecrementRead(n int64) error {
	const op = "bufferevent_rate_limit_group_decrement_read"
	if err := g.enter(op); err != nil {
		return err
	}
	defer g.leave()
	if C.bufferevent_rate_limit_group_decrement_read(g.ptr, C.ev_ssize_t(n)) != 0 {
		return opError(op, nil)
	}
	return nil
}

// DecrementWrite is the write counterpart of DecrementRead.
func (g *RateLimitGroup) DecrementWrite(n int64) error {
	const op = "bufferevent_rate_limit_group_decrement_write"
	if err := g.enter(op); err != nil {
		return err
	}
	defer g.leave()
	if C.bufferevent_rate_limit_group_decrement_write(g.ptr, C.ev_ssize_t(n)) != 0 {
		return opError(op, nil)
	}
	return nil
}

// Totals returns the bytes the members have read and written since the
// group was created or ResetTotals (bufferevent_rate_limit_group_get_totals).
func (g *RateLimitGroup) Totals() (read, written uint64) {
	if g.enter("bufferevent_rate_limit_group_get_totals") != nil {
		return 0, 0
	}
	defer g.leave()
	var r, w C.ev_uint64_t
	C.bufferevent_rate_limit_group_get_totals(g.ptr, &r, &w)
	return uint64(r), uint64(w)
}

// ResetTotals sets the totals to zero
// (bufferevent_rate_limit_group_reset_totals).
func (g *RateLimitGroup) ResetTotals() error {
	const op = "bufferevent_rate_limit_group_reset_totals"
	if err := g.enter(op); err != nil {
		return err
	}
	defer g.leave()
	C.bufferevent_rate_limit_group_reset_totals(g.ptr)
	return nil
}
