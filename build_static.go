//go:build cgo && !libevent_shared && !darwin

package libevent

// libevent's static archives are linked into the program so that it needs no
// libevent shared object at run time. -Bdynamic afterwards keeps libc and
// pthreads dynamic. The archives come from the system package (libevent-dev
// on Debian and Ubuntu); third_party/libevent/setup.sh installs it.

// #cgo LDFLAGS: -Wl,-Bstatic -levent_extra -levent_pthreads -levent_core -Wl,-Bdynamic
import "C"

// linkedStatically reports how this build links libevent.
const linkedStatically = true
