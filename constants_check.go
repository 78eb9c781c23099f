//go:build cgo

package libevent

/*
#include "cgo_callbacks.h"
*/
import "C"

// The exported constants are written as numbers so that go doc shows their
// values. This function stops the build if one differs from the libevent
// header it mirrors: a nonzero difference is an index out of range.
func _() {
	var x [1]struct{}
	_ = x[LoopOnce-C.EVLOOP_ONCE]
	_ = x[LoopNonBlock-C.EVLOOP_NONBLOCK]
	_ = x[LoopNoExitOnEmpty-C.EVLOOP_NO_EXIT_ON_EMPTY]
	_ = x[CountActive-C.EVENT_BASE_COUNT_ACTIVE]
	_ = x[CountVirtual-C.EVENT_BASE_COUNT_VIRTUAL]
	_ = x[CountAdded-C.EVENT_BASE_COUNT_ADDED]
	_ = x[NoLock-C.EVENT_BASE_FLAG_NOLOCK]
	_ = x[IgnoreEnv-C.EVENT_BASE_FLAG_IGNORE_ENV]
	_ = x[StartupIOCP-C.EVENT_BASE_FLAG_STARTUP_IOCP]
	_ = x[NoCacheTime-C.EVENT_BASE_FLAG_NO_CACHE_TIME]
	_ = x[EpollUseChangelist-C.EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST]
	_ = x[PreciseTimer-C.EVENT_BASE_FLAG_PRECISE_TIMER]
	_ = x[FeatureET-C.EV_FEATURE_ET]
	_ = x[FeatureO1-C.EV_FEATURE_O1]
	_ = x[FeatureFDs-C.EV_FEATURE_FDS]
	_ = x[FeatureEarlyClose-C.EV_FEATURE_EARLY_CLOSE]
	_ = x[EvTimeout-C.EV_TIMEOUT]
	_ = x[EvRead-C.EV_READ]
	_ = x[EvWrite-C.EV_WRITE]
	_ = x[EvPersist-C.EV_PERSIST]
	_ = x[EvET-C.EV_ET]
	_ = x[EvClosed-C.EV_CLOSED]
	_ = x[maxPriorities-C.EVENT_MAX_PRIORITIES]
	_ = x[EvSignal-C.EV_SIGNAL]
	_ = x[evFinalize-C.EV_FINALIZE]
	_ = x[BufferDrainsToFd-C.EVBUFFER_FLAG_DRAINS_TO_FD]
	_ = x[EOLAny-C.EVBUFFER_EOL_ANY]
	_ = x[EOLCRLF-C.EVBUFFER_EOL_CRLF]
	_ = x[EOLCRLFStrict-C.EVBUFFER_EOL_CRLF_STRICT]
	_ = x[EOLLF-C.EVBUFFER_EOL_LF]
	_ = x[EOLNUL-C.EVBUFFER_EOL_NUL]
	_ = x[FileSegmentCloseOnFree-C.EVBUF_FS_CLOSE_ON_FREE]
	_ = x[FileSegmentDisableMmap-C.EVBUF_FS_DISABLE_MMAP]
	_ = x[FileSegmentDisableSendfile-C.EVBUF_FS_DISABLE_SENDFILE]
	_ = x[FileSegmentDisableLocking-C.EVBUF_FS_DISABLE_LOCKING]
}
