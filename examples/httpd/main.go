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
// outside it) get 404, like files that do not exist. SIGINT (Ctrl-C) or
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
	listen := flag.String("listen", "127.0.0.1:8080", "IP address and port to listen on")
	root := flag.String("root", ".", "directory to serve")
	runFor := flag.Duration("for", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	tlsCert := flag.String("tls-cert", "", "PEM certificate chain file; serves HTTPS with -tls-key")
	tlsKey := flag.String("tls-key", "", "PEM private key file of -tls-cert")
	flag.Parse()

	if err := run(*listen, *root, *runFor, *tlsCert, *tlsKey); err != nil {
		fmt.Fprintln(os.Stderr, "httpd:", err)
		os.Exit(1)
	}
}

func run(listen, root string, runFor time.Duration, tlsCert, tlsKey string) error {
	if (tlsCert == "") != (tlsKey == "") {
		return errors.New("-tls-cert and -tls-key must be given together")
	}
	ctx := context.Background()
	if runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, runFor)
		defer cancel()
	}

	b, err := libevent.NewBase(nil)
	if err != nil {
		return err
	}
	defer b.Close()

	// SIGINT and SIGTERM arrive as signal events on the loop, which stop
	// it; the deferred calls then close the server and the base.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		ev, err := b.NewSignalEvent(sig, 0, func(*libevent.Event, libevent.EventFlags) {
			slog.Info("httpd: stopping", "signal", sig.String())
			if err := b.LoopBreak(); err != nil {
				slog.Error("httpd: event_base_loopbreak failed", "err", err)
			}
		})
		if err != nil {
			return err
		}
		defer ev.Close()
		if err := ev.Add(); err != nil {
			return err
		}
	}

	srv, err := newServer(b, root)
	if err != nil {
		return err
	}
	defer srv.Close()
	scheme := "http"
	if tlsCert != "" {
		if err := serveTLS(srv, tlsCert, tlsKey); err != nil {
			return err
		}
		scheme = "https"
	}
	addr, err := srv.Bind(listen)
	if err != nil {
		return err
	}
	slog.Info("httpd: serving", "addr", addr.String(), "scheme", scheme, "root", root, "backend", b.Method())
	err = b.Run(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if closeErr := srv.Close(); closeErr != nil && err == nil {
		err = closeErr
	}
	if closeErr := b.Close(); closeErr != nil && err == nil {
		err = closeErr
	}
	slog.Info("httpd: stopped")
	return err
}

// newServer returns an HTTPServer with /hello and the file handler for root.
func newServer(b *libevent.Base, root string) (*libevent.HTTPServer, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	absRoot, err = filepath.EvalSymlinks(absRoot)
	if err != nil {
		return nil, err
	}
	srv, err := libevent.NewHTTPServer(b)
	if err != nil {
		return nil, err
	}
	if err := srv.SetAllowedMethods(libevent.MethodGet | libevent.MethodHead); err != nil {
		srv.Close()
		return nil, err
	}
	if err := srv.Handle("/hello", func(r *libevent.HTTPRequest) {
		r.OutputHeaders().Set("Content-Type", "text/plain; charset=utf-8")
		r.SendReply(200, "OK", []byte("hello from libevent\n"))
	}); err != nil {
		srv.Close()
		return nil, err
	}
	if err := srv.HandleDefault(func(r *libevent.HTTPRequest) { serveFile(r, absRoot) }); err != nil {
		srv.Close()
		return nil, err
	}
	return srv, nil
}

// serveFile answers r with the file under root that its path names.
// libevent sends no body for HEAD, so GET and HEAD share the code.
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
