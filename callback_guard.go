//go:build cgo

package libevent

import "sync/atomic"

// callbackGuard lets calls from other goroutines avoid waiting for a
// callback of the same object. libevent runs a bufferevent's callbacks with
// the bufferevent's lock held, and frees or disables a listener only after
// its running accept callback returns. A callback that waits for another
// goroutine that is itself in Close or Disable of the same object would
// deadlock. While one of the object's callbacks runs, such calls are queued
// to the loop with Post and return at once. They take effect after the
// callback has returned.
type callbackGuard struct {
	// running counts the object's callbacks in progress.
	running atomic.Int32
	// queued counts calls queued with Post and not yet run. Later calls
	// are queued behind them, so that they take effect in call order.
	queued atomic.Int32
}

// begin marks the start of a callback. A trampoline calls it before it
// checks whether the object is closed, and Close marks the object closed
// before it reads running. With sequentially consistent atomics, either the
// trampoline finds the object closed or Close finds the callback running.
func (g *callbackGuard) begin() { g.running.Add(1) }

// end marks the end of a callback.
func (g *callbackGuard) end() { g.running.Add(-1) }

// shouldQueue reports whether a call on the object must be queued: it comes
// from another goroutine while the loop runs, and a callback of the object
// is running or an earlier call is still queued.
func (g *callbackGuard) shouldQueue(b *Base) bool {
	return (g.running.Load() > 0 || g.queued.Load() > 0) && b.running.Load() && !b.onLoopThread()
}

// queue runs fn on the loop's goroutine after the calls queued before it.
func (g *callbackGuard) queue(b *Base, fn func()) error {
	g.queued.Add(1)
	err := b.Post(func() {
		defer g.queued.Add(-1)
		fn()
	})
	if err != nil {
		g.queued.Add(-1)
	}
	return err
}
