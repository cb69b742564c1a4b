package rawsock_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/rawsock"
	"gatehouse/internal/testenv"
)

// pair returns both ends of a loopback TCP connection: the one under test
// and its peer.
func pair(t *testing.T) (*net.TCPConn, *net.TCPConn) { return testenv.TCPPair(t) }

// rw is what a case reads and writes through: the Socket or, for
// comparison, the connection's own methods.
type rw interface {
	io.Reader
	io.Writer
}

// engines runs f once over a rawsock.Socket and once over the plain
// net.TCPConn: the two must behave alike.
func engines(t *testing.T, f func(t *testing.T, c *net.TCPConn, peer *net.TCPConn, io rw)) {
	t.Run("rawsock", func(t *testing.T) {
		c, peer := pair(t)
		var s rawsock.Socket
		s.Init(c)
		f(t, c, peer, &s)
	})
	t.Run("net.Conn", func(t *testing.T) {
		c, peer := pair(t)
		f(t, c, peer, c)
	})
}

func TestSocketBehavesAsNetConn(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, c, peer *net.TCPConn, io rw)
	}{
		{"a write arrives and an answer is read", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			if n, err := s.Write([]byte("ping")); n != 4 || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("peer read %q, %v", buf, err)
			}
			peer.Write([]byte("pong"))
			if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "pong" {
				t.Fatalf("Read %q, %v", buf, err)
			}
		}},
		{"a zero-length read returns at once", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			if n, err := s.Read(nil); n != 0 || err != nil {
				t.Fatalf("Read(nil) = %d, %v", n, err)
			}
		}},
		{"the peer's close is io.EOF", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			peer.Write([]byte("last"))
			peer.Close()
			got, err := io.ReadAll(s)
			if err != nil || string(got) != "last" {
				t.Fatalf("ReadAll = %q, %v", got, err)
			}
			if n, err := s.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Fatalf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
			}
		}},
		{"a read deadline is a timeout", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			start := time.Now()
			_, err := s.Read(make([]byte, 8))
			wantOpError(t, err, "read")
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("err = %v; want os.ErrDeadlineExceeded", err)
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("err = %v; want a net.Error with Timeout()", err)
			}
			if d := time.Since(start); d < 20*time.Millisecond {
				t.Fatalf("returned after %v, before the deadline", d)
			}
		}},
		{"a write the peer never reads ends at the write deadline", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			big := make([]byte, 64<<20)
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := s.Write(big)
			wantOpError(t, err, "write")
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("err = %v; want os.ErrDeadlineExceeded", err)
			}
			if n <= 0 || n >= len(big) {
				t.Fatalf("wrote %d of %d bytes; want what the socket took before the deadline", n, len(big))
			}
		}},
		{"a closed connection is net.ErrClosed", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			c.Close()
			_, rerr := s.Read(make([]byte, 8))
			_, werr := s.Write([]byte("x"))
			_, zerr := s.Read(nil)
			for _, err := range []error{rerr, werr, zerr} {
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("err = %v; want net.ErrClosed", err)
				}
			}
			wantOpError(t, rerr, "read")
			wantOpError(t, werr, "write")
		}},
		{"a reset is a system-call error", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			peer.SetLinger(0)
			peer.Close() // RST
			time.Sleep(20 * time.Millisecond)
			_, err := s.Read(make([]byte, 8))
			wantOpError(t, err, "read")
			var se *os.SyscallError
			if !errors.As(err, &se) || se.Syscall != "read" || !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("err = %#v; want read: ECONNRESET", err)
			}
		}},
		{"a write to a reset connection fails", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			peer.SetLinger(0)
			peer.Close()
			time.Sleep(20 * time.Millisecond)
			var err error
			for range 10 { // the first write may be taken before the reset is seen
				if _, err = s.Write([]byte("x")); err != nil {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			wantOpError(t, err, "write")
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("err = %v; want ECONNRESET or EPIPE", err)
			}
		}},
		{"a large write waits for a slow reader and arrives whole", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			want := make([]byte, 8<<20)
			rand.Read(want)
			got := make(chan []byte, 1)
			go func() {
				var b bytes.Buffer
				buf := make([]byte, 64<<10)
				for {
					n, err := peer.Read(buf)
					b.Write(buf[:n])
					if err != nil {
						got <- b.Bytes()
						return
					}
					time.Sleep(100 * time.Microsecond)
				}
			}()
			if n, err := s.Write(want); n != len(want) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			c.CloseWrite()
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("peer got %d bytes, not the %d written", len(b), len(want))
			}
		}},
		{"a write happens before the peer's read of it (race detector)", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			// Under -race, net.Conn's write and the peer's read are a
			// synchronisation edge: a test that checks a handler's side
			// effect after reading its response relies on it.
			shared := 0
			go func() {
				shared = 1
				s.Write([]byte("x"))
			}()
			if _, err := io.ReadFull(peer, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			if shared != 1 {
				t.Fatal("the write's side effect is not seen after the read")
			}
		}},
		{"one read and one write at once, from two goroutines", func(t *testing.T, c, peer *net.TCPConn, s rw) {
			go io.Copy(peer, peer) // echo
			const size = 4 << 20
			want := make([]byte, size)
			rand.Read(want)
			var wg sync.WaitGroup
			wg.Add(1)
			var werr error
			go func() {
				defer wg.Done()
				_, werr = s.Write(want)
			}()
			got := make([]byte, size)
			_, rerr := io.ReadFull(s, got)
			wg.Wait()
			if werr != nil || rerr != nil || !bytes.Equal(got, want) {
				t.Fatalf("write %v, read %v, equal %v", werr, rerr, bytes.Equal(got, want))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { engines(t, tc.run) })
	}
}

// wantOpError checks err is a *net.OpError for op on tcp, as net.Conn's.
func wantOpError(t *testing.T, err error, op string) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != op || oe.Net != "tcp" || oe.Addr == nil {
		t.Fatalf("err = %#v; want a *net.OpError for %s on tcp with the peer's address", err, op)
	}
}

// A connection without a socket (net.Pipe) goes the ordinary way.
func TestSocketWithoutSocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var s rawsock.Socket
	s.Init(a)
	go b.Write([]byte("hi"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(&s, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("Read = %q, %v", buf, err)
	}
}

// A read and a write through a Socket allocate nothing: the callbacks are
// bound once, at Init (the hot path of every proxied request).
func TestSocketAllocatesNothing(t *testing.T) {
	c, peer := pair(t)
	go io.Copy(peer, peer) // echo
	var s rawsock.Socket
	s.Init(c)
	msg, got := []byte("ping"), make([]byte, 4)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(&s, got); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a round trip allocated %v times; want 0", allocs)
	}
}
