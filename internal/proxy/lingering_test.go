package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/proxy"
	"gatehouse/internal/proxy/proxytest"
)

// TestLingeringCloseUpstream: an upstream that, right after each response,
// half-closes the connection (shutdown(SHUT_WR), no "Connection: close")
// and lingers draining input before closing — the lingering close of
// Apache/nginx-style servers. The next GET on the pooled connection (used
// moments ago, so not probed) is held; the lingering socket takes it
// without a reset, so no event wakes the wait: the held request's short
// first stage (heldFirstWait) ends, an ordinary read sees the EOF, and the
// request is re-sent on a fresh connection — within half a second, not at
// the response timeout with a 504.
func TestLingeringCloseUpstream(t *testing.T) {
	g := proxytest.NewGateway(t, func(*testing.T) proxy.Forwarder { return proxy.NewFast(proxy.Options{}) })
	closed := make(chan struct{}, 64)
	up := rawUpstream(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		if req, err := http.ReadRequest(br); err == nil {
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
		c.(*net.TCPConn).CloseWrite()
		closed <- struct{}{}
		// linger: drain what the client still sends, then close
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c)
	})
	g.Service(func(s *domain.Service) { s.Timeouts.Response = domain.Duration(3 * time.Second) }, up)
	for i := range 3 {
		start := time.Now()
		resp, b := g.Do(g.NewRequest("GET", "/", nil))
		rec := g.Next()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %d %q after %v: %v", i, resp.StatusCode, b, time.Since(start).Round(time.Millisecond), rec.Err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("request %d took %v (a stale connection should be seen within the first stage)", i, d.Round(time.Millisecond))
		}
		<-closed
	}
}
