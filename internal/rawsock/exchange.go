package rawsock

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Exchange sends bytes and then reads the peer's answer inside one
// syscall.RawConn.Read (Run), for a peer that writes only when asked: an
// upstream answering a request, or a client sending its next request once
// it has its response.
//
// Why: Go's net.Conn.Read (and Socket.Read) always tries read(2) before it
// waits, and right after a send that read finds nothing (EAGAIN) — the
// peer cannot have answered yet. nginx tracks readiness and makes no such
// call; on the bench VM a system call costs about a microsecond, a tenth
// of nginx's whole CPU per proxied request (bench/README "System calls per
// request"). RawConn.Read clears the socket's read readiness before it
// calls the callback the first time, so Run sends from inside that first
// call and then waits without reading: the answer's readiness comes after
// the send and so after the reset, and cannot be the one cleared. Bytes
// that arrived before the reset (the peer wrote unasked: a pipelining
// client, or an upstream closing an idle connection) may have had their
// readiness cleared: Run then waits for the next event or the deadline.
// Callers bound that wait (package lazyconn: a short first deadline;
// package front: the sweeper's nudge).
//
// One Exchange per connection, reused exchange after exchange: its
// callback is a method value made once, not a closure per call.
type Exchange struct {
	// Out is sent first; In receives the answer.
	Out, In []byte
	// Claim, when set, is called inside the callback just before the
	// send: false means another goroutine took Out (a Close that sent it
	// itself) and nothing is sent. Sent, when set, is called after a send
	// Claim allowed, whatever its outcome, before the wait: unless Partial
	// or WriteErr is set, Out's buffer may be reused from then on.
	Claim func() bool
	Sent  func()

	// Results of Run: bytes of Out sent, bytes read into In, the errno of
	// a failed write(2) or read(2). Partial: the socket did not take all
	// of Out at once (a full send buffer, unusual between exchanges);
	// Result writes Out[Wrote:] the ordinary way (which waits) and then
	// reads, and In is untouched until then.
	Wrote, N          int
	WriteErr, ReadErr error
	Partial           bool

	waited bool
	step   func(fd uintptr) bool
}

// Run makes the exchange on raw and returns RawConn.Read's own error: a
// deadline or a closed connection, perhaps before anything was sent (Wrote
// says how much was). Results are in x.
func (x *Exchange) Run(raw syscall.RawConn) error {
	if x.step == nil {
		x.step = x.sendRead
	}
	x.Wrote, x.N, x.WriteErr, x.ReadErr, x.Partial, x.waited = 0, 0, nil, nil, false, false
	return raw.Read(x.step)
}

// Result is Run's outcome as a Read's, through s (the same connection's
// Socket): the bytes read into In, or an error shaped as net.Conn's — the
// deadline or closed connection Run returned (runErr), a failed write(2)
// or read(2), io.EOF at the end of the stream. A Partial send is finished
// here: the rest of Out written the ordinary way (which waits), then an
// ordinary read into In. Call it before Out and In change.
func (x *Exchange) Result(runErr error, s *Socket) (int, error) {
	switch {
	case runErr != nil:
		var raw *net.OpError // RawConn.Read's own "raw-read" wrapping
		if errors.As(runErr, &raw) {
			runErr = raw.Err
		}
		return 0, s.opError("read", runErr)
	case x.WriteErr != nil:
		return 0, s.opError("write", os.NewSyscallError("write", x.WriteErr))
	case x.Partial:
		if _, err := s.Write(x.Out[x.Wrote:]); err != nil {
			return 0, err
		}
		return s.Read(x.In)
	case x.ReadErr != nil:
		return 0, s.opError("read", os.NewSyscallError("read", x.ReadErr))
	case x.N == 0 && len(x.In) > 0:
		return 0, io.EOF
	}
	return x.N, nil
}

// sendRead is Run's callback for RawConn.Read: true ends the call, false
// waits for the socket to be readable and calls it again.
func (x *Exchange) sendRead(fd uintptr) bool {
	if !x.waited {
		x.waited = true
		if x.Claim == nil || x.Claim() {
			x.send(fd)
			if x.Sent != nil {
				x.Sent()
			}
			if x.Partial || x.WriteErr != nil {
				return true
			}
		}
		// Sent: wait for the answer instead of reading nothing.
		return len(x.In) == 0
	}
	n, err := ReadFD(fd, x.In)
	switch err {
	case syscall.EAGAIN:
		return false
	case nil:
		x.N = n
	default:
		x.ReadErr = err
	}
	return true
}

// send writes Out, all of it or until the socket takes no more (Partial)
// or fails (WriteErr).
func (x *Exchange) send(fd uintptr) {
	n, err := WriteAvailable(fd, x.Out[x.Wrote:])
	x.Wrote += n
	switch err {
	case nil:
	case syscall.EAGAIN:
		x.Partial = true
	default:
		x.WriteErr = err
	}
}

// WriteAvailable writes p to the non-blocking descriptor fd without
// waiting: all of it, or as much as the send buffer takes. It returns the
// bytes written and nil, EAGAIN when the buffer took no more (also for a
// write that took nothing: as net.Conn, it never loops on one), or the
// write's errno.
func WriteAvailable(fd uintptr, p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := WriteFD(fd, p[written:])
		if n > 0 {
			written += n
		}
		switch {
		case err != nil:
			return written, err
		case n == 0:
			return written, syscall.EAGAIN
		}
	}
	return written, nil
}
