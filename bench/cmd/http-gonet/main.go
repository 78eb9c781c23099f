// Command http-gonet is the net/http server in the HTTP benchmarks: the
// same "Hello, World!" handler as http-pkg's adapter mode, served by the
// standard library. It listens on 127.0.0.1 only:
//
//	http-gonet PORT
//
// PORT 0 lets the kernel choose a free port. Once the server listens it
// prints "listening 127.0.0.1:PORT", and it runs until it is killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "http-gonet"

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
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	echoutil.Fail(program, http.Serve(ln, handler))
}
