//go:build unix

package front

import "syscall"

// canWatch: peeking at a socket needs recv(2) with MSG_PEEK.
const canWatch = true

// peekGone waits until the connection is readable (or its read deadline
// passes) and reports whether the client is gone: end of stream or an
// error. Nothing is consumed.
func peekGone(raw syscall.RawConn) bool {
	gone := false
	err := raw.Read(func(fd uintptr) bool {
		n, err := peekByte(fd)
		switch {
		case err == syscall.EAGAIN:
			return false // nothing yet: wait for readiness
		case err != nil, n == 0:
			gone = true // reset, or end of stream
		}
		return true // or bytes: a pipelined request, the client is there
	})
	return err == nil && gone
}

// peekData reports whether the connection has bytes to read now, without
// consuming them or waiting.
func peekData(raw syscall.RawConn) bool {
	data := false
	_ = raw.Read(func(fd uintptr) bool {
		n, err := peekByte(fd)
		data = err == nil && n > 0
		return true
	})
	return data
}

// peekByte looks at the next byte of fd without consuming it or waiting:
// 1, 0 at the end of the stream, or an error (EAGAIN: nothing yet).
func peekByte(fd uintptr) (int, error) {
	var buf [1]byte
	for {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
