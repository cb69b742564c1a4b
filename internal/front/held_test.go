//go:build unix

package front

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// blockingClient is an HTTP/1.1 client on a blocking socket: each read(2)
// waits for data, so it makes exactly one per response that arrives in one
// segment, and the process's read count is the server's plus that one.
type blockingClient struct{ fd int }

func dialBlocking(t *testing.T, addr string) *blockingClient {
	t.Helper()
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	return &blockingClient{fd: fd}
}

// exchange sends req and reads until want bytes came.
func (b *blockingClient) exchange(t *testing.T, req []byte, want int) {
	t.Helper()
	if _, err := syscall.Write(b.fd, req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, want)
	for got := 0; got < want; {
		n, err := syscall.Read(b.fd, buf[got:])
		if err != nil || n <= 0 {
			t.Fatalf("read: %d, %v", n, err)
		}
		got += n
	}
	if !strings.HasPrefix(string(buf), "HTTP/1.1 200") {
		t.Fatalf("response: %q", buf)
	}
}

// The response fasthttp writes is sent by the read of the next request
// (held.go), so the read(2) that would find nothing right after a response
// is never made: per keep-alive exchange the server makes one read, where
// it made two (the request, then EAGAIN).
func TestHeldResponseSavesTheEmptyRead(t *testing.T) {
	_, err := testenv.ReadSyscalls()
	testenv.Require(t, "the kernel's read count (/proc/self/io)", err)
	addr := serve(t, &Server{Log: slogDiscard(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := []byte("GET /v1/orders HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
	size := firstResponse(t, c, req)
	c.Close()

	b := dialBlocking(t, addr)
	for range 5 {
		b.exchange(t, req, size) // pools warm
	}
	const n = 200
	before, _ := testenv.ReadSyscalls()
	for range n {
		b.exchange(t, req, size)
	}
	after, _ := testenv.ReadSyscalls()
	perExchange := float64(after-before) / n
	t.Logf("%.2f read syscalls per exchange (the server's and the client's one)", perExchange)
	if perExchange > 2.1 {
		t.Fatalf("%.2f read syscalls per exchange, want 2: the server's read of the request and the client's of the response, without the server's empty read after each response", perExchange)
	}
}

// A client that pipelines — its next request arrives while the handler
// runs, after the server read the first — is answered within two sweeps
// (WatchAfter here, not a watcher's: the request runs for less): the held
// read that lost that request's readiness is nudged by the sweeper, finds
// the bytes, and the connection holds no more. Without the nudge the
// second request waited for the idle timeout.
func TestPipelinedRequestDuringHandlerIsAnswered(t *testing.T) {
	addr := serve(t, &Server{Log: slogDiscard(), WatchAfter: time.Second, IdleTimeout: 20 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				time.Sleep(100 * time.Millisecond) // the next request arrives meanwhile
			}
			_, _ = io.WriteString(w, r.URL.Path)
		})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	// round: /slow, then /next sent while /slow's handler runs; the time
	// until both answers are in. /slow follows a request at once, so its
	// connection is busy and its response held.
	round := func() time.Duration {
		t.Helper()
		if _, err := io.WriteString(c, "GET /warm HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if res, err := http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		} else {
			_, _ = io.ReadAll(res.Body)
		}
		start := time.Now()
		if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond) // the server has read /slow
		if _, err := io.WriteString(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		readPath(t, br, "/slow")
		readPath(t, br, "/next")
		return time.Since(start)
	}
	d := round()
	t.Logf("first round: %v", d)
	if d > 3*time.Second {
		t.Fatalf("the pipelined request was answered after %v: its held read was not nudged", d)
	}
	// The nudge found the request: the connection holds no more, and the
	// same pattern takes the handler's time only.
	for i := range 3 {
		if d := round(); d > 600*time.Millisecond {
			t.Errorf("round %d took %v: the connection still holds after a nudge found a pipelined request", i+2, d)
		}
	}
}

// An idle keep-alive connection's held read is nudged once and goes on
// waiting under the idle deadline fasthttp set: the next request, long
// after, is answered, and the idle timeout still closes the connection.
func TestHeldReadNudgedKeepsTheIdleDeadline(t *testing.T) {
	addr := serve(t, &Server{Log: slogDiscard(), WatchAfter: 40 * time.Millisecond, IdleTimeout: 600 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get := func() {
		t.Helper()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(res.Body)
	}
	get()
	get()                              // at once: its response is held
	time.Sleep(300 * time.Millisecond) // several sweeps: nudged, still open
	get()
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, %v; want the server to close it", n, err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Fatalf("closed after %v of idleness, want about the idle timeout (600ms)", d)
	}
}

// Close sends a response that no read has claimed yet (Shutdown closes a
// connection fasthttp counts idle once its response is written — here,
// held), then closes.
func TestCloseSendsTheHeldResponse(t *testing.T) {
	c, peer := holdingConn(t)
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	if n, err := io.WriteString(c, resp); err != nil || n != len(resp) {
		t.Fatalf("held write: %d, %v", n, err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := peer.Read(make([]byte, 1)); n != 0 {
		t.Fatal("the response was sent before a read or Close: not held")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil || string(got) != resp {
		t.Fatalf("peer read %q, %v; want the held response, then the end", got, err)
	}
}

// A held response's buffer goes back to the server's pool once it is
// sent: a connection waiting for its next request keeps none.
func TestIdleConnectionKeepsNoHeldBuffer(t *testing.T) {
	s := &Server{Log: slogDiscard(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 3000))
	})}
	addr := serve(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 3 {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(res.Body)
	}
	time.Sleep(20 * time.Millisecond) // the server's read is waiting
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if len(s.conns) != 1 {
		t.Fatalf("%d tracked connections, want 1", len(s.conns))
	}
	for cc := range s.conns {
		cc.h.mu.Lock()
		buf, held := cc.h.buf, len(cc.h.held)
		cc.h.mu.Unlock()
		if buf != nil || held != 0 {
			t.Fatalf("an idle connection keeps a held buffer (%d bytes held)", held)
		}
	}
}

// A client that sends two requests in one segment has the second served
// from fasthttp's buffer, without a Read: the first's held response is
// sent when the second starts, not after its handler (which here takes a
// second, or streams). Without that, the first answer waited for the
// second's handler, and a stream's events were held with it.
func TestPipelinedInOneSegmentIsNotHeldBack(t *testing.T) {
	addr := serve(t, &Server{Log: slogDiscard(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(time.Second)
		case "/stream":
			_, _ = io.WriteString(w, "event 1\n")
			w.(http.Flusher).Flush()
			time.Sleep(time.Second)
			_, _ = io.WriteString(w, "event 2\n")
			return
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})})
	for _, second := range []string{"/slow", "/stream"} {
		t.Run(second, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "GET /warm HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			readPath(t, br, "/warm") // the connection is busy: the next response is held
			start := time.Now()
			if _, err := io.WriteString(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET "+second+" HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			readPath(t, br, "/a")
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Fatalf("the answer to /a took %v: it waited for the pipelined %s", d, second)
			}
			if second == "/stream" {
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				line, err := bufio.NewReader(res.Body).ReadString('\n')
				if err != nil || line != "event 1\n" {
					t.Fatalf("first event: %q, %v", line, err)
				}
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Fatalf("the stream's first event took %v: it was held", d)
				}
			}
		})
	}
}

// Close from another goroutine (Shutdown's) while the owner's Read is
// about to send the held response: the client gets the response exactly
// once, whichever wins (the claim under the mutex decides), and under the
// race detector nothing races.
func TestHeldReadRacesClose(t *testing.T) {
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	for range 100 {
		c, peer := holdingConn(t)
		if _, err := io.WriteString(c, resp); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _, _ = c.Read(make([]byte, 64)) }()
		_ = c.Close()
		<-done
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := io.ReadAll(peer); string(got) != resp {
			t.Fatalf("peer got %q, %v; want the response once", got, err)
		}
	}
}

// An upgraded connection is read and written from two goroutines at once
// (httputil.ReverseProxy copies both ways): nothing is held on it, and
// under the race detector the reader's and writer's paths do not race.
func TestUpgradedConnectionIsFullDuplex(t *testing.T) {
	addr := serve(t, &Server{Log: slogDiscard(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		done := make(chan struct{})
		go func() { // one way (Read itself: io.Copy would take TCPConn's WriteTo)
			defer close(done)
			b := make([]byte, 16)
			for {
				if _, err := conn.Read(b); err != nil {
					return
				}
			}
		}()
		for range 30 { // the other
			if _, err := io.WriteString(conn, "tick\n"); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		conn.Close()
		<-done
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range 30 {
			if _, err := io.WriteString(c, "x"); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 101") || strings.Count(string(got), "tick\n") != 30 {
		t.Fatalf("upgraded stream: %q", got)
	}
}

// holdingConn is the server's end of a loopback connection, set to hold
// the next response (as after a request that came at once), and the
// client's end.
func holdingConn(t *testing.T) (*clientConn, *net.TCPConn) {
	t.Helper()
	peer, tc := testenv.TCPPair(t)
	raw, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	c := newClientConn(tc, raw, &Server{})
	c.h.busy = true
	c.holdResponse()
	return c, peer
}

// readPath reads one response from br whose body must be path (the test
// handlers answer with the request's path).
func readPath(t *testing.T, br *bufio.Reader, path string) {
	t.Helper()
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response to %s: %v", path, err)
	}
	body, _ := io.ReadAll(res.Body)
	if string(body) != path {
		t.Fatalf("response %q, want %q", body, path)
	}
}
