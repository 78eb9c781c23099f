// Command http-pkg is the package's server in the HTTP benchmarks. It
// replies to every request with "Hello, World!" as text/plain, through a
// native HandlerFunc or through the net/http Handler adapter, and listens
// on 127.0.0.1 only:
//
//	http-pkg [-mode native|adapter] [-changelist] [-stats] PORT
//
// PORT 0 lets the kernel choose a free port. Once the server listens it
// prints "listening 127.0.0.1:PORT", and it runs until it is killed. With
// -stats, SIGTERM or SIGINT makes it print the requests it served and the
// cgo calls and heap allocations per request before it exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"

	"github.com/golibevent/libevent"
	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "http-pkg"

var hello = []byte("Hello, World!")

func main() {
	mode := flag.String("mode", "native", "handler kind: native (a HandlerFunc) or adapter (an http.Handler)")
	changelist := flag.Bool("changelist", false, "create the base with the epoll changelist flag (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST)")
	stats := flag.Bool("stats", false, "count the requests, and on SIGTERM or SIGINT print the cgo calls and heap allocations per request")
	flag.Parse()
	port, err := echoutil.ServerPort(flag.Args())
	if err == nil && *mode != "native" && *mode != "adapter" {
		err = fmt.Errorf("invalid -mode %q: use native or adapter", *mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		flag.Usage()
		os.Exit(2)
	}
	if _, err := echoutil.RaiseFileLimit(); err != nil {
		echoutil.Fail(program, err)
	}

	// A nil Config is the package's default base: libevent's defaults.
	var cfg *libevent.Config
	if *changelist {
		cfg = &libevent.Config{Flags: libevent.EpollUseChangelist}
	}
	b, err := libevent.NewBase(cfg)
	if err != nil {
		echoutil.Fail(program, err)
	}
	s, err := libevent.NewHTTPServer(b)
	if err != nil {
		echoutil.Fail(program, err)
	}
	// served counts the replies. The adapter's handlers run on goroutines
	// of their own, so the count is atomic in both modes.
	var served atomic.Uint64
	if *stats {
		printStatsOnSignal(&served)
	}
	if *mode == "native" {
		// The server-wide default type costs nothing per request, as
		// evhttp_set_default_content_type does in the C server.
		err = s.SetDefaultContentType("text/plain")
		if err == nil {
			err = s.HandleDefault(func(r *libevent.HTTPRequest) {
				r.SendReply(http.StatusOK, "", hello)
				served.Add(1)
			})
		}
	} else {
		err = s.HandleHTTPDefault(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(hello)
			served.Add(1)
		}))
	}
	if err != nil {
		echoutil.Fail(program, err)
	}
	addr, err := s.Bind(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		echoutil.Fail(program, err)
	}
	echoutil.PrintListening(addr.(*net.TCPAddr).Port)
	if err := b.Run(context.Background()); err != nil {
		echoutil.Fail(program, err)
	}
}

// printStatsOnSignal starts a goroutine that, on SIGTERM or SIGINT, prints
// the number of requests served and the process's cgo calls and heap
// allocations divided by it, and exits. The figures include the start-up
// and the warm-up, which are small next to a benchmark run.
func printStatsOnSignal(served *atomic.Uint64) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		n := served.Load()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		perRequest := func(v uint64) float64 {
			if n == 0 {
				return 0
			}
			return float64(v) / float64(n)
		}
		fmt.Printf("stats requests=%d cgo_calls_per_request=%.2f allocs_per_request=%.2f bytes_per_request=%.0f gc_cycles=%d\n",
			n, perRequest(uint64(runtime.NumCgoCall())), perRequest(m.Mallocs), perRequest(m.TotalAlloc), m.NumGC)
		os.Exit(0)
	}()
}
