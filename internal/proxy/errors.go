package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"

	"gatehouse/internal/reason"
)

// Phases of an upstream exchange, named in operator texts.
const (
	phaseConnect  = "connect"
	phaseSend     = "send request"
	phaseResponse = "await response headers"
	phaseBody     = "read response body"
)

// failure kinds.
type failKind uint8

const (
	failUnavailable failKind = iota
	failTimeout
	// failClient: the client went away; not the upstream's fault, so no
	// health penalty.
	failClient
)

// errIdleTimeout is reported when a body made no progress within the
// service's read or write timeout.
var errIdleTimeout = errors.New("no progress within the service's timeout")

type timeouter interface{ Timeout() bool }

func classify(err error) failKind {
	var te timeouter
	switch {
	case errors.Is(err, errIdleTimeout),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, fasthttp.ErrTimeout),
		errors.As(err, &te) && te.Timeout():
		return failTimeout
	case errors.Is(err, context.Canceled):
		return failClient
	}
	return failUnavailable
}

// isConnectFailure reports an error that happened before any byte of the
// request left: retrying it elsewhere cannot run the request twice.
func isConnectFailure(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, fasthttp.ErrNoFreeConns)
}

// isStaleConn reports the error a reused keep-alive connection gives when
// the upstream had closed it while idle: EOF or reset before the first
// response byte.
func isStaleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// upstreamError is the rejection for a failure of the upstream before the
// response started (a failClient attempt is clientFailure's). The caller's
// detail says only that the service behind the route failed (never the
// target address); the operator's Debug names the service, the target, the
// phase and the cause.
func upstreamError(kind failKind, up *Upstream, t *Target, phase string, cause error) *reason.Error {
	code, detail := reason.UpstreamUnavailable, "The gateway could not reach the service behind this route."
	if kind == failTimeout {
		code, detail = reason.UpstreamTimeout, "The service behind this route did not answer in time."
	}
	name, target := names(up, t)
	debug := fmt.Sprintf("service %q target %s: %s: %v", name, target, phase, cause)
	return &reason.Error{Code: code, Detail: detail, Debug: debug, Err: cause}
}

// names are the service's name and the target's redacted URL, as operator
// texts quote them.
func names(up *Upstream, t *Target) (name, target string) {
	target = "(no target)"
	if t != nil {
		target = t.redacted
	}
	if up != nil {
		name = up.Name
	}
	return name, target
}

// ErrClientWrite marks a response that failed because writing it to the
// client did (the client left): not the upstream's failure.
var ErrClientWrite = errors.New("write to client")

// ErrClientGone marks a request that failed before any response started
// because the client went away: it closed or reset its connection while
// its body was being forwarded (an upload cut short), or while the
// upstream worked on the answer (the request's context was cancelled).
// Forward returns it (wrapped, with the service, target, phase and cause)
// instead of a *reason.Error: it is no rejection — nobody is left to
// answer, and no reason code is the client's or the upstream's to carry —
// and it is not counted against the target's health. The pipeline records
// it with no code, as it records ErrClientWrite, and with nginx's 499 for
// the status no response carried.
var ErrClientGone = errors.New("the client went away")

// clientFailure is Forward's error for an attempt that failed on the
// client's side (failClient) before the response started: bodyErr is the
// error reading the client's body, if that is what failed, and cause the
// attempt's own error. A body the client could not send properly is
// answered (clientBodyRejection); otherwise the client is gone
// (ErrClientGone).
func clientFailure(r *http.Request, up *Upstream, t *Target, phase string, bodyErr, cause error) error {
	if bodyErr != nil {
		if re := clientBodyRejection(r, up, t, phase, bodyErr); re != nil {
			return re
		}
		cause = bodyErr
	}
	name, target := names(up, t)
	return fmt.Errorf("%w before the response: service %q target %s: during %s (not counted against the target): %w",
		ErrClientGone, name, target, phase, cause)
}

// clientBodyRejection is the answer to a request whose body failed while
// an engine read it from the client, before any response started: the
// client's fault, never the upstream's, so no upstream.* code and no
// health penalty (the callers treat it as failClient). It returns nil when
// the client's connection itself failed (reset, EOF, closed, the request
// cancelled): the client is gone and no answer can reach it, so
// clientFailure reports ErrClientGone.
//
// A body that stopped arriving for longer than the listener's read
// timeout (the connection's read deadline passed) comes from a client that
// may still be there, and an answer can still be written:
// request.read_timeout (408), as for a head or small body that was too
// slow before routing.
//
// A body that outgrew the route's max_body while it was forwarded (the
// pipeline's http.MaxBytesReader: a chunked body declares no length the
// pipeline could check first) is request.too_large (413), as a declared
// length over the limit is.
//
// Any other read error means the body's bytes arrived and do not parse:
// the listener's chunked decoder refused the framing (RFC 9112 §7.1), and
// RFC 9110 §15.5.1 makes that a 400 — request.malformed, whose detail
// carries the decoder's own words. The decoders' errors are unexported
// strings (net/http's "invalid byte in chunk length", fasthttp's "empty
// hex number", …), so they are recognised by elimination rather than by
// name. One consequence: a connection that ends inside a chunk-size line
// or the trailer section is reported by the decoders as broken framing
// (fasthttp's ErrBrokenChunk does not unwrap to io.EOF, net/http's trailer
// error is a string), so it is answered 400 too — truthfully, to a client
// that is usually gone. The listeners close the connection after such a
// request, as they must: where the next request would start is unknown.
func clientBodyRejection(r *http.Request, up *Upstream, t *Target, phase string, err error) *reason.Error {
	name, target := names(up, t)
	if clientTimedOut(err) {
		return &reason.Error{Code: reason.RequestReadTimeout, Err: err,
			Detail: "The request body stopped arriving: the rest of it was not received within the listener's read timeout.",
			Debug: fmt.Sprintf("service %q target %s: the client's request body stalled past the listener's read timeout, the request was cut short during %s (not counted against the target): %v",
				name, target, phase, err)}
	}
	if clientGone(err) {
		return nil
	}
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return &reason.Error{Code: reason.RequestTooLarge, Err: err,
			Detail: fmt.Sprintf("The body is longer than this route accepts: at most %d bytes.", mb.Limit),
			Debug:  fmt.Sprintf("service %q target %s: the client's request body went over the route's max_body of %d bytes, the request was cut short during %s (not counted against the target)", name, target, mb.Limit, phase)}
	}
	detail := "The request body could not be read: " + err.Error() + "."
	if r.ContentLength < 0 || len(r.TransferEncoding) > 0 {
		detail = "The request body's chunked framing is malformed (RFC 9112 §7.1): " + err.Error() + "."
	}
	return &reason.Error{Code: reason.RequestMalformed, Detail: detail, Err: err,
		Debug: fmt.Sprintf("service %q target %s: the client's request body is malformed, the request was cut short during %s (not counted against the target): %v", name, target, phase, err)}
}

// clientTimedOut reports a read from the client's connection that failed
// on its read deadline (the listener's read timeout). A context deadline is
// not one: the listeners put none on a request.
func clientTimedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// clientGone reports a failure of the client's connection rather than of
// what it sent.
func clientGone(err error) bool {
	var ne net.Error // *net.OpError, syscall.Errno, deadlines
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

func noTarget(up *Upstream) *reason.Error {
	cause := errors.New("no usable target")
	if up != nil && up.err != nil {
		cause = fmt.Errorf("no usable target: %w", up.err)
	}
	return upstreamError(failUnavailable, up, nil, phaseConnect, cause)
}

func noUpstream() *reason.Error {
	return &reason.Error{Code: reason.GatewayInternal, Debug: "proxy: Outbound.Upstream is nil"}
}

// idempotent reports the RFC 9110 §9.2.2 idempotent methods.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// retryable reports whether a request may be sent to another target after
// its connection could not be made: idempotent and without a body (a body
// already read from the client cannot be replayed).
func retryable(r *http.Request) bool {
	return idempotent(r.Method) && (r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0)
}
