// Command echo is a TCP echo server on libevent bufferevents: it sends back
// every byte that a client sends, until the client closes the connection.
//
// Run it, then try it from another terminal with nc or Python:
//
//	go run ./examples/echo
//	nc 127.0.0.1 7000
//	python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", 7000)); s.sendall(b"hello\n"); print(s.recv(100))'
//
// In nc, each line typed comes back; Ctrl-D half-closes the connection
// (with OpenBSD nc, pass -N), and the server closes its side once it has
// sent everything back. Ctrl-C or SIGTERM stops the server: it stops
// accepting, closes every connection and exits with status 0.
//
// Flags:
//
//	-listen 127.0.0.1:7000  the IP address and port to listen on; the default
//	                        keeps the server on this machine
//	-backend NAME           epoll, epoll-changelist, poll or select; empty
//	                        means libevent's default (epoll on Linux)
//	-workers N              N event bases, each run by its own goroutine on
//	                        its own OS thread with its own SO_REUSEPORT
//	                        listener on the same port, so that the kernel
//	                        spreads connections over N cores
//	-cores N                one base per core on N cores (libevent.Group),
//	                        or on every CPU with -1; replaces -workers
//	-reuseport              set SO_REUSEPORT also with one worker, so that
//	                        several processes can share the port
//	-max-queued BYTES       stop reading from a client that does not read
//	                        its replies once this many bytes wait for it
//	-writethrough           write each reply to the socket within the read
//	                        callback instead of from the loop's next pass
//	                        (BufferEvent.SetWriteThrough)
//	-v                      log every connection at debug level
//
// The server logs its start and stop to standard error through log/slog. It
// exits with status 1 when it cannot start or its loop fails, and 2 on a
// command line that the flag package rejects.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/golibevent/libevent"
)

func main() {
	cfg := defaultConfig()
	flag.StringVar(&cfg.listen, "listen", cfg.listen,
		"IP address and port to listen on, such as 127.0.0.1:7000 or [::1]:7000")
	flag.StringVar(&cfg.backend, "backend", cfg.backend,
		"libevent backend: epoll, epoll-changelist, poll or select (default: libevent's choice)")
	flag.IntVar(&cfg.workers, "workers", cfg.workers,
		"number of event loops, each on its own goroutine with its own SO_REUSEPORT listener")
	flag.IntVar(&cfg.cores, "cores", cfg.cores,
		"number of cores to use, one event loop each, or -1 for every CPU; replaces -workers when not 0")
	flag.BoolVar(&cfg.reusePort, "reuseport", cfg.reusePort,
		"set SO_REUSEPORT on the listener even with one worker")
	flag.IntVar(&cfg.maxQueued, "max-queued", cfg.maxQueued,
		"bytes of unsent replies per connection above which the server stops reading from that client")
	flag.BoolVar(&cfg.writeThrough, "writethrough", cfg.writeThrough,
		"write each reply to the socket within the read callback (BufferEvent.SetWriteThrough)")
	verbose := flag.Bool("v", false, "log every connection at debug level")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(),
			"usage: echo [-listen addr] [-backend name] [-workers n] [-cores n] [-reuseport] [-max-queued bytes] [-v]\n"+
				"Runs a TCP echo server until SIGINT or SIGTERM.\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "echo: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	libevent.SetLogger(logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := newServer(cfg, logger)
	if err != nil {
		logger.Error("echo server failed to start", "listen", cfg.listen, "error", err)
		os.Exit(1)
	}
	if err := srv.Run(ctx); err != nil {
		logger.Error("echo server failed", "error", err)
		os.Exit(1)
	}
}
