//go:build linux && !race

package rawsock

import (
	"syscall"
	"unsafe"
)

// Raw reports whether Socket, ReadFD and WriteFD bypass the runtime's
// system-call bookkeeping here: on Linux, except under the race detector,
// whose happens-before edges between a socket write and the peer's read
// come from syscall.Read and syscall.Write (a test that checks a handler's
// side effect after reading its response would see a false race).
const Raw = true

// ReadFD makes one read(2) of at most 1 GiB into p from the non-blocking
// descriptor fd as a raw system call (see the package doc), again if a
// signal interrupted it, and returns the bytes read and the call's errno
// (nil on success; EAGAIN when there is nothing to read).
func ReadFD(fd uintptr, p []byte) (int, error) { return retried(sysRead, fd, p) }

// WriteFD makes one write(2) of at most 1 GiB of p to the non-blocking
// descriptor fd as a raw system call, again if a signal interrupted it,
// and returns the bytes written and the call's errno (nil on success;
// EAGAIN when the send buffer is full).
func WriteFD(fd uintptr, p []byte) (int, error) { return retried(sysWrite, fd, p) }

func sysRead(fd uintptr, p []byte) (int, error)  { return rawRW(syscall.SYS_READ, fd, p) }
func sysWrite(fd uintptr, p []byte) (int, error) { return rawRW(syscall.SYS_WRITE, fd, p) }

func rawRW(trap, fd uintptr, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
