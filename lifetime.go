//go:build cgo

package libevent

import "sync/atomic"

// lifetime counts the calls in flight on a wrapper of C memory, so that the
// memory is freed exactly once and never while a call uses it. A method
// acquires before it touches the C object and releases afterwards. close
// marks the wrapper closed, after which acquire fails. Whoever leaves the
// wrapper closed with no call in flight frees it: close itself when nothing
// was in flight, otherwise the last release.
type lifetime struct {
	// state is lifetimeClosed, set once, plus the number of calls in flight.
	state atomic.Uint64
}

const lifetimeClosed = 1 << 63

// acquire reports whether a call may use the object; it fails once the
// object is closed.
func (l *lifetime) acquire() bool {
	for {
		s := l.state.Load()
		if s&lifetimeClosed != 0 {
			return false
		}
		if l.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// release ends a call. It returns true when the object is closed and this was
// the last call in flight, so the caller must free the object.
func (l *lifetime) release() bool {
	return l.state.Add(^uint64(0)) == lifetimeClosed
}

// close marks the object closed. first reports whether this call closed it;
// idle reports whether no call was in flight, in which case the caller must
// free the object.
func (l *lifetime) close() (first, idle bool) {
	old := l.state.Or(lifetimeClosed)
	return old&lifetimeClosed == 0, old == 0
}

func (l *lifetime) isClosed() bool {
	return l.state.Load()&lifetimeClosed != 0
}
