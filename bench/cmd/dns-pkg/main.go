// Command dns-pkg is the package's server in the DNS benchmarks, the Go
// counterpart of c/dnsserver.c. It serves on 127.0.0.1 only:
//
//	dns-pkg PORT
//
// PORT 0 lets the kernel choose a free port. Once the server is bound it
// prints "listening 127.0.0.1:PORT", and it runs until it is killed. It
// answers an A question for "a.test" with 127.0.0.2 and a TTL of 60 s,
// sets the authoritative flag, and answers other names with NXDOMAIN.
package main

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/golibevent/libevent"
	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "dns-pkg"

var answer = []netip.Addr{netip.MustParseAddr("127.0.0.2")}

func main() {
	port, err := echoutil.ServerPort(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\nusage: %s PORT\n", program, err, program)
		os.Exit(2)
	}
	base, err := libevent.NewBase(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		os.Exit(1)
	}
	srv, err := base.NewDNSServer(fmt.Sprintf("127.0.0.1:%d", port), serve)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		os.Exit(1)
	}
	echoutil.PrintListening(int(srv.Addr().Port()))
	if err := base.Dispatch(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		os.Exit(1)
	}
}

// serve answers as c/dnsserver.c does. Errors go to standard error, which
// the benchmark script shows if the server fails.
func serve(req *libevent.DNSServerRequest) {
	known := false
	for _, q := range req.Questions {
		if !strings.EqualFold(q.Name, "a.test") {
			continue
		}
		known = true
		if q.Type == libevent.DNSTypeA {
			report(req.AddA(q.Name, answer, time.Minute))
		}
	}
	report(req.SetFlags(libevent.DNSFlagAuthoritative))
	rcode := libevent.DNSRcodeNoError
	if !known {
		rcode = libevent.DNSRcodeNameError
	}
	report(req.Respond(rcode))
}

func report(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
	}
}
