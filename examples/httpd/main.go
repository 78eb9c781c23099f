// Command httpd serves a directory and a /hello page with libevent's HTTP
// server (evhttp), on 127.0.0.1:8080 by default.
//
//	go run ./examples/httpd -root /usr/share/doc
//	curl -i http://127.0.0.1:8080/hello
//	curl -I http://127.0.0.1:8080/README
//
// GET and HEAD of a file under -root return it with a content type chosen
// from its extension; a directory returns its index.html if it has one.
// Paths that leave the root (through "..", or a symbolic link that points
// outside it) get 404, like files that do not exist. /stats returns, per
// base, the number of requests that reached a handler. SIGINT (Ctrl-C) or
// SIGTERM closes the server and exits with status 0.
//
// Flags:
//
//	-listen 127.0.0.1:8080  the IP address and port to listen on; the default
//	                        keeps the server on this machine
//	-root DIR               the directory to serve (default ".")
//	-for DURATION           stop by itself after this long; 0 runs until a
//	                        signal
//	-tls-cert FILE          serve HTTPS with this PEM certificate chain, leaf
//	                        first; needs -tls-key
//	-tls-key FILE           the PEM private key of -tls-cert
//	-cores N                N event bases (libevent.Group), each run on its
//	                        own thread with its own server and its own
//	                        SO_REUSEPORT listener on the same port; 0 or -1
//	                        means one per CPU. The default 1 binds one
//	                        server without SO_REUSEPORT.
//
// httpd has no -backend flag: its bases take libevent's default backend,
// which the environment variables EVENT_NOEPOLL, EVENT_NOPOLL and
// EVENT_EPOLL_USE_CHANGELIST change.
//
// With -tls-cert and -tls-key the server speaks HTTPS only:
//
//	go run ./examples/httpd -tls-cert cert.pem -tls-key key.pem
//	curl --cacert ca.pem https://127.0.0.1:8080/hello
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	libevent "github.com/golibevent/libevent"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "IP address and port to listen on")
	flag.StringVar(&cfg.root, "root", ".", "directory to serve")
	flag.DurationVar(&cfg.runFor, "for", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	flag.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate chain file; serves HTTPS with -tls-key")
	flag.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key file of -tls-cert")
	flag.IntVar(&cfg.cores, "cores", 1,
		"number of event loops, each on its own thread with its own SO_REUSEPORT listener; 0 or -1 for one per CPU")
	flag.Parse()

	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "httpd:", err)
		os.Exit(1)
	}
}

// config is httpd's configuration, which main fills from the flags.
type config struct {
	listen  string
	root    string
	runFor  time.Duration
	tlsCert string
	tlsKey  string
	// cores is the number of bases, or 0 or -1 for one per CPU.
	cores int
}

func run(cfg config) error {
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key must be given together")
	}
	cores := cfg.cores
	switch {
	case cores == -1:
		cores = 0
	case cores < -1:
		return fmt.Errorf("invalid -cores %d: use a positive number, or 0 or -1 for one per CPU", cfg.cores)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cfg.runFor > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, cfg.runFor)
		defer stop()
	}

	// Each base of the group runs on its own goroutine locked to its own
	// thread, including the single base of -cores 1.
	group, err := libevent.NewGroup(cores, nil)
	if err != nil {
		return err
	}
	defer group.Close()
	bases := group.Bases()

	// SIGINT and SIGTERM arrive as signal events on the first base. The
	// callback cancels ctx, which stops every loop, and run then closes the
	// servers and the bases.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		ev, err := bases[0].NewSignalEvent(sig, 0, func(*libevent.Event, libevent.EventFlags) {
			slog.Info("httpd: stopping", "signal", sig.String())
			cancel()
		})
		if err != nil {
			return err
		}
		defer ev.Close()
		if err := ev.Add(); err != nil {
			return err
		}
	}

	pages, err := newSite(cfg.root, len(bases))
	if err != nil {
		return err
	}
	var servers []*libevent.HTTPServer
	for i, b := range bases {
		srv, err := pages.newServer(b, i)
		if err != nil {
			return err
		}
		defer srv.Close()
		servers = append(servers, srv)
	}
	scheme := "http"
	if cfg.tlsCert != "" {
		if err := serveTLS(servers, cfg.tlsCert, cfg.tlsKey); err != nil {
			return err
		}
		scheme = "https"
	}
	addr, err := listen(group, servers, cfg.listen)
	if err != nil {
		return err
	}
	slog.Info("httpd: serving", "addr", addr.String(), "scheme", scheme, "root", cfg.root,
		"cores", len(bases), "backend", bases[0].Method())
	err = group.Run(ctx)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil
	}
	for _, srv := range servers {
		if closeErr := srv.Close(); closeErr != nil && err == nil {
			err = closeErr
		}
	}
	if closeErr := group.Close(); closeErr != nil && err == nil {
		err = closeErr
	}
	slog.Info("httpd: stopped", "requests_per_base", pages.counts())
	return err
}

// listen binds the servers, one per base of group in the same order, to
// address and returns the address they listen on. A single server binds
// with evhttp's own socket. Several servers each accept on their base's
// SO_REUSEPORT listener on the same port, and the kernel spreads new
// connections over them.
func listen(group *libevent.Group, servers []*libevent.HTTPServer, address string) (net.Addr, error) {
	if len(servers) == 1 {
		return servers[0].Bind(address)
	}
	// The listeners take no accept callback, because each server takes
	// its listener over before the loops run.
	listeners, err := group.Listen("tcp", address, libevent.LEVOptReusable|libevent.LEVOptCloseOnExec, -1, nil)
	if err != nil {
		return nil, err
	}
	addr, err := listeners[0].Addr()
	if err != nil {
		return nil, err
	}
	for i, l := range listeners {
		// A listener that is not taken over is closed with its base.
		if err := servers[i].Accept(l); err != nil {
			return nil, fmt.Errorf("base %d: %w", i, err)
		}
	}
	return addr, nil
}

// serveFile answers r with the file under root that its path names.
// SendReply sends no body in a reply to HEAD, so GET and HEAD share the code.
func serveFile(r *libevent.HTTPRequest, root string) {
	name, ok := resolve(root, r.ParsedURI())
	if !ok {
		r.SendError(404, "")
		return
	}
	info, err := os.Stat(name)
	if err == nil && info.IsDir() {
		name = filepath.Join(name, "index.html")
		info, err = os.Stat(name)
	}
	if err != nil || !info.Mode().IsRegular() {
		r.SendError(404, "")
		return
	}
	data, err := os.ReadFile(name)
	if err != nil {
		slog.Warn("httpd: read failed", "file", name, "err", err)
		r.SendError(500, "")
		return
	}
	ctype := mime.TypeByExtension(filepath.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	r.OutputHeaders().Set("Content-Type", ctype)
	r.SendReply(200, "OK", data)
}

// resolve maps the URI's path to a file name under root, following
// symbolic links, and reports false when the result lies outside root.
func resolve(root string, u *libevent.URI) (string, bool) {
	if u == nil {
		return "", false
	}
	p, err := url.PathUnescape(u.Path())
	if err != nil || strings.IndexByte(p, 0) >= 0 {
		return "", false
	}
	// path.Clean of a rooted path cannot climb above "/".
	clean := path.Clean("/" + p)
	name := filepath.Join(root, filepath.FromSlash(clean))
	real, err := filepath.EvalSymlinks(name)
	if err != nil {
		return "", false
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return "", false
	}
	return real, true
}
