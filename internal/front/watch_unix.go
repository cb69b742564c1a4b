//go:build unix

package front

import "syscall"

// canWatch: peeking at a socket needs recv(2) with MSG_PEEK.
const canWatch = true

// peekGone waits until the connection is readable (or its read deadline
// passes) and reports whether the client is gone: end of stream or an
// error. Nothing is consumed.
func peekGone(raw syscall.RawConn) bool {
	var buf [1]byte
	gone := false
	err := raw.Read(func(fd uintptr) bool {
		for {
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // nothing yet: wait for readiness
			case err != nil, n == 0:
				gone = true // reset, or end of stream
			}
			return true // or bytes: a pipelined request, the client is there
		}
	})
	return err == nil && gone
}

// peekData reports whether the connection has bytes to read now, without
// consuming them or waiting.
func peekData(raw syscall.RawConn) bool {
	var buf [1]byte
	data := false
	_ = raw.Read(func(fd uintptr) bool {
		for {
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			data = err == nil && n > 0
			return true
		}
	})
	return data
}
