//go:build unix

package lazyconn

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestHeldBytesSurviveAnExpiredDeadline: a Read that fails at once
// because the read deadline has already passed (RawConn.Read's
// prepareRead fails before the callback runs) must not throw away writes
// that Write reported as done. net.Conn semantics: after a read timeout the
// caller may extend the deadline and read again (the Expect: 100-continue
// wait does exactly that); the request must still go out.
func TestHeldBytesSurviveAnExpiredDeadline(t *testing.T) {
	c, s := pair(t)
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	c.Hold()
	if n, err := c.Write(req); err != nil || n != len(req) {
		t.Fatalf("write: %d, %v", n, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("first read: %v, want a timeout", err)
	}
	go func() {
		_ = s.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, len(req))
		if _, err := s.Read(buf); err == nil {
			_, _ = s.Write([]byte("answer"))
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 8)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("second read: %v (%d bytes): the request Write accepted was never sent", err, n)
	}
}

// TestKeptHeldBytesStayInOrder: once a failed Read keeps unsent held
// bytes, a Write made before the next Read must not overtake them.
func TestKeptHeldBytesStayInOrder(t *testing.T) {
	c, s := pair(t)
	c.Hold()
	_, _ = c.Write([]byte("A"))
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	_, _ = c.Read(make([]byte, 8)) // fails before the callback runs
	_ = c.SetReadDeadline(time.Time{})
	if _, err := c.Write([]byte("B")); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = c.Read(make([]byte, 8)) }() // sends whatever is still held
	if got := string(readFull(t, s, 2)); got != "AB" {
		t.Fatalf("the peer got %q, want \"AB\"", got)
	}
}
