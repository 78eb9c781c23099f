package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"

	libevent "github.com/golibevent/libevent"
)

// site is what every server of httpd serves: /hello, /stats and the files
// under root. It counts requests per base, so that /stats shows how the
// kernel spread connections over the bases.
type site struct {
	// root is absolute with its symbolic links resolved, so that resolve
	// can compare it with the resolved path of a file.
	root string
	// requests counts, per base index, the requests that reached a
	// handler. Requests that libevent answers itself (400, 413, 501) are
	// not counted.
	requests []atomic.Int64
}

// newSite returns a site for root with a request counter for each of
// bases bases.
func newSite(root string, bases int) (*site, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	absRoot, err = filepath.EvalSymlinks(absRoot)
	if err != nil {
		return nil, err
	}
	return &site{root: absRoot, requests: make([]atomic.Int64, bases)}, nil
}

// newServer returns an HTTPServer on b, the base with index index, with
// /hello, /stats and the file handler. A file named "hello" or "stats" at
// the top of the root is hidden by those pages.
func (s *site) newServer(b *libevent.Base, index int) (*libevent.HTTPServer, error) {
	srv, err := libevent.NewHTTPServer(b)
	if err != nil {
		return nil, err
	}
	if err := srv.SetAllowedMethods(libevent.MethodGet | libevent.MethodHead); err != nil {
		srv.Close()
		return nil, err
	}
	count := &s.requests[index]
	if err := srv.Handle("/hello", func(r *libevent.HTTPRequest) {
		count.Add(1)
		r.OutputHeaders().Set("Content-Type", "text/plain; charset=utf-8")
		r.SendReply(200, "OK", []byte("hello from libevent\n"))
	}); err != nil {
		srv.Close()
		return nil, err
	}
	if err := srv.Handle("/stats", func(r *libevent.HTTPRequest) {
		count.Add(1)
		r.OutputHeaders().Set("Content-Type", "text/plain; charset=utf-8")
		r.SendReply(200, "OK", []byte(s.stats()))
	}); err != nil {
		srv.Close()
		return nil, err
	}
	if err := srv.HandleDefault(func(r *libevent.HTTPRequest) {
		count.Add(1)
		serveFile(r, s.root)
	}); err != nil {
		srv.Close()
		return nil, err
	}
	return srv, nil
}

// stats returns one line per base, "base=I requests=N", with the number of
// requests that base's server has handled so far. Other bases keep
// counting while it runs, so the lines are not one snapshot.
func (s *site) stats() string {
	var sb strings.Builder
	for i := range s.requests {
		fmt.Fprintf(&sb, "base=%d requests=%d\n", i, s.requests[i].Load())
	}
	return sb.String()
}

// counts returns the number of requests that each base's server handled.
func (s *site) counts() []int64 {
	out := make([]int64, len(s.requests))
	for i := range s.requests {
		out[i] = s.requests[i].Load()
	}
	return out
}
