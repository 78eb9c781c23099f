//go:build cgo && libevent_shared

package libevent

// The libevent_shared build tag links libevent's shared libraries, found
// through pkg-config, instead of the static archives.

// #cgo pkg-config: libevent_core libevent_extra libevent_pthreads
import "C"

// linkedStatically reports how this build links libevent.
const linkedStatically = false
