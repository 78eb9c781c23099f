package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/golibevent/libevent"
)

// config is the server's configuration, which main fills from the flags.
type config struct {
	listen  string
	backend string
	workers int
	// cores, when not 0, replaces workers: a number of bases, or -1 for
	// one per CPU.
	cores     int
	reusePort bool
	// maxQueued is the number of bytes of replies waiting in a
	// connection's output buffer above which the server stops reading
	// from that client, until the output drains to a quarter of it.
	maxQueued int
	// writeThrough turns on BufferEvent.SetWriteThrough for every
	// connection: replies go to the socket within MoveInputTo.
	writeThrough bool
}

func defaultConfig() config {
	return config{listen: "127.0.0.1:7000", workers: 1, maxQueued: 1 << 20}
}

// baseConfig returns the base configuration for a value of -backend. nil
// means libevent's defaults.
func baseConfig(backend string) *libevent.Config {
	switch backend {
	case "":
		return nil
	case "epoll-changelist":
		return &libevent.Config{Method: "epoll", Flags: libevent.IgnoreEnv | libevent.EpollUseChangelist}
	default:
		// NewBase rejects a name that is not a backend of this platform.
		return &libevent.Config{Method: backend, Flags: libevent.IgnoreEnv}
	}
}

// server is an echo server: one worker per event base. Create it with
// newServer and run it once with Run.
type server struct {
	logger  *slog.Logger
	group   *libevent.Group
	workers []*worker
	// byBase maps each base to its worker, for the shared accept callback.
	byBase map[*libevent.Base]*worker
	addr   net.Addr
}

// worker is one event base with its listener. Its connections' callbacks
// run on the goroutine that runs the base, one at a time, so they need no
// lock for the fields that only they use.
type worker struct {
	id           int
	base         *libevent.Base
	logger       *slog.Logger
	maxQueued    int
	writeThrough bool

	accepted atomic.Int64 // connections accepted
	failed   atomic.Int64 // connections closed after a socket error
	pauses   atomic.Int64 // times that reading stopped until a client read its replies
}

// newServer creates the bases and binds the listeners. With more than one
// worker, or with reusePort, each base gets its own listener with
// SO_REUSEPORT on the same port (libevent.Group.Listen), and the listeners
// after the first bind the port that the first one got, so that port 0
// works too.
func newServer(cfg config, logger *slog.Logger) (*server, error) {
	workers := cfg.workers
	switch {
	case cfg.cores > 0:
		workers = cfg.cores
	case cfg.cores == -1:
		workers = runtime.NumCPU()
	case cfg.cores < -1:
		return nil, fmt.Errorf("invalid cores %d: use a positive number, or -1 for one per CPU", cfg.cores)
	}
	if workers < 1 {
		return nil, fmt.Errorf("invalid number of workers %d: it must be at least 1", workers)
	}
	if cfg.maxQueued < 1 {
		return nil, fmt.Errorf("invalid max-queued %d: it must be at least 1 byte", cfg.maxQueued)
	}

	group, err := libevent.NewGroup(workers, baseConfig(cfg.backend))
	if err != nil {
		return nil, fmt.Errorf("create event bases for backend %q: %w", cfg.backend, err)
	}
	s := &server{logger: logger, group: group, byBase: make(map[*libevent.Base]*worker)}
	for i, base := range group.Bases() {
		w := &worker{id: i, base: base, logger: logger, maxQueued: cfg.maxQueued, writeThrough: cfg.writeThrough}
		s.workers = append(s.workers, w)
		s.byBase[base] = w
	}

	options := libevent.LEVOptReusable | libevent.LEVOptCloseOnExec
	var first *libevent.Listener
	if workers > 1 || cfg.reusePort {
		listeners, err := group.Listen("tcp", cfg.listen, options, -1, s.accept)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.listen, err)
		}
		first = listeners[0]
	} else {
		first, err = s.workers[0].base.Listen("tcp", cfg.listen, options, -1, s.accept)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.listen, err)
		}
	}
	if s.addr, err = first.Addr(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// Addr returns the address that the server listens on.
func (s *server) Addr() net.Addr {
	return s.addr
}

// close frees every base, which closes its listener and its connections.
func (s *server) close() {
	if err := s.group.Close(); err != nil {
		s.logger.Error("close event bases", "error", err)
	}
}

// accept hands a new connection to the worker whose base accepted it. The
// map is complete before any listener exists, so reading it needs no lock.
func (s *server) accept(l *libevent.Listener, fd int, peer net.Addr) {
	s.byBase[l.Base()].accept(l, fd, peer)
}

// Run runs every worker's loop on its own goroutine, locked to its own OS
// thread, until ctx is done, then closes the listeners and every open
// connection. It returns nil when ctx stopped it, or the error of the first
// loop that failed, which stops the others too.
func (s *server) Run(ctx context.Context) error {
	s.logger.Info("echo server started", "addr", s.addr.String(),
		"backend", s.workers[0].base.Method(), "workers", len(s.workers))

	err := s.group.Run(ctx)
	reason := err
	if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
		reason = context.Cause(ctx)
		err = nil
	}
	s.close()

	var accepted, failed, pauses int64
	for _, w := range s.workers {
		accepted += w.accepted.Load()
		failed += w.failed.Load()
		pauses += w.pauses.Load()
	}
	s.logger.Info("echo server stopped", "addr", s.addr.String(), "reason", reason,
		"accepted", accepted, "failed", failed, "pauses", pauses)
	return err
}

// accept serves a new connection with a bufferevent that closes fd when it
// is closed.
func (w *worker) accept(_ *libevent.Listener, fd int, peer net.Addr) {
	bev, err := w.base.NewBufferEvent(fd, libevent.BEVOptCloseOnFree)
	if err != nil {
		unix.Close(fd)
		w.logger.Warn("echo: cannot serve connection", "worker", w.id, "peer", peer, "error", err)
		return
	}
	w.accepted.Add(1)
	c := &conn{w: w, bev: bev, peer: peer}
	if w.writeThrough {
		if err := bev.SetWriteThrough(true); err != nil {
			c.fail("turn on write-through", err)
			return
		}
	}
	// The write callback stays unset while the client keeps up, because
	// libevent would run it every time the output drains.
	if err := bev.SetCallbacks(c.onRead, nil, c.onEvent); err != nil {
		c.fail("set callbacks", err)
		return
	}
	// A new bufferevent writes already, but reads only once enabled.
	if err := bev.Enable(libevent.EvRead); err != nil {
		c.fail("enable reading", err)
		return
	}
	w.logger.Debug("echo: connection opened", "worker", w.id, "peer", peer)
}

// conn is the state of one connection. Its methods run as callbacks of the
// worker's base.
type conn struct {
	w    *worker
	bev  *libevent.BufferEvent
	peer net.Addr
	// queued is an upper bound of the number of bytes in the output
	// buffer. It grows with every write and drops only when the write
	// callback reports that the output has drained to its low watermark.
	queued int
	// paused is set while reading is stopped until the client reads.
	paused bool
	// closing is set once the client has half-closed. The connection
	// closes when the output is empty.
	closing bool
	closed  bool
}

// onRead echoes the input, and stops reading from a client whose replies
// pile up.
func (c *conn) onRead(*libevent.BufferEvent) {
	if !c.copyInput() {
		return
	}
	if c.queued > c.w.maxQueued && !c.paused {
		c.pause()
	}
}

// copyInput moves everything in the input buffer to the output buffer,
// without copying. It returns false when it closed the connection after
// an error.
func (c *conn) copyInput() bool {
	n, err := c.bev.MoveInputTo(c.bev)
	if err != nil {
		c.fail("move input to output", err)
		return false
	}
	c.queued += n
	return true
}

// pause stops reading and sets the write callback to run once the output
// has drained to a quarter of maxQueued. queued only bounds the output from
// above, so the output may have drained already. Then Trigger runs the
// callback at once, and it resumes reading.
func (c *conn) pause() {
	c.paused = true
	if err := c.bev.Disable(libevent.EvRead); err != nil {
		c.fail("disable reading", err)
		return
	}
	if err := c.bev.SetWatermark(libevent.EvWrite, c.w.maxQueued/4, 0); err != nil {
		c.fail("set write watermark", err)
		return
	}
	if err := c.bev.SetCallbacks(c.onRead, c.onWritten, c.onEvent); err != nil {
		c.fail("set callbacks", err)
		return
	}
	if err := c.bev.Trigger(libevent.EvWrite, false, false); err != nil {
		c.fail("check output", err)
		return
	}
	if c.paused {
		c.w.pauses.Add(1)
		c.w.logger.Debug("echo: client does not read its replies; reading paused",
			"worker", c.w.id, "peer", c.peer, "max_queued", c.w.maxQueued)
	}
}

// onWritten runs when the output has drained to the write low watermark:
// a quarter of maxQueued while paused, or 0 while closing.
func (c *conn) onWritten(*libevent.BufferEvent) {
	if c.closing {
		c.close()
		return
	}
	if !c.paused {
		return
	}
	c.paused = false
	c.queued = c.w.maxQueued / 4
	if err := c.bev.SetCallbacks(c.onRead, nil, c.onEvent); err != nil {
		c.fail("set callbacks", err)
		return
	}
	if err := c.bev.Enable(libevent.EvRead); err != nil {
		c.fail("enable reading", err)
	}
}

// onEvent closes the connection after an error, and after EOF once the
// replies to everything that the client sent are written.
func (c *conn) onEvent(_ *libevent.BufferEvent, what libevent.BEVEvents, err error) {
	switch {
	case what&libevent.BEVEventError != 0:
		c.w.failed.Add(1)
		c.w.logger.Debug("echo: connection failed", "worker", c.w.id, "peer", c.peer, "events", what, "error", err)
		c.close()
	case what&libevent.BEVEventEOF != 0:
		c.finish()
	}
}

// finish echoes what is left after the client's EOF, and closes the
// connection once the output is empty: at once through Trigger if it
// already is, otherwise from the write callback.
func (c *conn) finish() {
	if !c.copyInput() {
		return
	}
	c.closing = true
	c.paused = false
	if err := c.bev.SetWatermark(libevent.EvWrite, 0, 0); err != nil {
		c.fail("set write watermark", err)
		return
	}
	if err := c.bev.SetCallbacks(nil, c.onWritten, c.onEvent); err != nil {
		c.fail("set callbacks", err)
		return
	}
	if err := c.bev.Trigger(libevent.EvWrite, false, false); err != nil {
		c.fail("check output", err)
	}
}

// fail logs an error of the package's API, which this server does not
// expect, and closes the connection.
func (c *conn) fail(step string, err error) {
	c.w.failed.Add(1)
	c.w.logger.Warn("echo: connection closed after an error", "worker", c.w.id, "peer", c.peer, "step", step, "error", err)
	c.close()
}

func (c *conn) close() {
	if c.closed {
		return
	}
	c.closed = true
	c.w.logger.Debug("echo: connection closed", "worker", c.w.id, "peer", c.peer)
	if err := c.bev.Close(); err != nil {
		c.w.logger.Warn("echo: close connection", "worker", c.w.id, "peer", c.peer, "error", err)
	}
}
