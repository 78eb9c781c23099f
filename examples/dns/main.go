// Command dns resolves names through a given nameserver, or serves names
// from a hosts-format file, with libevent's evdns resolver and server.
//
// Resolve names through a nameserver, which must be given:
//
//	go run ./examples/dns resolve -nameserver 127.0.0.1:5353 a.test
//	go run ./examples/dns resolve -nameserver 127.0.0.1:5353 -type PTR 127.0.0.2
//
// Each answer is one line, such as "a.test A 127.0.0.2 ttl=60s". A failed
// lookup prints an error to standard error, and the exit status is 1.
//
// Serve the names of a hosts file authoritatively on loopback until SIGINT
// or SIGTERM:
//
//	go run ./examples/dns serve -listen 127.0.0.1:5353 -hosts ./hosts
//
// The server answers A, AAAA and PTR questions from the file, sets the
// authoritative flag, and answers NXDOMAIN for names that the file does not
// list. It prints "listening on ADDRESS" once it is ready. A command line
// that the flag package rejects makes the exit status 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/golibevent/libevent"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  dns resolve -nameserver ADDRESS [-type A|AAAA|PTR|ANY] [-timeout DURATION] [-backend NAME] NAME...
  dns serve [-listen ADDRESS] -hosts FILE [-ttl DURATION] [-backend NAME]
`

const backendHelp = "libevent backend: epoll, epoll-changelist, poll or select (default: libevent's choice)"

// baseConfig returns the configuration of a base on backend, or nil for
// libevent's default.
func baseConfig(backend string) *libevent.Config {
	switch backend {
	case "":
		return nil
	case "epoll-changelist":
		return &libevent.Config{Method: "epoll", Flags: libevent.IgnoreEnv | libevent.EpollUseChangelist}
	default:
		return &libevent.Config{Method: backend, Flags: libevent.IgnoreEnv}
	}
}

// run runs the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "resolve":
		return runResolve(args[1:], stdout, stderr)
	case "serve":
		return runServe(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "dns: unknown mode %q\n%s", args[0], usage)
	return 2
}

func runResolve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nameserver := fs.String("nameserver", "", "nameserver `address`, an IP with an optional port such as 127.0.0.1:5353 (required)")
	qtype := fs.String("type", "ANY", "what to look up: A, AAAA, ANY (A and AAAA) or PTR (the names are IP addresses)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for each reply, such as 500ms")
	backend := fs.String("backend", "", backendHelp)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *nameserver == "" || fs.NArg() == 0 {
		fmt.Fprintf(stderr, "dns resolve: -nameserver and at least one name are required\n%s", usage)
		return 2
	}
	switch *qtype {
	case "A", "AAAA", "ANY", "PTR":
	default:
		fmt.Fprintf(stderr, "dns resolve: unknown -type %q; use A, AAAA, ANY or PTR\n", *qtype)
		return 2
	}

	base, err := libevent.NewBase(baseConfig(*backend))
	if err != nil {
		fmt.Fprintln(stderr, "dns resolve:", err)
		return 1
	}
	defer base.Close()
	// The resolver reads no system configuration: the nameserver on the
	// command line is the only one it queries.
	resolver, err := base.NewDNSBase(0)
	if err == nil {
		err = resolver.AddNameserver(*nameserver)
	}
	if err == nil {
		err = resolver.SetTimeout(*timeout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "dns resolve:", err)
		return 1
	}
	defer resolver.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loopDone := make(chan error, 1)
	go func() { loopDone <- base.Run(ctx) }()

	status := 0
	for _, name := range fs.Args() {
		lines, err := lookup(resolver, *qtype, name)
		for _, line := range lines {
			fmt.Fprintln(stdout, line)
		}
		if err != nil {
			fmt.Fprintln(stderr, "dns resolve:", err)
			status = 1
		}
	}
	cancel()
	<-loopDone
	return status
}

// lookup returns the answer lines for name.
func lookup(resolver *libevent.DNSBase, qtype, name string) ([]string, error) {
	ctx := context.Background()
	if qtype == "PTR" {
		addr, err := netip.ParseAddr(name)
		if err != nil {
			return nil, fmt.Errorf("-type PTR needs an IP address, not %q", name)
		}
		res, err := resolver.LookupAddr(ctx, addr)
		if err != nil {
			return nil, err
		}
		var lines []string
		for _, host := range res.Names {
			lines = append(lines, fmt.Sprintf("%s PTR %s ttl=%v", name, host, res.TTL))
		}
		return lines, nil
	}
	var lines []string
	var errs []error
	if qtype == "A" || qtype == "ANY" {
		res, err := resolver.LookupIPv4(ctx, name)
		errs = append(errs, err)
		for _, a := range res.Addrs {
			lines = append(lines, fmt.Sprintf("%s A %v ttl=%v", name, a, res.TTL))
		}
	}
	if qtype == "AAAA" || qtype == "ANY" {
		res, err := resolver.LookupIPv6(ctx, name)
		errs = append(errs, err)
		for _, a := range res.Addrs {
			lines = append(lines, fmt.Sprintf("%s AAAA %v ttl=%v", name, a, res.TTL))
		}
	}
	// With ANY, a name that has addresses of one family only is fine.
	if len(lines) > 0 && qtype == "ANY" {
		return lines, nil
	}
	return lines, errors.Join(errs...)
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5353", "loopback `address` and UDP port to serve on; port 0 picks a free port")
	hostsPath := fs.String("hosts", "", "hosts-format `file` with the names to serve (required)")
	ttl := fs.Duration("ttl", time.Minute, "time to live of the answers, in whole seconds")
	backend := fs.String("backend", "", backendHelp)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *hostsPath == "" || fs.NArg() != 0 {
		fmt.Fprintf(stderr, "dns serve: -hosts is required and no arguments are taken\n%s", usage)
		return 2
	}
	addr, err := netip.ParseAddrPort(*listen)
	if err != nil || !addr.Addr().IsLoopback() {
		fmt.Fprintf(stderr, "dns serve: -listen %q must be a loopback IP address and port, such as 127.0.0.1:5353\n", *listen)
		return 2
	}
	file, err := os.Open(*hostsPath)
	if err != nil {
		fmt.Fprintln(stderr, "dns serve:", err)
		return 1
	}
	zone, err := parseHosts(file)
	file.Close()
	if err != nil {
		fmt.Fprintf(stderr, "dns serve: %s: %v\n", *hostsPath, err)
		return 1
	}
	zone.ttl = *ttl
	zone.logError = func(err error) { fmt.Fprintln(stderr, "dns serve:", err) }

	base, err := libevent.NewBase(baseConfig(*backend))
	if err != nil {
		fmt.Fprintln(stderr, "dns serve:", err)
		return 1
	}
	defer base.Close()
	srv, err := base.NewDNSServer(addr.String(), zone.serve)
	if err != nil {
		fmt.Fprintln(stderr, "dns serve:", err)
		return 1
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "listening on %v\n", srv.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := base.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "dns serve:", err)
		return 1
	}
	return 0
}
