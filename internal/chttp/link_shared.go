//go:build cgo && libevent_shared

package chttp

// #cgo pkg-config: libevent_core libevent_extra
import "C"
