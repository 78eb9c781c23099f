//go:build !cgo

// Package libevent drives the C libevent library through cgo, so it cannot be
// built with CGO_ENABLED=0. The undefined name below stops such a build with a
// message that names the fix.
package libevent

var _ = golibevent_needs_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler__see_third_party_libevent_setup_sh
