//go:build cgo && libevent_shared

package cbev

// #cgo pkg-config: libevent_core
import "C"
