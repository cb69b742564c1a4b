//go:build !unix

package rawsock

import "errors"

// Raw reports whether Socket bypasses the runtime's system-call
// bookkeeping here: not outside Unix, where it makes the connection's
// ordinary Read and Write and ReadFD and WriteFD are not used.
const Raw = false

// ReadFD is not used outside Unix.
func ReadFD(fd uintptr, p []byte) (int, error) { return 0, errors.ErrUnsupported }

// WriteFD is not used outside Unix.
func WriteFD(fd uintptr, p []byte) (int, error) { return 0, errors.ErrUnsupported }
