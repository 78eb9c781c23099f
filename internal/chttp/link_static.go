//go:build cgo && !libevent_shared

package chttp

// #cgo LDFLAGS: -Wl,-Bstatic -levent_extra -levent_core -Wl,-Bdynamic
import "C"
