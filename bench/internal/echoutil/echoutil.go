// Package echoutil contains what the programs of the echo benchmarks share:
// the servers' command line, the line from which scripts/bench-echo.sh reads
// a server's port, the descriptor limit, and the check that keeps every
// connection on the loopback interface.
package echoutil

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"syscall"
)

// RaiseFileLimit raises the soft limit on open descriptors (RLIMIT_NOFILE)
// to the hard limit, so that a process can hold the idle-memory run's
// connections. Go 1.19 and later raise it when package os starts, so this is
// a check more than a change. It returns the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if limit.Cur < limit.Max {
		limit.Cur = limit.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
			return 0, fmt.Errorf("setrlimit RLIMIT_NOFILE to %d: %w", limit.Max, err)
		}
	}
	return limit.Cur, nil
}

// ServerPort parses a server's only argument: a TCP port, where 0 lets the
// kernel choose a free one.
func ServerPort(args []string) (int, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("expected one argument, the port to listen on (0 for any free port), got %d", len(args))
	}
	port, err := strconv.Atoi(args[0])
	if err != nil || port < 0 || port > 65535 {
		return 0, fmt.Errorf("invalid port %q: expected a number from 0 to 65535", args[0])
	}
	return port, nil
}

// PrintListening prints the line "listening 127.0.0.1:PORT" that
// scripts/bench-echo.sh waits for before it starts a client.
func PrintListening(port int) {
	fmt.Printf("listening 127.0.0.1:%d\n", port)
}

// LoopbackAddr parses address, an IPv4 address and a port, and rejects any
// address outside 127.0.0.0/8, so that the load programs cannot send
// traffic to another machine. The benchmark servers listen on 127.0.0.1
// only.
func LoopbackAddr(address string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("invalid address %q: expected an IPv4 address and a port, such as 127.0.0.1:7000", address)
	}
	addr := ap.Addr().Unmap()
	if !addr.Is4() || !addr.IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("address %s is outside 127.0.0.0/8; the echo benchmarks only connect to the IPv4 loopback range", address)
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, errors.New("invalid address " + address + ": port 0")
	}
	return netip.AddrPortFrom(addr, ap.Port()), nil
}

// Fail prints a message that starts with the program's name to standard
// error and exits with status 1.
func Fail(program string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
	os.Exit(1)
}
