//go:build unix && (!linux || race)

package rawsock

import "syscall"

// Raw reports whether Socket, ReadFD and WriteFD bypass the runtime's
// system-call bookkeeping here: not outside Linux, nor under the race
// detector (see sys_raw.go).
const Raw = false

// ReadFD makes one ordinary read(2) of at most 1 GiB into p, again if a
// signal interrupted it.
func ReadFD(fd uintptr, p []byte) (int, error) { return retried(sysRead, fd, p) }

// WriteFD makes one ordinary write(2) of at most 1 GiB of p, again if a
// signal interrupted it.
func WriteFD(fd uintptr, p []byte) (int, error) { return retried(sysWrite, fd, p) }

func sysRead(fd uintptr, p []byte) (int, error)  { return noNegative(syscall.Read(int(fd), p)) }
func sysWrite(fd uintptr, p []byte) (int, error) { return noNegative(syscall.Write(int(fd), p)) }

func noNegative(n int, err error) (int, error) {
	if n < 0 {
		n = 0
	}
	return n, err
}
