package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/golibevent/libevent"
)

// zone holds the names of a hosts file.
type zone struct {
	v4, v6 map[string][]netip.Addr
	// ptr maps reverse-lookup names, such as "2.0.0.127.in-addr.arpa", to
	// the first name listed for the address.
	ptr map[string]string
	ttl time.Duration
	// logError reports a reply that could not be built or sent.
	logError func(error)
}

// parseHosts reads hosts-format lines: an IP address followed by names,
// with '#' starting a comment.
func parseHosts(r io.Reader) (*zone, error) {
	z := &zone{v4: map[string][]netip.Addr{}, v6: map[string][]netip.Addr{}, ptr: map[string]string{}}
	scanner := bufio.NewScanner(r)
	for line := 1; scanner.Scan(); line++ {
		text, _, _ := strings.Cut(scanner.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("line %d: an address needs at least one name", line)
		}
		addr, err := netip.ParseAddr(fields[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not an IP address", line, fields[0])
		}
		addr = addr.Unmap()
		for _, name := range fields[1:] {
			name = strings.ToLower(strings.TrimSuffix(name, "."))
			if addr.Is4() {
				z.v4[name] = append(z.v4[name], addr)
			} else {
				z.v6[name] = append(z.v6[name], addr)
			}
		}
		if _, ok := z.ptr[reverseName(addr)]; !ok {
			z.ptr[reverseName(addr)] = strings.TrimSuffix(fields[1], ".")
		}
	}
	return z, scanner.Err()
}

// reverseName returns the in-addr.arpa or ip6.arpa name of addr.
func reverseName(addr netip.Addr) string {
	var b strings.Builder
	if addr.Is4() {
		a := addr.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.in-addr.arpa", a[3], a[2], a[1], a[0])
		return b.String()
	}
	a := addr.As16()
	for i := len(a) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "%x.%x.", a[i]&0xf, a[i]>>4)
	}
	b.WriteString("ip6.arpa")
	return b.String()
}

// serve answers a request from the zone, authoritatively.
func (z *zone) serve(req *libevent.DNSServerRequest) {
	known := false
	for _, q := range req.Questions {
		name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
		v4, v6 := z.v4[name], z.v6[name]
		host, hasPTR := z.ptr[name]
		known = known || len(v4) > 0 || len(v6) > 0 || hasPTR
		if q.Class != libevent.DNSClassInet {
			continue
		}
		var err error
		switch {
		case q.Type == libevent.DNSTypeA && len(v4) > 0:
			err = req.AddA(q.Name, v4, z.ttl)
		case q.Type == libevent.DNSTypeAAAA && len(v6) > 0:
			err = req.AddAAAA(q.Name, v6, z.ttl)
		case q.Type == libevent.DNSTypePTR && hasPTR:
			err = req.AddPTR(q.Name, host, z.ttl)
		}
		z.report(err, req, q)
	}
	z.report(req.SetFlags(libevent.DNSFlagAuthoritative), req, libevent.DNSQuestion{})
	rcode := libevent.DNSRcodeNoError
	if !known {
		rcode = libevent.DNSRcodeNameError
	}
	z.report(req.Respond(rcode), req, libevent.DNSQuestion{})
}

// report logs err, if any, with the client and the question.
func (z *zone) report(err error, req *libevent.DNSServerRequest, q libevent.DNSQuestion) {
	if err == nil || z.logError == nil {
		return
	}
	z.logError(fmt.Errorf("reply to %v for %q type %d: %w", req.Client, q.Name, q.Type, err))
}
