//go:build amd64 || arm64

// Package goroutine identifies the running goroutine without a cgo call. It
// holds Go assembly, which a package that uses cgo cannot.
package goroutine

// Current returns an address that identifies the running goroutine for as
// long as it lives: that of its runtime g.
func Current() uintptr
