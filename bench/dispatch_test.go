package bench

import (
	"testing"

	"github.com/golibevent/libevent"
)

// dispatchEvents is the number of persistent events on the idle pipe in the
// dispatch benchmarks. One ActivateFd call and one loop run serve all of
// them, so the cost of those two calls per callback is 1/dispatchEvents of
// their cost.
const dispatchEvents = 1000

// BenchmarkDispatch measures one callback of an Event through the package:
// libevent's dispatch of an active event plus the package's trampoline. Each
// round activates dispatchEvents events with one Base.ActivateFd call and
// runs them with one Base.Loop(LoopOnce|LoopNonBlock) call. One op is one
// callback.
func BenchmarkDispatch(b *testing.B) {
	forEachBackend(b, func(b *testing.B, method string) {
		forEachLockMode(b, func(b *testing.B, noLock bool) {
			benchmarkDispatch(b, method, noLock)
		})
	})
}

func benchmarkDispatch(b *testing.B, method string, noLock bool) {
	fd := newIdlePipe(b)
	base := newBase(b, method, noLock)

	calls := 0
	target := b.N
	var breakErr error
	callback := func(*libevent.Event, libevent.EventFlags) {
		calls++
		if calls == target {
			// The events still active stay active and are freed with
			// the base, so exactly b.N callbacks run.
			breakErr = base.LoopBreak()
		}
	}
	for i := 0; i < dispatchEvents; i++ {
		ev, err := base.NewEvent(fd, libevent.EvRead|libevent.EvPersist, callback)
		if err != nil {
			b.Fatalf("NewEvent: %v", err)
		}
		if err := ev.Add(); err != nil {
			b.Fatalf("Event.Add: %v", err)
		}
	}

	b.ResetTimer()
	for calls < target {
		if err := base.ActivateFd(fd, libevent.EvRead); err != nil {
			b.Fatalf("Base.ActivateFd: %v", err)
		}
		if err := base.Loop(libevent.LoopOnce | libevent.LoopNonBlock); err != nil {
			b.Fatalf("Base.Loop: %v", err)
		}
	}
	b.StopTimer()

	if breakErr != nil {
		b.Fatalf("Base.LoopBreak: %v", breakErr)
	}
	if calls != target {
		b.Fatalf("%d callbacks ran, expected %d", calls, target)
	}
}

// BenchmarkDispatchSelfActivate measures one callback of a persistent Event
// whose callback activates it again with Event.Activate, so each op is one
// dispatch plus one Go-to-C call. libevent runs an event that was activated
// during the callbacks in the same pass, so the loop never polls the
// backend.
func BenchmarkDispatchSelfActivate(b *testing.B) {
	forEachBackend(b, func(b *testing.B, method string) {
		forEachLockMode(b, func(b *testing.B, noLock bool) {
			benchmarkDispatchSelfActivate(b, method, noLock)
		})
	})
}

func benchmarkDispatchSelfActivate(b *testing.B, method string, noLock bool) {
	fd := newIdlePipe(b)
	base := newBase(b, method, noLock)

	calls := 0
	target := b.N
	var callbackErr error
	ev, err := base.NewEvent(fd, libevent.EvRead|libevent.EvPersist, func(ev *libevent.Event, _ libevent.EventFlags) {
		calls++
		if calls == target {
			callbackErr = base.LoopBreak()
			return
		}
		if err := ev.Activate(libevent.EvRead); err != nil {
			callbackErr = err
			_ = base.LoopBreak()
		}
	})
	if err != nil {
		b.Fatalf("NewEvent: %v", err)
	}
	if err := ev.Add(); err != nil {
		b.Fatalf("Event.Add: %v", err)
	}

	b.ResetTimer()
	if err := ev.Activate(libevent.EvRead); err != nil {
		b.Fatalf("Event.Activate: %v", err)
	}
	if err := base.Dispatch(); err != nil {
		b.Fatalf("Base.Dispatch: %v", err)
	}
	b.StopTimer()

	if callbackErr != nil {
		b.Fatalf("in the callback: %v", callbackErr)
	}
	if calls != target {
		b.Fatalf("%d callbacks ran, expected %d", calls, target)
	}
}

// BenchmarkDispatchC is BenchmarkDispatch in C: a base and events that C
// code created with a static C callback (cdispatch.c), activated by
// event_base_active_by_fd and run by event_base_loop, all inside one cgo
// call. It shows libevent's own share of BenchmarkDispatch.
func BenchmarkDispatchC(b *testing.B) {
	forEachBackend(b, func(b *testing.B, method string) {
		forEachLockMode(b, func(b *testing.B, noLock bool) {
			benchmarkDispatchC(b, method, noLock)
		})
	})
}

func benchmarkDispatchC(b *testing.B, method string, noLock bool) {
	fd := newIdlePipe(b)
	dispatcher, err := newCDispatcher(method, noLock, fd, dispatchEvents)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(dispatcher.close)

	b.ResetTimer()
	err = dispatcher.run(b.N)
	b.StopTimer()

	if err != nil {
		b.Fatal(err)
	}
}
