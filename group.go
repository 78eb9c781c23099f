//go:build cgo

package libevent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
)

// Group is a set of bases, one per core, each run by its own goroutine
// locked to its own OS thread. A base's callbacks run one at a time, so one
// base uses at most one core; a Group spreads the work over several. With
// [Group.Listen], every base gets its own SO_REUSEPORT listener on the same
// port and the kernel spreads new connections over them. A connection stays
// on the base that accepted it, so its callbacks need no locks.
type Group struct {
	bases []*Base

	mu      sync.Mutex
	running bool
}

// NewGroup creates n bases with the settings in cfg, or one per CPU that the
// process may use (runtime.NumCPU) when n is 0.
func NewGroup(n int, cfg *Config) (*Group, error) {
	const op = "NewGroup"
	if n < 0 {
		return nil, invalidError(op, "invalid number of bases %d; use 0 for one per CPU", n)
	}
	if n == 0 {
		n = runtime.NumCPU()
	}
	g := &Group{}
	for i := 0; i < n; i++ {
		b, err := NewBase(cfg)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.bases = append(g.bases, b)
	}
	return g, nil
}

// Bases returns the group's bases, in a new slice.
func (g *Group) Bases() []*Base {
	return append([]*Base(nil), g.bases...)
}

// Listen creates one listener per base, all bound to address with
// SO_REUSEPORT (LEVOptReusablePort is added to options), and returns them
// in the order of [Group.Bases]. With port 0, the first listener picks a
// port and the others bind the same one. fn runs on the goroutine of the
// base whose listener accepted the connection; [Listener.Base] returns that
// base. network, address and backlog are those of [Base.Listen]. If a
// listener cannot be created, the ones created before are closed.
func (g *Group) Listen(network, address string, options ListenerOptions, backlog int, fn AcceptFunc) ([]*Listener, error) {
	if network == "unix" {
		return nil, invalidError("evconnlistener_new_bind", "a Group cannot share a unix socket path between bases; use tcp")
	}
	var listeners []*Listener
	for _, b := range g.bases {
		l, err := b.Listen(network, address, options|LEVOptReusablePort, backlog, fn)
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			return nil, err
		}
		listeners = append(listeners, l)
		if len(listeners) == 1 {
			addr, err := l.Addr()
			if err != nil {
				_ = l.Close()
				return nil, err
			}
			if tcp, ok := addr.(*net.TCPAddr); ok {
				address = tcp.String()
			}
		}
	}
	return listeners, nil
}

// Run runs every base's loop with [Base.Run], each on its own goroutine
// locked to its OS thread, until ctx is done or a loop fails. A failed loop
// stops the others. Run returns ctx.Err() when ctx stopped it, and otherwise
// the errors of the loops that failed, each naming its base's index. Run
// returns an error that matches ErrLoopRunning while another Run of the
// group is in progress. A panic in a callback stops every loop, and Run
// panics with the first such value on its caller's goroutine.
func (g *Group) Run(ctx context.Context) error {
	g.mu.Lock()
	if g.running {
		g.mu.Unlock()
		return wrapError("Group.Run", ErrLoopRunning)
	}
	g.running = true
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.running = false
		g.mu.Unlock()
	}()

	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(g.bases))
	var panicOnce sync.Once
	var panicked *callbackPanic
	var wg sync.WaitGroup
	for i, b := range g.bases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					panicOnce.Do(func() { panicked = &callbackPanic{value: r} })
					cancel()
				}
			}()
			// The goroutine keeps its thread, and the thread its
			// goroutine, so that each loop has a thread of its own that
			// the scheduler does not hand to other goroutines. The thread
			// ends with the goroutine.
			runtime.LockOSThread()
			err := b.Run(loopCtx)
			if loopCtx.Err() != nil && (err == nil || errors.Is(err, loopCtx.Err())) {
				return
			}
			if err == nil {
				err = errors.New("the loop ended before the group was stopped")
			}
			errs[i] = fmt.Errorf("base %d: %w", i, err)
			cancel()
		}()
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked.value)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// Close closes every base of the group, which closes what was created on
// them. Closing twice is harmless.
func (g *Group) Close() error {
	var errs []error
	for _, b := range g.bases {
		if err := b.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
