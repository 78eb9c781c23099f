// Command http-pkg is the package's server in the HTTP benchmarks. It
// replies to every request with "Hello, World!" as text/plain, through a
// native HandlerFunc or through the net/http Handler adapter, and listens
// on 127.0.0.1 only:
//
//	http-pkg [-mode native|adapter] [-changelist] PORT
//
// PORT 0 lets the kernel choose a free port. Once the server listens it
// prints "listening 127.0.0.1:PORT", and it runs until it is killed.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/golibevent/libevent"
	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "http-pkg"

var hello = []byte("Hello, World!")

func main() {
	mode := flag.String("mode", "native", "handler kind: native (a HandlerFunc) or adapter (an http.Handler)")
	changelist := flag.Bool("changelist", false, "create the base with the epoll changelist flag (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST)")
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
	if *mode == "native" {
		// The server-wide default type costs nothing per request, as
		// evhttp_set_default_content_type does in the C server.
		err = s.SetDefaultContentType("text/plain")
		if err == nil {
			err = s.HandleDefault(func(r *libevent.HTTPRequest) {
				r.SendReply(http.StatusOK, "", hello)
			})
		}
	} else {
		err = s.HandleHTTPDefault(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(hello)
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
