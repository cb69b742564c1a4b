//go:build unix

package lazyconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// pair returns a wrapped client connection and the server's end of a real
// loopback TCP connection.
func pair(t *testing.T) (*Conn, *net.TCPConn) {
	t.Helper()
	c, s := testenv.TCPPair(t)
	return Wrap(c), s
}

// readFull reads exactly n bytes from s within a second.
func readFull(t *testing.T, s net.Conn, n int) []byte {
	t.Helper()
	_ = s.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, n)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatalf("server read: %v", err)
	}
	return buf
}

// TestHeldWriteIsSentByTheRead: a held request reaches the peer only when
// the read for its answer starts, and that read returns the answer.
func TestHeldWriteIsSentByTheRead(t *testing.T) {
	c, s := pair(t)
	for i := range 3 { // the same connection, exchange after exchange
		c.Hold()
		req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if n, err := c.Write(req); err != nil || n != len(req) {
			t.Fatalf("exchange %d: held write: %d, %v", i, n, err)
		}
		_ = s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("exchange %d: the peer read %d bytes (%v) before the answer was read: the write was not held", i, n, err)
		}
		got := make(chan []byte, 1)
		go func() { got <- readFull(t, s, len(req)) }()
		go func() {
			<-time.After(20 * time.Millisecond)
			_, _ = s.Write([]byte("answer"))
		}()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "answer" {
			t.Fatalf("exchange %d: read %q, %v; want the answer", i, buf[:n], err)
		}
		if r := <-got; !bytes.Equal(r, req) {
			t.Fatalf("exchange %d: the peer got %q", i, r)
		}
	}
}

// TestHeldWriteTooBigGoesOut: a write that would hold more than MaxHeld is
// sent at once, with what was held before it, in order.
func TestHeldWriteTooBigGoesOut(t *testing.T) {
	c, s := pair(t)
	c.Hold()
	head := []byte("head;")
	big := bytes.Repeat([]byte("b"), MaxHeld)
	if _, err := c.Write(head); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	if got := readFull(t, s, len(head)+len(big)); !bytes.Equal(got, append(head, big...)) {
		t.Fatal("the peer did not get the held head and the big write, in order, before any read")
	}
}

// TestHeldWriteFullSendBuffer: when the socket cannot take the held bytes
// (its send buffer is full of an earlier write the peer has not read yet),
// the rest is sent the ordinary way, which waits, and the answer still
// arrives; the peer gets every byte in order.
func TestHeldWriteFullSendBuffer(t *testing.T) {
	c, s := pair(t)
	_ = c.Conn.(*net.TCPConn).SetWriteBuffer(1) // the kernel's minimum
	_ = s.SetReadBuffer(1)
	// Fill the way to the peer until a write cannot go on.
	var sent bytes.Buffer
	chunk := bytes.Repeat([]byte("j"), 4096)
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		n, err := c.Write(chunk)
		sent.Write(chunk[:n])
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	_ = c.SetWriteDeadline(time.Time{})
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	sent.Write(req)
	c.Hold()
	// Held, the write does not touch the socket; sent, it would block on
	// the full buffer: the deadline turns that into a failure.
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(100 * time.Millisecond) // the held send meets a full buffer
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, sent.Len())
		if _, err := io.ReadFull(s, b); err != nil {
			got <- nil
			return
		}
		_, _ = s.Write([]byte("ok"))
		got <- b
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 8)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "ok" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if b := <-got; !bytes.Equal(b, sent.Bytes()) {
		t.Fatal("the peer did not get every byte in order")
	}
}

// TestHeldWritePeerGone: the peer closed (FIN, seen by the runtime while
// the connection sat idle) or reset the connection before the held send.
// The read must fail at once with the error the ordinary path would give
// a stale keep-alive connection, not wait for its deadline: the reset the
// send draws from the closed socket wakes it.
func TestHeldWritePeerGone(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		close func(*net.TCPConn)
	}{
		{"closed (FIN)", func(s *net.TCPConn) { _ = s.Close() }},
		{"reset (RST)", func(s *net.TCPConn) { _ = s.SetLinger(0); _ = s.Close() }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, s := pair(t)
			tc.close(s)
			time.Sleep(50 * time.Millisecond) // the close arrives and the poller notes it
			c.Hold()
			if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			_, err := c.Read(make([]byte, 64))
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("the read waited %v for a connection the peer had closed", d)
			}
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, io.EOF) {
				t.Fatalf("read: %v, want a reset, broken pipe or EOF", err)
			}
		})
	}
}

// TestHeldWriteAnswerlessClose: the peer reads the request and closes
// without answering: EOF, or for a reset ECONNRESET, as from net.Conn.
func TestHeldWriteAnswerlessClose(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		close func(*net.TCPConn)
		want  error
	}{
		{"closes", func(s *net.TCPConn) { _ = s.CloseWrite() }, io.EOF},
		{"resets", func(s *net.TCPConn) { _ = s.SetLinger(0); _ = s.Close() }, syscall.ECONNRESET},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, s := pair(t)
			req := []byte("GET / HTTP/1.1\r\n\r\n")
			go func() {
				readFull(t, s, len(req))
				tc.close(s)
			}()
			c.Hold()
			_, _ = c.Write(req)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 64)); !errors.Is(err, tc.want) {
				t.Fatalf("read: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestHeldWriteDeadline: a silent peer ends the read at its deadline with
// a timeout error of the usual shape (net.Error, os.ErrDeadlineExceeded).
func TestHeldWriteDeadline(t *testing.T) {
	c, _ := pair(t)
	c.Hold()
	_, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := c.Read(make([]byte, 64))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if !strings.Contains(err.Error(), "read") || strings.Contains(err.Error(), "raw-read") {
		t.Errorf("error %q: want net.Conn's shape, one read operation", err)
	}
}
