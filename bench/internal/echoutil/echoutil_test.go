package echoutil

import "testing"

func TestLoopbackAddrAcceptsLoopback(t *testing.T) {
	for _, address := range []string{"127.0.0.1:7000", "127.1.2.3:1", "[::ffff:127.0.0.1]:7000"} {
		ap, err := LoopbackAddr(address)
		if err != nil {
			t.Errorf("LoopbackAddr(%q) returned %v, expected no error", address, err)
			continue
		}
		if !ap.Addr().Is4() {
			t.Errorf("LoopbackAddr(%q) returned %v, expected an IPv4 address", address, ap)
		}
	}
}

func TestLoopbackAddrRejectsOthers(t *testing.T) {
	cases := []string{
		"10.0.0.1:7000",    // private range
		"192.168.1.1:7000", // private range
		"8.8.8.8:53",       // public
		"0.0.0.0:7000",     // any address
		"[::1]:7000",       // the servers listen on IPv4 only
		"localhost:7000",   // names are not resolved
		"127.0.0.1",        // no port
		"127.0.0.1:0",      // port 0
	}
	for _, address := range cases {
		if ap, err := LoopbackAddr(address); err == nil {
			t.Errorf("LoopbackAddr(%q) returned %v, expected an error", address, ap)
		}
	}
}

func TestServerPort(t *testing.T) {
	if port, err := ServerPort([]string{"0"}); err != nil || port != 0 {
		t.Errorf("ServerPort([0]) returned %d, %v; expected 0, nil", port, err)
	}
	if port, err := ServerPort([]string{"7000"}); err != nil || port != 7000 {
		t.Errorf("ServerPort([7000]) returned %d, %v; expected 7000, nil", port, err)
	}
	for _, args := range [][]string{nil, {"1", "2"}, {"-1"}, {"65536"}, {"http"}} {
		if port, err := ServerPort(args); err == nil {
			t.Errorf("ServerPort(%q) returned %d, expected an error", args, port)
		}
	}
}
