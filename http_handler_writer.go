//go:build cgo

package libevent

/*
#include "http_handler_cgo.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// responseWriter is the http.ResponseWriter of the adapter. Like net/http's,
// it is for the handler's goroutine only.
type responseWriter struct {
	r   *HTTPRequest
	req *http.Request

	header http.Header
	// sent is header as WriteHeader found it, which is what the client
	// gets, as a block of NUL-terminated names and values for
	// golibevent_http_add_output_headers. It leaves out Transfer-Encoding,
	// whose framing libevent chooses, and Content-Length, which is in
	// sentLength.
	sent []byte
	// sentLength contains the values of a valid Content-Length header at
	// WriteHeader, and sentType reports whether there was a Content-Type
	// header.
	sentLength  []string
	sentType    bool
	status      int
	wroteHeader bool
	// declared is the Content-Length that the handler set, or -1.
	declared int64
	// written counts the body bytes that Write accepted.
	written int64
	buf     []byte
	// headSniff keeps the first bytes written in reply to HEAD, which
	// libevent does not send, for the sniffed Content-Type.
	headSniff []byte

	// started is set once the status and headers were handed to libevent
	// for a chunked reply; the body then goes out in chunks.
	started bool
	// inFlight is set while libevent has not yet written the last chunk;
	// chunkWritten receives a value when it has.
	inFlight     bool
	chunkWritten chan struct{}
	// err is the error that ends the reply, returned by every later Write.
	err error
}

// serveHTTPHandler runs h for req on its own goroutine and sends the reply
// when h returns or panics.
func serveHTTPHandler(h http.Handler, r *HTTPRequest, req *http.Request, cancel context.CancelFunc) {
	w := &responseWriter{r: r, req: req, header: make(http.Header), declared: -1}
	defer cancel()
	defer func() {
		v := recover()
		if v == nil {
			w.finish()
			return
		}
		if v != http.ErrAbortHandler {
			stack := make([]byte, 64<<10)
			stack = stack[:runtime.Stack(stack, false)]
			currentLogger().Error("libevent: panic in an http.Handler",
				slog.String("remote", req.RemoteAddr),
				slog.String("uri", req.RequestURI),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(stack)))
		}
		w.abort()
	}()
	h.ServeHTTP(w, req)
}

// Header returns the header map of the reply, which WriteHeader copies.
func (w *responseWriter) Header() http.Header {
	return w.header
}

// WriteHeader sets the status code. Later calls are ignored and logged, as
// under net/http; 1xx codes are ignored because libevent cannot send an
// informational reply ahead of the final one.
func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.wroteHeader {
		currentLogger().Warn("libevent: superfluous WriteHeader call in an http.Handler",
			slog.Int("code", code), slog.String("uri", w.req.RequestURI))
		return
	}
	if code < 200 {
		return
	}
	w.wroteHeader = true
	w.status = code
	w.snapshotHeader()
}

// snapshotHeader serializes the header into sent, instead of copying the
// map as net/http does, which spares an allocation per value and leaves
// the handler free to change the map afterwards.
func (w *responseWriter) snapshotHeader() {
	// Room for the headers as they are and the two that the reply may
	// add, so that the block is allocated once.
	size := 64
	for name, values := range w.header {
		for _, v := range values {
			size += len(name) + len(v) + 2
		}
	}
	block := make([]byte, 0, size)
	for name, values := range w.header {
		if !validHeaderName(name) {
			continue
		}
		switch {
		case strings.EqualFold(name, "Transfer-Encoding"):
			// libevent chooses the framing of the body.
			continue
		case strings.EqualFold(name, "Content-Length"):
			// As in net/http, a status without a body drops it.
			if len(values) == 0 || !w.bodyAllowed() {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(values[0]), 10, 64)
			if err == nil && n >= 0 {
				w.declared = n
				w.sentLength = append([]string(nil), values...)
			}
			continue
		case strings.EqualFold(name, "Content-Type"):
			// net/http drops Content-Type from a 304 as well.
			if w.status == http.StatusNotModified {
				continue
			}
			w.sentType = true
		}
		for _, v := range values {
			block = appendHeader(block, name, v)
		}
	}
	w.sent = block
}

// appendHeader appends name and value to a header block, each followed by
// a NUL, with CR, LF and NUL in the value turned into spaces.
func appendHeader(block []byte, name, value string) []byte {
	block = append(block, name...)
	block = append(block, 0)
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == '\r' || c == '\n' || c == 0 {
			c = ' '
		}
		block = append(block, c)
	}
	return append(block, 0)
}

// bodyAllowed reports whether a reply with the status may have a body.
func (w *responseWriter) bodyAllowed() bool {
	return w.status != http.StatusNoContent && w.status != http.StatusNotModified
}

// Write buffers p, or sends it as chunks once the reply is chunked.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.req.Method == http.MethodHead {
		// libevent sends no body in reply to HEAD, but net/http still
		// sniffs its Content-Type.
		if n := sniffLen - len(w.headSniff); n > 0 && !w.sentType {
			w.headSniff = append(w.headSniff, p[:min(n, len(p))]...)
		}
		return len(p), nil
	}
	if !w.started && len(w.buf)+len(p) <= handlerBufferSize {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if !w.started {
		if err := w.start(p); err != nil {
			return 0, err
		}
	}
	if err := w.sendBuffered(); err != nil {
		return 0, err
	}
	if err := w.sendChunks(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends the status, the headers and the buffered body now, which
// makes the reply chunked (http.Flusher).
func (w *responseWriter) Flush() {
	_ = w.FlushError()
}

// FlushError is Flush that returns its error, which
// http.ResponseController.Flush uses.
func (w *responseWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if !w.started {
		if err := w.start(nil); err != nil {
			return err
		}
	}
	return w.sendBuffered()
}

// fail records err as the end of the reply and returns it.
func (w *responseWriter) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// reasonPhrases holds the NUL-terminated reason phrase of each status code
// from 100 to 999 that Go knows, made once so that replies do not allocate
// them.
var reasonPhrases = func() map[int][]byte {
	phrases := make(map[int][]byte)
	for code := 100; code <= 999; code++ {
		if text := http.StatusText(code); text != "" {
			phrases[code] = append([]byte(text), 0)
		}
	}
	return phrases
}()

// reasonPhrase returns Go's reason phrase for code as a NUL-terminated
// string, or nil to let libevent choose one. The caller must not change it.
func reasonPhrase(code int) []byte {
	return reasonPhrases[code]
}

// cBytes returns a C view of b for the length of one cgo call, or nil for
// an empty b.
func cBytes(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// sniffLen is how many bytes http.DetectContentType looks at.
const sniffLen = 512

// headerBlock encodes the headers to send as name\0value\0 pairs. sniff is
// the start of the body, from which Content-Type is guessed when the
// handler set none; contentLength, when not negative, replaces the
// Content-Length header.
func (w *responseWriter) headerBlock(sniff []byte, contentLength int64) []byte {
	// sent is used once, by finish or by start, so the block grows in
	// place.
	block := w.sent
	if !w.sentType && len(sniff) > 0 && w.bodyAllowed() {
		block = appendHeader(block, "Content-Type", http.DetectContentType(sniff[:min(len(sniff), sniffLen)]))
	}
	switch {
	case contentLength >= 0:
		block = appendHeader(block, "Content-Length", strconv.FormatInt(contentLength, 10))
	default:
		for _, v := range w.sentLength {
			block = appendHeader(block, "Content-Length", v)
		}
	}
	w.sent = nil
	return block
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return false
		}
	}
	return true
}

// start hands the status and headers to libevent and starts a chunked reply
// (evhttp_send_reply_start). next is the data about to follow the buffered
// body, for sniffing the Content-Type.
func (w *responseWriter) start(next []byte) error {
	const op = "evhttp_send_reply_start"
	sniff := w.buf
	if len(sniff) == 0 {
		sniff = next
	}
	if len(sniff) == 0 {
		sniff = w.headSniff
	}
	block := w.headerBlock(sniff, -1)
	reason := reasonPhrase(w.status)
	r := w.r
	err := r.call(op, func(req *C.struct_evhttp_request) error {
		if r.state != replyNone {
			return wrapError(op, ErrReplied)
		}
		if C.golibevent_http_request_detached(req) != 0 {
			return errClientGone
		}
		if C.golibevent_http_add_output_headers(req, (*C.char)(cBytes(block)), C.size_t(len(block))) != 0 {
			return invalidError(op, "libevent rejected a reply header")
		}
		C.golibevent_http_send_reply_start(req, C.int(w.status), (*C.char)(cBytes(reason)))
		r.state = replyChunking
		return nil
	})
	w.started = true
	if err != nil {
		return w.fail(err)
	}
	w.chunkWritten = make(chan struct{}, 1)
	return nil
}

// sendBuffered sends the buffered body as chunks and empties the buffer.
func (w *responseWriter) sendBuffered() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.sendChunks(w.buf)
	w.buf = nil
	return err
}

// sendChunks sends p in chunks of at most handlerChunkSize, each after
// libevent has written the one before, so that at most one chunk and the
// socket's buffer are in flight.
func (w *responseWriter) sendChunks(p []byte) error {
	for len(p) > 0 {
		n := min(len(p), handlerChunkSize)
		if err := w.waitWritten(); err != nil {
			return err
		}
		written := w.chunkWritten
		err := w.r.SendReplyChunkWithCallback(p[:n], func() {
			select {
			case written <- struct{}{}:
			default:
			}
		})
		if err != nil {
			return w.fail(err)
		}
		w.inFlight = true
		p = p[n:]
	}
	return nil
}

// waitWritten waits until libevent has written the last chunk. It fails
// when the server is closed or the client has gone away, which it checks
// every handlerLivenessCheck because libevent runs no chunk callback then.
func (w *responseWriter) waitWritten() error {
	if !w.inFlight {
		return nil
	}
	select {
	case <-w.chunkWritten:
		w.inFlight = false
		return nil
	default:
	}
	ticker := time.NewTicker(handlerLivenessCheck)
	defer ticker.Stop()
	for {
		select {
		case <-w.chunkWritten:
			w.inFlight = false
			return nil
		case <-w.req.Context().Done():
			return w.fail(wrapError("evhttp_send_reply_chunk", ErrClosed))
		case <-ticker.C:
			if err := w.checkClient(); err != nil {
				return w.fail(err)
			}
		}
	}
}

// checkClient returns errClientGone once the request has lost its
// connection.
func (w *responseWriter) checkClient() error {
	return w.r.call("evhttp_request_get_connection", func(req *C.struct_evhttp_request) error {
		if C.golibevent_http_request_detached(req) != 0 {
			return errClientGone
		}
		return nil
	})
}

// finish sends the reply after the handler returned: the buffered body as
// one reply with Content-Length, or the end of a chunked reply.
func (w *responseWriter) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.started {
		w.finishChunked()
		return
	}

	const op = "evhttp_send_reply"
	contentLength := int64(len(w.buf))
	switch {
	case !w.bodyAllowed():
		// As in net/http, 204 and 304 get no Content-Length.
		contentLength = -1
	case w.req.Method == http.MethodHead:
		// A HEAD reply carries the Content-Length that a GET would get.
		contentLength = -1
		if w.declared < 0 && w.written > 0 {
			contentLength = w.written
		}
	}
	sniff := w.buf
	if len(sniff) == 0 {
		sniff = w.headSniff
	}
	block := w.headerBlock(sniff, contentLength)
	reason := reasonPhrase(w.status)
	body := w.buf
	r := w.r
	// The handler's goroutine does not wait for the loop: nothing is left
	// for it to do, and Post batches the replies of many handlers into
	// one wake-up of the loop.
	err := r.base.Post(func() {
		r.callMu.Lock()
		defer r.callMu.Unlock()
		if r.ptr == nil || r.state != replyNone {
			// The server was closed, which freed the request.
			return
		}
		req := r.ptr
		result := C.golibevent_http_send_reply_with_headers(req, C.int(w.status), (*C.char)(cBytes(reason)),
			(*C.char)(cBytes(block)), C.size_t(len(block)), cBytes(body), C.size_t(len(body)))
		if result != 0 {
			C.golibevent_http_abort_request(req)
			r.state = replyDone
			r.finish(ErrClosed)
			if result == -1 {
				w.logReplyError(invalidError(op, "libevent rejected a reply header"))
			} else {
				w.logReplyError(opError(op, nil))
			}
			return
		}
		r.state = replyDone
		r.finish(ErrReplied)
	})
	w.logReplyError(err)
}

// finishChunked ends a chunked reply, or closes the connection when the
// body fell short of the Content-Length that the handler set.
func (w *responseWriter) finishChunked() {
	err := w.err
	if err == nil {
		err = w.sendBuffered()
	}
	if err == nil && (w.declared < 0 || w.written == w.declared || w.req.Method == http.MethodHead) {
		w.logReplyError(w.r.SendReplyEnd())
		return
	}
	w.abortStarted()
}

// abort ends the reply after a panic: 500 if nothing was sent yet, else a
// closed connection.
func (w *responseWriter) abort() {
	if w.started {
		w.abortStarted()
		return
	}
	w.logReplyError(w.r.SendError(http.StatusInternalServerError, ""))
}

// abortStarted closes the connection of a chunked reply, or frees the
// request if the connection is gone already. It first waits until the
// chunks sent so far are written, as net/http has written what Flush sent.
func (w *responseWriter) abortStarted() {
	const op = "evhttp_connection_free"
	if w.err == nil {
		_ = w.waitWritten()
	}
	r := w.r
	err := r.call(op, func(req *C.struct_evhttp_request) error {
		if r.state == replyDone {
			return wrapError(op, ErrReplied)
		}
		C.golibevent_http_abort_request(req)
		r.state = replyDone
		r.finish(ErrClosed)
		return nil
	})
	w.logReplyError(err)
}

// logReplyError logs a reply that could not be sent for a reason other than
// the server closing, which is the expected way for a reply to be dropped.
func (w *responseWriter) logReplyError(err error) {
	if err == nil || isClosedError(err) {
		return
	}
	currentLogger().Warn("libevent: failed to send the reply of an http.Handler",
		slog.String("uri", w.req.RequestURI), slog.String("error", err.Error()))
}

// isClosedError reports whether err means that the reply can no longer be
// sent because the server, the request or the connection is gone.
func isClosedError(err error) bool {
	return errors.Is(err, ErrClosed) || errors.Is(err, errClientGone)
}
