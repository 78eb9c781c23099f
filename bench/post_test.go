package bench

import (
	"testing"

	"github.com/golibevent/libevent"
)

// BenchmarkPost measures Base.Post throughput while Base.Run runs the loop on
// another goroutine. One op is one Post call, and the timer stops only after
// every posted function has run on the loop. posters=1 posts from the
// benchmark's goroutine, and posters=parallel posts from GOMAXPROCS
// goroutines with b.RunParallel.
func BenchmarkPost(b *testing.B) {
	forEachBackend(b, func(b *testing.B, method string) {
		b.Run("posters=1", func(b *testing.B) {
			benchmarkPost(b, method, false, false)
		})
		b.Run("posters=parallel", func(b *testing.B) {
			benchmarkPost(b, method, true, false)
		})
	})
}

// BenchmarkPostBatches is BenchmarkPost on epoll that also counts the batches
// the loop ran posted functions in, and reports the mean number of posts per
// batch (the posts/batch metric). A batch starts with one wake-up of the
// loop, because Post activates the base's Post event only when no batch is
// already waiting. Counting costs one Event.Activate and one extra loop
// iteration per batch, so its ns/op is higher than BenchmarkPost's.
func BenchmarkPostBatches(b *testing.B) {
	b.Run("posters=1", func(b *testing.B) {
		benchmarkPost(b, "epoll", false, true)
	})
	b.Run("posters=parallel", func(b *testing.B) {
		benchmarkPost(b, "epoll", true, true)
	})
}

func benchmarkPost(b *testing.B, method string, parallel, countBatches bool) {
	base := newBase(b, method, false)

	// The loop goroutine alone runs the posted functions and the marker's
	// callback, so their variables need no synchronization. The benchmark
	// goroutine reads them after done is closed.
	ran := 0
	target := b.N
	done := make(chan struct{})
	batches := 0
	inBatch := false
	var markerErr error
	var marker *libevent.Event

	if countBatches {
		// The marker event has a higher priority than the Post event.
		// libevent stops running lower-priority callbacks as soon as an
		// event of a higher priority becomes active (event_continue in
		// libevent 2.1's event.c). So a marker activated by a posted
		// function runs right after the current batch and before the next
		// one, and its callback ends the batch.
		if err := base.SetPriorities(2); err != nil {
			b.Fatalf("Base.SetPriorities: %v", err)
		}
		var err error
		marker, err = base.NewTimer(func(*libevent.Event, libevent.EventFlags) {
			inBatch = false
		})
		if err != nil {
			b.Fatalf("NewTimer: %v", err)
		}
		if err := marker.SetPriority(0); err != nil {
			b.Fatalf("Event.SetPriority: %v", err)
		}
	}

	posted := func() {
		ran++
		if ran == target {
			close(done)
		}
	}
	if countBatches {
		posted = func() {
			if !inBatch {
				inBatch = true
				batches++
				if err := marker.Activate(libevent.EvTimeout); err != nil && markerErr == nil {
					markerErr = err
				}
			}
			ran++
			if ran == target {
				close(done)
			}
		}
	}

	startLoop(b, base)

	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := base.Post(posted); err != nil {
					b.Errorf("Base.Post: %v", err)
					return
				}
			}
		})
	} else {
		for range b.N {
			if err := base.Post(posted); err != nil {
				b.Fatalf("Base.Post: %v", err)
			}
		}
	}
	if b.Failed() {
		return
	}
	waitFor(b, done, "the posted functions to run")
	b.StopTimer()

	if markerErr != nil {
		b.Fatalf("Event.Activate of the marker: %v", markerErr)
	}
	if countBatches {
		b.ReportMetric(float64(b.N)/float64(batches), "posts/batch")
	}
}
