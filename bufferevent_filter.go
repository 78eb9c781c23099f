//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// FilterResult is what a filter function reports
// (enum bufferevent_filter_result).
type FilterResult int

const (
	// FilterOK reports that the filter wrote what it could to dst.
	FilterOK FilterResult = 0
	// FilterNeedMore reports that the filter needs more input before it can
	// write anything.
	FilterNeedMore FilterResult = 1
	// FilterError reports an error; libevent then runs the event callback
	// with BEVEventError.
	FilterError FilterResult = 2
)

// FilterFunc transforms data from src into dst for a filter bufferevent
// (bufferevent_filter_cb). It should not write more than limit bytes to dst
// when limit is positive. mode is FlushNormal when data simply arrived, and
// FlushAll or FlushFinished when a Flush asks for everything. src and dst
// are valid only during the call. A panic counts as FilterError and reaches
// the call that ran the filter: Write or Flush when the filter ran inside
// one, the loop's caller otherwise.
type FilterFunc func(src, dst *Buffer, limit int, mode FlushMode) FilterResult

// filterContext is the registry entry that libevent holds as a filter
// bufferevent's context, until it calls free_context.
type filterContext struct {
	bev            *BufferEvent
	input, output  FilterFunc
	contextRelease atomic.Bool // free_context has run
	key            unsafe.Pointer
}

// callbackScope owns the Buffers that a callback receives over evbuffers
// that libevent lends it; they fail with ErrClosed once the callback has
// returned.
type callbackScope struct {
	done atomic.Bool
}

func (s *callbackScope) enter(op string) error {
	if s.done.Load() {
		return wrapError(op, ErrClosed)
	}
	return nil
}

func (s *callbackScope) leave() {}

// NewBufferEventFilter creates a bufferevent that passes the data of
// underlying through Go filters (bufferevent_filter_new): input transforms
// what underlying reads before the new bufferevent's input receives it, and
// output transforms what is written to the new bufferevent before underlying
// sends it. A nil filter passes data through unchanged. libevent takes over
// underlying's callbacks. With BEVOptCloseOnFree, closing the filter closes
// underlying too, and underlying's own Close does nothing from then on.
func (b *Base) NewBufferEventFilter(underlying *BufferEvent, input, output FilterFunc, options BufferEventOptions) (*BufferEvent, error) {
	const op = "bufferevent_filter_new"
	if err := checkBufferEventOptions(op, options); err != nil {
		return nil, err
	}
	if err := underlying.enter(op); err != nil {
		return nil, err
	}
	defer underlying.leave()
	if underlying.base != b {
		return nil, invalidError(op, "the underlying bufferevent belongs to another base")
	}
	if options&BEVOptCloseOnFree != 0 && underlying.isForeign() {
		return nil, invalidError(op, "BEVOptCloseOnFree over a bufferevent that C code owns (from WrapBufferEvent)")
	}
	if err := b.enter(op); err != nil {
		return nil, err
	}
	defer b.leave()

	bev := &BufferEvent{base: b, options: options}
	bev.key = handles.register(bev)
	fc := &filterContext{bev: bev, input: input, output: output}
	fc.key = handles.register(fc)
	var owned C.int
	st, errno := C.golibevent_bev_filter_new(underlying.ptr, boolInt(input != nil), boolInt(output != nil),
		C.int(options), fc.key, bev.key, &owned)
	if st == nil {
		handles.release(bev.key)
		if owned == 0 {
			handles.release(fc.key)
		}
		return nil, opError(op, errno)
	}
	bev.attach(st)
	if options&BEVOptCloseOnFree != 0 {
		underlying.mu.Lock()
		underlying.linksLocked().ownedBy = bev
		underlying.mu.Unlock()
		bev.mu.Lock()
		bev.linksLocked().owns = underlying
		bev.mu.Unlock()
		// The filter replaced underlying's callbacks, and libevent frees it
		// with the filter, so the package's evbuffer callbacks on it go now.
		C.golibevent_bev_detach_state(underlying.st)
	}
	return bev, nil
}

func boolInt(v bool) C.int {
	if v {
		return 1
	}
	return 0
}

//export goFilterCallback
func goFilterCallback(key unsafe.Pointer, output C.int, src, dst *C.struct_evbuffer, limit C.int64_t, mode C.int) C.int {
	fc, _ := handles.lookup(key).(*filterContext)
	if fc == nil || fc.bev.life.isClosed() {
		noteDropped("filter", -1)
		return C.int(FilterError)
	}
	fn := fc.input
	if output != 0 {
		fn = fc.output
	}
	scope := &callbackScope{}
	base := fc.bev.base
	srcBuf := borrowBuffer(src, scope, base, 0, false, nil)
	dstBuf := borrowBuffer(dst, scope, base, 0, false, nil)
	defer scope.done.Store(true)
	result := FilterError
	func() {
		defer recoverCallbackFor(base)
		result = fn(srcBuf, dstBuf, int(limit), FlushMode(mode))
	}()
	if result < FilterOK || result > FilterError {
		result = FilterError
	}
	return C.int(result)
}

//export goFilterFree
func goFilterFree(key unsafe.Pointer) {
	fc, _ := handles.lookup(key).(*filterContext)
	if fc == nil || !fc.contextRelease.CompareAndSwap(false, true) {
		return
	}
	handles.release(key)
}
