// Package rawsock reads and writes a non-blocking socket without telling
// Go's scheduler that the goroutine is in a system call.
//
// Why: net.Conn's Read and Write enter read(2) and write(2) through the
// runtime (entersyscall), and that entry wakes the runtime's monitor thread
// (sysmon) whenever it had gone to sleep because every P was idle. Awake,
// it polls every 20 µs for a millisecond before it backs off. A proxy whose
// one P goes idle between bursts — waiting for an origin that shares its
// CPU, or for the next request — wakes it again and again: under wrk on
// the 2-CPU bench machine sysmon woke ~2 800 times a second, each wake-up a
// context switch that also preempts the gateway's thread, and the gateway
// made 0.39 context switches per request against nginx's 0.075
// (bench/README, "System calls per request"). A read or write of a
// non-blocking socket never waits — it copies what the socket buffer holds
// or has room for, or fails with EAGAIN — so the P has nothing to gain from
// the runtime's bookkeeping. Socket makes those calls as raw system calls
// inside syscall.RawConn's Read and Write, which still wait for readiness
// through the poller, honour the deadlines and keep the descriptor open
// during the call. Measured: 0.39 → 0.17 context switches and 43.8 → 37.8
// µs of CPU per proxied request, +6–15 % req/s (three alternated pairs).
//
// The price: the monitor is also what preempts a goroutine that computes
// for more than 10 ms, and asleep it does not. It wakes for ordinary system
// calls and at the earliest runtime timer pending when it went to sleep,
// so a goroutine woken by the network that then computes for long, in a
// process whose other calls are all raw and whose timers are far off,
// holds a lone P until then (measured with no timer at all: a runnable
// goroutine waited 1.000 s behind a 1-s computation, against 11.7 ms
// through net.Conn). In Gatehouse the front's sweeper ticks every 250 ms
// and the call log's flush every 200 ms, which bounds it; with more than
// one P, an idle P's thread serves the network meanwhile. A timer every
// 20 ms to keep the monitor awake was tried and dropped: woken by a timer
// the monitor keeps its slow polling (up to 10 ms between looks, and two
// looks to hand on a P held in a system call such as the call log's
// fsync), and p99 at half the peak rate was worse with it (nine
// alternated runs: median 8.1 against 6.0 ms; 26 ms in one bench run).
//
// Not under the race detector (see Raw), not outside Linux, and not for a
// connection other than TCP: there Socket makes the connection's ordinary
// Read and Write.
package rawsock

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Socket reads and writes one connection. One Read and one Write may run
// at once (from two goroutines), as with net.Conn; two Reads or two Writes
// may not. The zero Socket is not usable: call Init. A Socket must not be
// copied after Init (its callbacks are bound to its address): embed it in
// the connection's struct.
type Socket struct {
	conn net.Conn
	raw  syscall.RawConn // nil: conn's own Read and Write

	// RawConn callbacks, made once as method values (not a closure per
	// call), and the state of the read and the write in progress.
	rstep, wstep func(fd uintptr) bool
	r, w         op
}

// op is one read or write in progress.
type op struct {
	p   []byte
	n   int
	err error
}

// Init makes s use c: raw system calls for a *net.TCPConn where Raw,
// else c's own Read and Write. The socket must stay non-blocking, as the
// net package leaves it: a raw call on a blocking socket would hold its P
// (and any stop-the-world) while it waited.
func (s *Socket) Init(c net.Conn) {
	*s = Socket{conn: c}
	tc, ok := c.(*net.TCPConn)
	if !Raw || !ok {
		return
	}
	if raw, err := tc.SyscallConn(); err == nil {
		s.raw = raw
		s.rstep, s.wstep = s.read, s.write
	}
}

// Read reads into p with net.Conn.Read's contract: it waits for data up to
// the read deadline, returns io.EOF at the end of the stream, and its other
// errors are a *net.OpError around an *os.SyscallError (a failed read(2)),
// os.ErrDeadlineExceeded or net.ErrClosed.
func (s *Socket) Read(p []byte) (int, error) {
	if s.raw == nil {
		return s.conn.Read(p)
	}
	n, err := s.run(&s.r, p, false)
	switch {
	case err == io.EOF:
		return 0, io.EOF
	case err != nil:
		return n, s.opError("read", err)
	}
	return n, nil
}

// Write writes all of p with net.Conn.Write's contract: it waits for the
// socket to take it up to the write deadline, reports how many bytes were
// written, and its errors are shaped as Read's.
func (s *Socket) Write(p []byte) (int, error) {
	if s.raw == nil {
		return s.conn.Write(p)
	}
	n, err := s.run(&s.w, p, true)
	if err != nil {
		return n, s.opError("write", err)
	}
	return n, nil
}

// run makes one read or write through RawConn (o is s.r or s.w) and
// returns its count and its error: the callback's, or RawConn's own
// (deadline, closed connection) without its "raw-read"/"raw-write" layer.
// A branch, not a method value passed in: that would allocate per call.
func (s *Socket) run(o *op, p []byte, write bool) (int, error) {
	*o = op{p: p}
	var err error
	if write {
		err = s.raw.Write(s.wstep)
	} else {
		err = s.raw.Read(s.rstep)
	}
	n, oerr := o.n, o.err
	*o = op{}
	if err != nil {
		var raw *net.OpError
		if errors.As(err, &raw) {
			err = raw.Err
		}
		oerr = err
	}
	return n, oerr
}

// read is Read's callback for RawConn.Read: true ends the call, false
// waits for the socket to be readable and calls it again.
func (s *Socket) read(fd uintptr) bool {
	if len(s.r.p) == 0 {
		return true // as net.Conn: no call, but a closed connection's error
	}
	n, err := ReadFD(fd, s.r.p)
	switch err {
	case syscall.EAGAIN:
		return false
	case nil:
		s.r.n = n
		if n == 0 {
			s.r.err = io.EOF
		}
	default:
		s.r.err = os.NewSyscallError("read", err)
	}
	return true
}

// write is Write's callback for RawConn.Write: true ends the call, false
// waits for the socket to be writable and calls it again.
func (s *Socket) write(fd uintptr) bool {
	for s.w.n < len(s.w.p) {
		n, err := WriteFD(fd, s.w.p[s.w.n:])
		s.w.n += n
		switch err {
		case nil:
			if n == 0 { // as net.Conn: never loop on a write that takes nothing
				s.w.err = io.ErrUnexpectedEOF
				return true
			}
		case syscall.EAGAIN:
			return false
		default:
			s.w.err = os.NewSyscallError("write", err)
			return true
		}
	}
	return true
}

// opError wraps err as net.Conn's Read and Write do, so that callers which
// classify errors (timeouts, resets, closed connections) see the same
// shapes.
func (s *Socket) opError(name string, err error) error {
	local := s.conn.LocalAddr()
	return &net.OpError{Op: name, Net: local.Network(), Source: local, Addr: s.conn.RemoteAddr(), Err: err}
}

// maxRW caps one read(2) or write(2), as the os and net packages do (some
// kernels refuse larger counts).
const maxRW = 1 << 30

// retried makes one read or write through sys, of at most maxRW bytes, and
// makes it again while a signal interrupts it (EINTR).
func retried(sys func(fd uintptr, p []byte) (int, error), fd uintptr, p []byte) (int, error) {
	if len(p) > maxRW {
		p = p[:maxRW]
	}
	for {
		n, err := sys(fd, p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
