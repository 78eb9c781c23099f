// Command golib is the Go half of the mixed-c example. Built with
// -buildmode=c-archive, it gives the C program in ../host the functions
// below, which add Go code to the C program's event_base and HTTP server.
package main

/*
#include <event2/event.h>
#include <event2/http.h>
*/
import "C"

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	libevent "github.com/golibevent/libevent"
)

// tickInterval is the period of the Go timer on the C program's loop.
const tickInterval = 100 * time.Millisecond

// exitDelay is how long the loop runs on after the /go reply. The loop
// writes the reply on its next iteration, well before this timer expires.
const exitDelay = 200 * time.Millisecond

// The wrappers live from GoStart to GoStop. C calls both on its main
// thread, and the callbacks run there too, inside event_base_dispatch.
var (
	base   *libevent.Base
	server *libevent.HTTPServer
	timer  *libevent.Event
	ticks  atomic.Int64
)

// GoInit returns 0 once the Go runtime and the libevent package are
// initialized, or -1 when the linked libevent is unusable. The package's
// initialization turns on libevent's thread locking, which a base gets
// only when it is created afterwards, so C calls GoInit before
// event_base_new.
//
//export GoInit
func GoInit() C.int {
	version := libevent.Version()
	if version == "" {
		fmt.Fprintln(os.Stderr, "go: libevent reports no version")
		return -1
	}
	fmt.Printf("go: initialized with libevent %s\n", version)
	// In a c-archive the package leaves libevent's allocation functions to
	// the C program, which may have set its own before Go started.
	fmt.Printf("go: allocation cache enabled: %v\n", libevent.MemCacheEnabled())
	return 0
}

// GoStart wraps the C program's base and HTTP server, adds a timer that
// counts ticks and a handler for /go. It returns 0, or -1 after it printed
// why it failed.
//
//export GoStart
func GoStart(cbase *C.struct_event_base, chttp *C.struct_evhttp) C.int {
	if err := start(unsafe.Pointer(cbase), unsafe.Pointer(chttp)); err != nil {
		fmt.Fprintln(os.Stderr, "go: start failed:", err)
		GoStop()
		return -1
	}
	return 0
}

func start(cbase, chttp unsafe.Pointer) error {
	var err error
	base, err = libevent.WrapBase(cbase)
	if err != nil {
		return err
	}
	timer, err = base.NewEvent(-1, libevent.EvPersist, func(*libevent.Event, libevent.EventFlags) {
		ticks.Add(1)
	})
	if err != nil {
		return err
	}
	if err := timer.AddTimeout(tickInterval); err != nil {
		return err
	}
	server, err = libevent.WrapHTTPServer(chttp, base)
	if err != nil {
		return err
	}
	return server.Handle("/go", serveGo)
}

// serveGo replies to /go and then ends the C program's loop.
func serveGo(r *libevent.HTTPRequest) {
	body := fmt.Sprintf("hello from Go on the C program's loop (%s), after %d timer ticks\n",
		base.Method(), ticks.Load())
	r.OutputHeaders().Set("Content-Type", "text/plain; charset=utf-8")
	if err := r.SendReply(200, "OK", []byte(body)); err != nil {
		fmt.Fprintln(os.Stderr, "go: reply to /go failed:", err)
	}
	fmt.Println("go: served /go; the loop ends in", exitDelay)
	if err := base.LoopExit(exitDelay); err != nil {
		fmt.Fprintln(os.Stderr, "go: event_base_loopexit failed:", err)
	}
}

// GoStop closes the Go wrappers: the timer, the /go handler and the Base.
// The C program's base and HTTP server stay, for C to free. Calling it
// twice is harmless.
//
//export GoStop
func GoStop() {
	if timer != nil {
		timer.Close()
	}
	if server != nil {
		server.Close()
	}
	if base != nil {
		base.Close()
		fmt.Printf("go: stopped after %d timer ticks\n", ticks.Load())
	}
	timer, server, base = nil, nil, nil
}

func main() {}
