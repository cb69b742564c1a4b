//go:build !unix

package front

import "syscall"

// canWatch: elsewhere a client that leaves is noticed at the next write.
const canWatch = false

func peekGone(syscall.RawConn) bool { return false }

func peekData(syscall.RawConn) bool { return false }
