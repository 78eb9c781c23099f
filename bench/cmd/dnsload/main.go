// Command dnsload measures how many queries per second a DNS server on
// loopback answers, or how many lookups per second the package's resolver
// completes against it.
//
//	dnsload [-mode queries|resolver] [-inflight N] [-duration D] [-warmup D] ADDRESS
//
// -mode queries (the default) runs N goroutines, each with its own UDP
// socket, that send an A query for "a.test" and wait for its reply before
// they send the next. A reply that does not arrive within 200 ms is counted
// as lost and the query is sent again. -mode resolver keeps N lookups of
// "a.test" in flight through one DNSBase of the package, whose loop runs
// on its own goroutine.
//
// It prints one line, such as "qps=52000 lost=0 cpu_seconds=3.1": the
// replies or lookups per second of the measured duration after the warm-up,
// the queries that got no reply or the lookups that failed, and the CPU
// time that dnsload used. ADDRESS must be in
// 127.0.0.0/8, and the run ends by itself after warmup plus duration.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golibevent/libevent"
	"github.com/golibevent/libevent/bench/internal/echoutil"
)

const program = "dnsload"

func main() {
	mode := flag.String("mode", "queries", "what to measure: queries (raw UDP queries) or resolver (the package's DNSBase)")
	inflight := flag.Int("inflight", 16, "queries or lookups in flight at once")
	duration := flag.Duration("duration", 4*time.Second, "measured time after the warm-up")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "time before the measurement starts")
	flag.Parse()
	if flag.NArg() != 1 || *inflight < 1 || *duration <= 0 || *warmup < 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [-mode queries|resolver] [-inflight N] [-duration D] [-warmup D] ADDRESS\n", program)
		os.Exit(2)
	}
	addr, err := echoutil.LoopbackAddr(flag.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		os.Exit(2)
	}
	var counted, lost atomic.Int64
	var measuring atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), *warmup+*duration)
	defer cancel()
	go func() {
		time.Sleep(*warmup)
		measuring.Store(true)
	}()
	switch *mode {
	case "queries":
		err = runQueries(ctx, addr.String(), *inflight, &measuring, &counted, &lost)
	case "resolver":
		err = runResolver(ctx, addr.String(), *inflight, &measuring, &counted, &lost)
	default:
		err = fmt.Errorf("unknown -mode %q; use queries or resolver", *mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		os.Exit(1)
	}
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	cpu := time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
	fmt.Printf("qps=%.0f lost=%d cpu_seconds=%.3f\n", float64(counted.Load())/duration.Seconds(), lost.Load(), cpu.Seconds())
}

// query returns an A query for "a.test" with id.
func query(id uint16) []byte {
	msg := []byte{0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1}
	binary.BigEndian.PutUint16(msg, id)
	return msg
}

func runQueries(ctx context.Context, address string, inflight int, measuring *atomic.Bool, counted, lost *atomic.Int64) error {
	var wg sync.WaitGroup
	errs := make(chan error, inflight)
	for i := 0; i < inflight; i++ {
		conn, err := net.Dial("udp", address)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			buf := make([]byte, 1500)
			for id := uint16(0); ctx.Err() == nil; id++ {
				if _, err := conn.Write(query(id)); err != nil {
					errs <- err
					return
				}
				conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				for {
					n, err := conn.Read(buf)
					var netErr net.Error
					if errors.As(err, &netErr) && netErr.Timeout() {
						lost.Add(1)
						break
					}
					if err != nil {
						errs <- err
						return
					}
					if n >= 12 && binary.BigEndian.Uint16(buf) == id {
						if measuring.Load() && ctx.Err() == nil {
							counted.Add(1)
						}
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func runResolver(ctx context.Context, address string, inflight int, measuring *atomic.Bool, counted, lost *atomic.Int64) error {
	base, err := libevent.NewBase(nil)
	if err != nil {
		return err
	}
	defer base.Close()
	resolver, err := base.NewDNSBase(0)
	if err != nil {
		return err
	}
	defer resolver.Close()
	if err := resolver.AddNameserver(address); err != nil {
		return err
	}
	if err := resolver.SetMaxInflight(max(inflight, 64)); err != nil {
		return err
	}

	var start func()
	start = func() {
		if ctx.Err() != nil {
			return
		}
		_, err := resolver.ResolveIPv4("a.test", libevent.DNSQueryNoSearch, func(res libevent.DNSResult, err error) {
			switch {
			case ctx.Err() != nil:
				// Closing the resolver at the end fails the lookups in
				// flight, which are not losses.
			case err != nil:
				lost.Add(1)
			case measuring.Load():
				counted.Add(1)
			}
			start()
		})
		if err != nil {
			lost.Add(1)
		}
	}
	for i := 0; i < inflight; i++ {
		start()
	}
	err = base.Run(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}
