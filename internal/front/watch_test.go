//go:build unix

package front

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startWatching serves h with a front that watches requests after 50 ms.
func startWatching(t *testing.T, h http.Handler) string {
	t.Helper()
	return serve(t, &Server{Handler: h, WatchAfter: 50 * time.Millisecond})
}

// slowEcho answers "<path> ctx=<the context's error>", after 300 ms for
// /slow.
var slowEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/slow" {
		time.Sleep(300 * time.Millisecond)
	}
	fmt.Fprintf(w, "%s ctx=%v", r.URL.Path, r.Context().Err())
})

// TestClientGoneWhileWaiting: a client that leaves while its request waits
// (nothing written yet, so no write can fail) has the request's context
// cancelled, as on net/http — the way an upstream call that would run on
// (an LLM completion) is stopped. Both a close and a reset.
func TestClientGoneWhileWaiting(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		leave func(*net.TCPConn)
	}{
		{"close", func(c *net.TCPConn) { _ = c.Close() }},
		{"reset", func(c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cancelled := make(chan time.Duration, 1)
			addr := startWatching(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				start := time.Now()
				select {
				case <-r.Context().Done():
					cancelled <- time.Since(start)
				case <-time.After(10 * time.Second):
					close(cancelled)
				}
			}))
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: gw\r\n\r\n")
			time.Sleep(200 * time.Millisecond) // the request is watched by now
			tc.leave(c.(*net.TCPConn))
			d, ok := <-cancelled
			if !ok {
				t.Fatal("the request's context was not cancelled after the client left")
			}
			t.Logf("cancelled %v after the request started", d)
		})
	}
}

// TestSlowRequestKeepsItsClient: a watched request whose client stays is
// not cancelled, its response arrives, and the connection serves the next
// request at once (the watcher left the socket to fasthttp).
func TestSlowRequestKeepsItsClient(t *testing.T) {
	addr := startWatching(t, slowEcho)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, path := range []string{"/slow", "/fast", "/slow", "/fast"} {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gw\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := body(resp); got != path+" ctx=<nil>" {
			t.Fatalf("request %d: %q", i, got)
		}
		if path == "/fast" && time.Since(start) > time.Second {
			t.Fatalf("request %d took %v after a watched one", i, time.Since(start))
		}
	}
}

// TestPipelinedWhileWatched: a request pipelined behind a watched one is
// not taken for a client leaving, and both are answered in order.
func TestPipelinedWhileWatched(t *testing.T) {
	addr := startWatching(t, slowEcho)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: gw\r\n\r\n")
	time.Sleep(150 * time.Millisecond) // watched, and then the next one arrives
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: gw\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"/slow ctx=<nil>", "/next ctx=<nil>"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := body(resp); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// TestStreamedBodyNotWatched: while a handler still reads a streamed body
// the socket is its; the body arrives whole however long it takes, and the
// request is watched only after it.
func TestStreamedBodyNotWatched(t *testing.T) {
	addr := startWatching(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %v ctx=%v", len(b), err, r.Context().Err())
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := strings.Repeat("x", 1000)
	for range 6 {
		time.Sleep(60 * time.Millisecond)
		fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk)
	}
	io.WriteString(c, "0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := body(resp); got != "6000 <nil> ctx=<nil>" {
		t.Fatalf("got %q", got)
	}
}

// TestHijackWhileWatched: a handler that takes the connection over after
// it was watched (a protocol upgrade after a slow start) reads what the
// client sends next.
func TestHijackWhileWatched(t *testing.T) {
	addr := startWatching(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		line, err := brw.ReadString('\n')
		if err != nil {
			t.Error(err)
			return
		}
		io.WriteString(conn, "echo: "+line)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	io.WriteString(c, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("%q %v", line, err)
	}
}
