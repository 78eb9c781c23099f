//go:build cgo && !libevent_shared

package cthread

// #cgo LDFLAGS: -Wl,-Bstatic -levent_core -Wl,-Bdynamic
import "C"
