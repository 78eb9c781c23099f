//go:build cgo && libevent_shared

package cthread

// #cgo pkg-config: libevent_core
import "C"
