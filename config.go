//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// BaseFlags are the event_config flags (EVENT_BASE_FLAG_*).
type BaseFlags int

const (
	// NoLock creates a base without locks. It is faster, but the base can
	// be used from one goroutine at a time only: Post, LoopBreak and the
	// other thread-safe calls cannot wake its loop from another goroutine.
	NoLock BaseFlags = 0x01
	// IgnoreEnv makes libevent ignore the EVENT_NO* and EVENT_SHOW_METHOD
	// environment variables when it picks a backend.
	IgnoreEnv BaseFlags = 0x02
	// StartupIOCP starts the IOCP dispatcher at once; it has an effect on
	// Windows only.
	StartupIOCP BaseFlags = 0x04
	// NoCacheTime makes libevent read the clock after every timeout
	// callback instead of once per loop iteration.
	NoCacheTime BaseFlags = 0x08
	// EpollUseChangelist makes the epoll backend batch the changes to its
	// interest list and apply them once per loop iteration. With it, errors
	// that epoll_ctl reports are logged at dispatch time instead of being
	// returned by Event.Add.
	EpollUseChangelist BaseFlags = 0x10
	// PreciseTimer requests the most precise (and possibly slower) clock
	// and, with epoll, for timerfd-based timeouts.
	PreciseTimer BaseFlags = 0x20

	allBaseFlags = NoLock | IgnoreEnv | StartupIOCP | NoCacheTime | EpollUseChangelist | PreciseTimer
)

var baseFlagNames = []struct {
	flag BaseFlags
	name string
}{
	{NoLock, "NoLock"},
	{IgnoreEnv, "IgnoreEnv"},
	{StartupIOCP, "StartupIOCP"},
	{NoCacheTime, "NoCacheTime"},
	{EpollUseChangelist, "EpollUseChangelist"},
	{PreciseTimer, "PreciseTimer"},
}

func (f BaseFlags) String() string {
	var names []string
	for _, n := range baseFlagNames {
		if f&n.flag != 0 {
			names = append(names, n.name)
			f &^= n.flag
		}
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("0x%x", int(f)))
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// Features are the backend features (EV_FEATURE_*) that a base can require
// and that [Base.Features] reports.
type Features int

const (
	// FeatureET is edge-triggered notification (EvET).
	FeatureET Features = 0x01
	// FeatureO1 is O(1) addition, deletion and notification of one event.
	FeatureO1 Features = 0x02
	// FeatureFDs is support for any file descriptor, not only sockets.
	FeatureFDs Features = 0x04
	// FeatureEarlyClose is detection of a closed connection (EvClosed)
	// without reading the pending data.
	FeatureEarlyClose Features = 0x08

	allFeatures = FeatureET | FeatureO1 | FeatureFDs | FeatureEarlyClose
)

var featureNames = []struct {
	feature Features
	name    string
}{
	{FeatureET, "ET"},
	{FeatureO1, "O1"},
	{FeatureFDs, "FDs"},
	{FeatureEarlyClose, "EarlyClose"},
}

func (f Features) String() string {
	var names []string
	for _, n := range featureNames {
		if f&n.feature != 0 {
			names = append(names, n.name)
			f &^= n.feature
		}
	}
	if f != 0 {
		names = append(names, fmt.Sprintf("0x%x", int(f)))
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

// knownMethods are the backend names that libevent 2.1 can have on some
// platform. AvoidMethods accepts these so that portable code can avoid a
// backend that this platform lacks.
var knownMethods = []string{"epoll", "poll", "select", "kqueue", "devpoll", "evport", "win32"}

// Config is the configuration of a new [Base], applied through an
// event_config. The zero value gives libevent's defaults.
type Config struct {
	// Method names the one backend to use, such as "epoll", "poll" or
	// "select"; NewBase fails if it is not available. Empty lets libevent
	// pick the best backend that meets the other settings. Method is
	// implemented by avoiding every other supported backend.
	Method string
	// AvoidMethods names backends not to use (event_config_avoid_method).
	AvoidMethods []string
	// RequireFeatures lists features the backend must have
	// (event_config_require_features).
	RequireFeatures Features
	// Flags are the EVENT_BASE_FLAG_* flags (event_config_set_flag).
	Flags BaseFlags
	// MaxDispatchInterval, MaxCallbacks and MinPriority limit how long the
	// loop runs callbacks before it checks for new events
	// (event_config_set_max_dispatch_interval). Zero means no limit for the
	// first two. The limits apply to priorities from MinPriority upwards
	// (numerically); 0 means every priority.
	MaxDispatchInterval time.Duration
	MaxCallbacks        int
	MinPriority         int
	// NumCPUsHint is the number of CPUs libevent should plan for
	// (event_config_set_num_cpus_hint); only the Windows IOCP backend uses
	// it. Zero leaves libevent's default.
	NumCPUsHint int
}

// validate checks the fields that libevent would accept silently or abort
// on.
func (c *Config) validate() error {
	const op = "event_base_new_with_config"
	if c.Method != "" && !containsString(SupportedMethods(), c.Method) {
		return invalidError(op, "backend %q is not supported on this platform (supported: %s)",
			c.Method, strings.Join(SupportedMethods(), ", "))
	}
	for _, m := range c.AvoidMethods {
		if !containsString(knownMethods, m) {
			return invalidError("event_config_avoid_method", "unknown backend %q (libevent knows: %s)",
				m, strings.Join(knownMethods, ", "))
		}
		if m == c.Method {
			return invalidError("event_config_avoid_method", "backend %q is both required and avoided", m)
		}
	}
	if c.RequireFeatures&^allFeatures != 0 {
		return invalidError("event_config_require_features", "unknown feature bits 0x%x",
			int(c.RequireFeatures&^allFeatures))
	}
	if c.Flags&^allBaseFlags != 0 {
		return invalidError("event_config_set_flag", "unknown flag bits 0x%x", int(c.Flags&^allBaseFlags))
	}
	if c.MaxDispatchInterval < 0 {
		return invalidError("event_config_set_max_dispatch_interval",
			"negative MaxDispatchInterval %v", c.MaxDispatchInterval)
	}
	if c.MaxCallbacks < 0 {
		return invalidError("event_config_set_max_dispatch_interval", "negative MaxCallbacks %d", c.MaxCallbacks)
	}
	if c.MinPriority < 0 || c.MinPriority >= maxPriorities {
		return invalidError("event_config_set_max_dispatch_interval",
			"MinPriority %d out of range [0, %d)", c.MinPriority, maxPriorities)
	}
	if c.NumCPUsHint < 0 {
		return invalidError("event_config_set_num_cpus_hint", "negative NumCPUsHint %d", c.NumCPUsHint)
	}
	return nil
}

// build returns an event_config with c's settings; the caller frees it.
func (c *Config) build() (*C.struct_event_config, error) {
	cfg := C.event_config_new()
	if cfg == nil {
		return nil, opError("event_config_new", nil)
	}
	ok := false
	defer func() {
		if !ok {
			C.event_config_free(cfg)
		}
	}()

	avoid := append([]string(nil), c.AvoidMethods...)
	if c.Method != "" {
		for _, m := range SupportedMethods() {
			if m != c.Method {
				avoid = append(avoid, m)
			}
		}
	}
	for _, m := range avoid {
		name := C.CString(m)
		r := C.event_config_avoid_method(cfg, name)
		C.free(unsafe.Pointer(name))
		if r != 0 {
			return nil, opError("event_config_avoid_method", nil)
		}
	}
	if c.RequireFeatures != 0 {
		if C.event_config_require_features(cfg, C.int(c.RequireFeatures)) != 0 {
			return nil, opError("event_config_require_features", nil)
		}
	}
	if c.Flags != 0 {
		if C.event_config_set_flag(cfg, C.int(c.Flags)) != 0 {
			return nil, opError("event_config_set_flag", nil)
		}
	}
	if c.MaxDispatchInterval != 0 || c.MaxCallbacks != 0 || c.MinPriority != 0 {
		interval := int64(-1)
		if c.MaxDispatchInterval > 0 {
			interval = durationToMicros(c.MaxDispatchInterval)
		}
		maxCallbacks := -1
		if c.MaxCallbacks > 0 {
			maxCallbacks = c.MaxCallbacks
		}
		if C.golibevent_config_set_max_dispatch_interval(cfg, C.int64_t(interval),
			C.int(maxCallbacks), C.int(c.MinPriority)) != 0 {
			return nil, opError("event_config_set_max_dispatch_interval", nil)
		}
	}
	if c.NumCPUsHint != 0 {
		if C.event_config_set_num_cpus_hint(cfg, C.int(c.NumCPUsHint)) != 0 {
			return nil, opError("event_config_set_num_cpus_hint", nil)
		}
	}
	ok = true
	return cfg, nil
}

// SupportedMethods returns the backends compiled into the linked libevent
// that this platform supports, best first (event_get_supported_methods).
func SupportedMethods() []string {
	list := C.event_get_supported_methods()
	if list == nil {
		return nil
	}
	var out []string
	for _, p := range unsafe.Slice(list, 16) {
		if p == nil {
			break
		}
		out = append(out, C.GoString(p))
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// durationToMicros converts d to microseconds for a struct timeval, rounding
// up so that a positive duration never becomes zero.
func durationToMicros(d time.Duration) int64 {
	return int64((d + time.Microsecond - 1) / time.Microsecond)
}
