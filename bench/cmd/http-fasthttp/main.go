// Command http-fasthttp is the fasthttp server in the HTTP benchmarks: the
// same "Hello, World!" reply through github.com/valyala/fasthttp. It listens
// on 127.0.0.1 only:
//
//	http-fasthttp PORT
//
// PORT 0 lets the kernel choose a free port. Once the server listens it
// prints "listening 127.0.0.1:PORT", and it runs until it is killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/valyala/fasthttp"

	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "http-fasthttp"

var hello = []byte("Hello, World!")

func main() {
	flag.Parse()
	port, err := echoutil.ServerPort(flag.Args())
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		flag.Usage()
		os.Exit(2)
	}
	if _, err := echoutil.RaiseFileLimit(); err != nil {
		echoutil.Fail(program, err)
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		echoutil.Fail(program, err)
	}
	echoutil.PrintListening(ln.Addr().(*net.TCPAddr).Port)
	server := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/plain")
			ctx.Write(hello)
		},
	}
	echoutil.Fail(program, server.Serve(ln))
}
