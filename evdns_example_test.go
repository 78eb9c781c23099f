//go:build cgo

package libevent_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"strings"
	"time"

	"github.com/golibevent/libevent"
)

// A DNS server on loopback answers a.test, and a resolver that knows only
// that server looks the name up, both on one base whose loop runs on its
// own goroutine.
func ExampleDNSBase_LookupIPv4() {
	base, err := libevent.NewBase(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer base.Close()

	srv, err := base.NewDNSServer("127.0.0.1:0", func(req *libevent.DNSServerRequest) {
		for _, q := range req.Questions {
			// libevent's resolver randomizes the case of the names it
			// sends, so names are compared without case.
			if strings.EqualFold(q.Name, "a.test") && q.Type == libevent.DNSTypeA {
				req.AddA(q.Name, []netip.Addr{netip.MustParseAddr("127.0.0.2")}, time.Minute)
			}
		}
		req.SetFlags(libevent.DNSFlagAuthoritative)
		req.Respond(libevent.DNSRcodeNoError)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// No flags: the resolver reads no system configuration.
	resolver, err := base.NewDNSBase(0)
	if err != nil {
		log.Fatal(err)
	}
	defer resolver.Close()
	if err := resolver.AddNameserverAddr(srv.Addr()); err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- base.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	res, err := resolver.LookupIPv4(context.Background(), "a.test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Addrs, res.TTL)
	// Output: [127.0.0.2] 1m0s
}
