//go:build cgo

package libevent

import (
	"context"
	"strings"
	"testing"
)

// FuzzHTTPServer sends arbitrary bytes to a server on every backend over a
// loopback connection. Each server must answer or close the connection,
// and must still answer a well-formed request afterwards.
func FuzzHTTPServer(f *testing.F) {
	seeds := []string{
		"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /a?b=c HTTP/1.0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
		"POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\r\nX: " + strings.Repeat("x", 100) + "\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}

	type target struct {
		name string
		addr string
	}
	var targets []target
	for _, bk := range backends {
		b, err := NewBase(&bk.config)
		if err != nil {
			f.Fatal(err)
		}
		s, err := NewHTTPServer(b)
		if err != nil {
			f.Fatal(err)
		}
		if err := s.SetMaxHeaderBytes(16 << 10); err != nil {
			f.Fatal(err)
		}
		if err := s.SetMaxBodyBytes(16 << 10); err != nil {
			f.Fatal(err)
		}
		if err := s.HandleDefault(func(r *HTTPRequest) {
			body := make([]byte, 512)
			n, _ := r.Body().Read(body)
			r.SendReply(200, "OK", body[:n])
		}); err != nil {
			f.Fatal(err)
		}
		addr, err := s.Bind("127.0.0.1:0")
		if err != nil {
			f.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		f.Cleanup(func() {
			cancel()
			<-done
			s.Close()
			b.Close()
		})
		targets = append(targets, target{bk.name, addr.String()})
	}

	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, tg := range targets {
			if _, err := rawExchange(t, tg.addr, string(raw)); err != nil {
				t.Fatalf("%s: exchange: %v", tg.name, err)
			}
			out, err := rawExchange(t, tg.addr, "GET /check HTTP/1.0\r\n\r\n")
			if err != nil {
				t.Fatalf("%s: check request: %v", tg.name, err)
			}
			if !strings.HasPrefix(out, "HTTP/1.0 200 OK\r\n") {
				t.Fatalf("%s: check request got %q", tg.name, out)
			}
		}
	})
}
