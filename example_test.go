//go:build cgo

package libevent_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"syscall"
	"time"

	"github.com/golibevent/libevent"
)

// A read event on a pipe: the callback runs on the loop's goroutine when the
// pipe has data.
func ExampleBase_NewEvent() {
	base, err := libevent.NewBase(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer base.Close()

	r, w, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	// Fd puts the pipe into blocking mode; libevent expects non-blocking
	// descriptors (its debug mode insists on them).
	fd := int(r.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		log.Fatal(err)
	}

	ev, err := base.NewEvent(fd, libevent.EvRead, func(ev *libevent.Event, what libevent.EventFlags) {
		buf := make([]byte, 64)
		n, _ := r.Read(buf)
		fmt.Printf("%v: %q\n", what, buf[:n])
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := ev.Add(); err != nil {
		log.Fatal(err)
	}
	w.WriteString("hello")

	// Dispatch returns ErrNoEvents once the non-persistent event has fired.
	if err := base.Dispatch(); !errors.Is(err, libevent.ErrNoEvents) {
		log.Fatal(err)
	}
	// Output: EvRead: "hello"
}

// A persistent timer fires every interval until it is closed.
func ExampleBase_NewTimer() {
	base, err := libevent.NewBase(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer base.Close()

	ticks := 0
	tick, err := base.NewEvent(-1, libevent.EvPersist, func(ev *libevent.Event, _ libevent.EventFlags) {
		ticks++
		fmt.Println("tick", ticks)
		if ticks == 3 {
			ev.Close()
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := tick.AddTimeout(time.Millisecond); err != nil {
		log.Fatal(err)
	}
	base.Dispatch()
	// Output:
	// tick 1
	// tick 2
	// tick 3
}

// Post runs functions on the loop's goroutine from any goroutine; Run returns
// when its context is done.
func ExampleBase_Post() {
	base, err := libevent.NewBase(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer base.Close()

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for i := 1; i <= 3; i++ {
			base.Post(func() { fmt.Println("posted", i) })
		}
		base.Post(cancel)
	}()
	err = base.Run(ctx)
	fmt.Println(err)
	// Output:
	// posted 1
	// posted 2
	// posted 3
	// context canceled
}

// Once runs a callback a single time, here after a timeout.
func ExampleBase_Once() {
	base, err := libevent.NewBase(&libevent.Config{Method: "poll"})
	if err != nil {
		log.Fatal(err)
	}
	defer base.Close()

	err = base.Once(-1, libevent.EvTimeout, 5*time.Millisecond, func(fd int, what libevent.EventFlags) {
		fmt.Println("once:", what, "on", base.Method())
	})
	if err != nil {
		log.Fatal(err)
	}
	base.Dispatch()
	// Output: once: EvTimeout on poll
}

// A panic in a callback reaches the code that ran the loop, and the base
// keeps working.
func ExampleBase_Dispatch_panic() {
	base, err := libevent.NewBase(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer base.Close()

	base.Once(-1, 0, 0, func(int, libevent.EventFlags) { panic("callback failed") })
	func() {
		defer func() { fmt.Println("recovered:", recover()) }()
		base.Dispatch()
	}()

	base.Once(-1, 0, 0, func(int, libevent.EventFlags) { fmt.Println("still running") })
	base.Dispatch()
	// Output:
	// recovered: callback failed
	// still running
}
