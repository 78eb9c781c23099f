//go:build cgo && !libevent_shared

package cbev

// #cgo LDFLAGS: -Wl,-Bstatic -levent_core -Wl,-Bdynamic
import "C"
