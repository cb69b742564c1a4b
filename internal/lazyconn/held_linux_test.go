package lazyconn

import (
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// readSyscalls is the process's read(2) count (testenv.ReadSyscalls).
func readSyscalls(t *testing.T) int {
	t.Helper()
	n, err := testenv.ReadSyscalls()
	testenv.Require(t, "the kernel's read count (/proc/self/io)", err)
	return n
}

// TestHeldWriteSavesTheEmptyRead is the point of Hold: an answer cannot
// come before its request, so net.Conn.Read's first read(2) after a send
// finds nothing (EAGAIN) and then waits. The held send waits first. Over
// many exchanges with a peer that takes a moment to answer, the held path
// makes about one read(2) fewer per exchange.
func TestHeldWriteSavesTheEmptyRead(t *testing.T) {
	const exchanges = 100
	run := func(hold bool) int {
		c, s := pair(t)
		req := []byte("GET / HTTP/1.1\r\n\r\n")
		done := make(chan struct{})
		go func() { // the peer: read a request, think, answer
			defer close(done)
			buf := make([]byte, len(req))
			for range exchanges {
				if _, err := s.Read(buf); err != nil {
					return
				}
				time.Sleep(time.Millisecond)
				if _, err := s.Write([]byte("a")); err != nil {
					return
				}
			}
		}()
		buf := make([]byte, 8)
		before := readSyscalls(t)
		for i := range exchanges {
			if hold {
				c.Hold()
			}
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
			if n, err := c.Read(buf); err != nil || n != 1 {
				t.Fatalf("exchange %d: %d, %v", i, n, err)
			}
		}
		after := readSyscalls(t)
		<-done
		return after - before
	}
	plain, held := run(false), run(true)
	t.Logf("read syscalls over %d exchanges (client and peer): plain %d, held %d", exchanges, plain, held)
	if plain-held < exchanges/2 {
		t.Fatalf("holding saved %d read syscalls over %d exchanges, want about one per exchange", plain-held, exchanges)
	}
}
