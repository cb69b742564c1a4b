package server

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/reason"
)

// TestNetHTTPListenerChecksHeads: on the net/http proxy listener — TLS
// (HTTP/1.1 over it) and cleartext with proxy_server: net/http — a
// request with both Content-Length and Transfer-Encoding is refused as on
// the fast listener: 400 request.malformed in the rejection shape, the
// connection closed after it (RFC 9112 §6.1), the upstream never called;
// so is a head ended by a bare LF. Bodies that hold such heads, chunked
// requests and pipelined requests are served; HTTP/2 still is.
func TestNetHTTPListenerChecksHeads(t *testing.T) {
	for _, mode := range []struct {
		desc string
		tls  bool
	}{
		{"cleartext net/http listener", false},
		{"TLS listener, HTTP/1.1", true},
	} {
		t.Run(mode.desc, func(t *testing.T) {
			var seen atomic.Int64
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				b, _ := io.ReadAll(r.Body)
				_, _ = w.Write(b)
			}))
			t.Cleanup(up.Close)
			var roots *x509.CertPool
			h := newHarness(t, func(c *config.Config) {
				c.ProxyServer = config.ProxyServerNetHTTP
				if mode.tls {
					dir := t.TempDir()
					ca := newCA(t, "server")
					cf, kf := writePEM(t, dir, "server", ca.issue(t, "gateway", true, time.Time{}))
					c.TLS = config.TLS{CertFile: cf, KeyFile: kf}
					roots = x509.NewCertPool()
					roots.AddCert(ca.cert)
				}
			})
			_, _, key := h.keyedRoute("/echo", map[string]any{"name": "echo", "targets": []string{up.URL}})
			auth := "Authorization: Bearer " + key + "\r\n"
			const probe = "POST /echo HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
			dial := func(t *testing.T) net.Conn {
				t.Helper()
				var c net.Conn
				var err error
				if mode.tls {
					c, err = tls.Dial("tcp", h.srv.ProxyAddr(), &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
				} else {
					c, err = net.Dial("tcp", h.srv.ProxyAddr())
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				return c
			}

			for _, tc := range []struct {
				desc string
				raw  string
				// statuses of the answers, in order; code is the first
				// refusal's; closed: the connection ends after the last.
				statuses []int
				code     string
				closed   bool
				upstream int64 // requests the upstream sees
			}{
				{"Content-Length with Transfer-Encoding",
					"POST /echo HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
					[]int{400}, reason.RequestMalformed, true, 0},
				{"Transfer-Encoding before Content-Length, names in lower case",
					"POST /echo HTTP/1.1\r\nHost: x\r\n" + auth + "transfer-encoding: chunked\r\ncontent-length: 4\r\n\r\n0\r\n\r\n",
					[]int{400}, reason.RequestMalformed, true, 0},
				{"both, on a kept-alive connection after a request with a body",
					"POST /echo HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 5\r\n\r\nhello" +
						"POST /echo HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
					[]int{200, 400}, reason.RequestMalformed, true, 1},
				{"a head whose lines end in a bare LF",
					"GET /echo HTTP/1.1\nHost: x\n" + strings.TrimSuffix(auth, "\r\n") + "\n\n",
					[]int{400}, reason.RequestMalformed, true, 0},
				{"a body that holds a head with both, then a request",
					"POST /echo HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: " + strconv.Itoa(len(probe)) + "\r\n\r\n" + probe +
						"GET /echo HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n",
					[]int{200, 200}, "", false, 2},
				{"OPTIONS * (Go's server answers it without a handler), then a request",
					"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /echo HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n",
					[]int{200, 200}, "", false, 1},
				{"a chunked request: served, then the connection closes",
					"POST /echo HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
					[]int{200}, "", true, 1},
				// Heads Go's server refuses before any handler runs: the
				// gateway's refusal, not Go's plain text.
				{"a field line without a colon",
					"GET /echo HTTP/1.1\r\nHost: x\r\n" + auth + "no colon here\r\n\r\n",
					[]int{400}, reason.RequestMalformed, true, 0},
				{"no Host field",
					"GET /echo HTTP/1.1\r\n" + auth + "\r\n",
					[]int{400}, reason.RequestMalformed, true, 0},
				{"a field name with a space",
					"GET /echo HTTP/1.1\r\nHost: x\r\n" + auth + "Bad Name: v\r\n\r\n",
					[]int{400}, reason.RequestMalformed, true, 0},
				{"a field value with a control character",
					"GET /echo HTTP/1.1\r\nHost: x\r\n" + auth + "X-A: a\x01b\r\n\r\n",
					[]int{400}, reason.RequestMalformed, true, 0},
				{"a request line without a version",
					"GET /echo\r\nHost: x\r\n\r\n",
					[]int{400}, reason.RequestMalformed, true, 0},
				{"a head past the listener's limit",
					"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 1<<20+8192) + "\r\n\r\n",
					[]int{431}, reason.RequestHeadTooLarge, true, 0},
				{"a served request, then a head Go refuses on the same connection",
					"GET /echo HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n" + "GET /echo?second HTTP/1.1\r\nno colon\r\n\r\n",
					[]int{200, 400}, reason.RequestMalformed, true, 1},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					before := seen.Load()
					c := dial(t)
					if _, err := io.WriteString(c, tc.raw); err != nil {
						t.Fatal(err)
					}
					br := bufio.NewReader(c)
					for i, want := range tc.statuses {
						resp, err := http.ReadResponse(br, nil)
						if err != nil {
							t.Fatalf("answer %d: %v", i+1, err)
						}
						body, _ := io.ReadAll(resp.Body)
						if resp.StatusCode != want {
							t.Fatalf("answer %d: %d %s, want %d", i+1, resp.StatusCode, body, want)
						}
						if want < 400 {
							continue
						}
						var p map[string]any
						if err := json.Unmarshal(body, &p); err != nil || p["code"] != tc.code {
							t.Fatalf("answer %d is not the rejection shape with %s: %s", i+1, tc.code, body)
						}
						id := resp.Header.Get("X-Request-Id")
						if id == "" || p["request_id"] != id {
							t.Errorf("X-Request-Id %q, request_id %v", id, p["request_id"])
						} else if rec := h.waitCall(id); rec["code"] != tc.code {
							t.Errorf("call record of the refusal: %v", rec)
						}
						if !resp.Close {
							t.Error("the refusal does not say Connection: close")
						}
						if strings.Contains(string(body), key) {
							t.Error("the refusal quotes the key")
						}
					}
					if tc.closed {
						// A reset closes it too: after a head too large the
						// server leaves the rest of it unread.
						if n, err := br.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
							t.Errorf("after the last answer: read %d bytes, %v; want EOF (the connection closed)", n, err)
						}
					}
					if got := seen.Load() - before; got != tc.upstream {
						t.Errorf("the upstream saw %d requests, want %d", got, tc.upstream)
					}
				})
			}

			if mode.tls {
				// HTTP/2 is still served (its connections are not wrapped).
				cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots}}}
				req, _ := http.NewRequest("GET", "https://"+h.srv.ProxyAddr()+"/echo", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := cl.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
					t.Errorf("HTTP/2: %d over %s", resp.StatusCode, resp.Proto)
				}
			}
		})
	}
}

// TestHeadScanStopsAtAnUpgrade: after a request that asks to switch
// protocols the scan reads no more heads: the other protocol's bytes
// (blank lines in a WebSocket stream, say) would otherwise pile up as
// heads for as long as the connection lasts.
func TestHeadScanStopsAtAnUpgrade(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *headConn, 1)
	echoed := make(chan struct{})
	srv := &http.Server{ConnContext: headConnContext, Handler: checkedHeads{
		refuse: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadRequest)
		},
		next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conns <- r.Context().Value(headConnKey{}).(*headConn)
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
			_ = brw.Flush()
			b := make([]byte, 7)
			if _, err := io.ReadFull(brw, b); err != nil {
				t.Error(err)
			}
			close(echoed)
		}),
	}}
	go srv.Serve(headListener{Listener: ln}) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%v %v", resp, err)
	}
	_, _ = io.WriteString(c, "a b c\n\n") // a head, were it HTTP
	<-echoed
	hc := <-conns
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if len(hc.heads) != 0 {
		t.Errorf("the scan read %d heads after the upgrade", len(hc.heads))
	}
}

// TestHandlerResponseIsNeverTakenForGosRefusal: the listener replaces the
// plain-text answer Go's server writes to a head it refuses, which it
// recognises by its bytes; a response a handler writes is never replaced,
// even when a write of its body begins with exactly those bytes.
func TestHandlerResponseIsNeverTakenForGosRefusal(t *testing.T) {
	goAnswer := "HTTP/1.1 400 Bad Request" + goErrorFields + "400 Bad Request"
	body := []byte(goAnswer + strings.Repeat(".", 16<<10))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refusals atomic.Int64
	srv := &http.Server{ConnContext: headConnContext, ConnState: headConnState, Handler: checkedHeads{
		refuse: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadRequest)
		},
		next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			// The buffers are empty: a write this large reaches the
			// connection as it is, beginning with Go's answer.
			_, _ = w.Write(body)
		}),
	}}
	go srv.Serve(headListener{Listener: ln, refuse: func(w http.ResponseWriter, status int, _, _, _ string, err error) { //nolint:errcheck // ends with Close
		refusals.Add(1)
		http.Error(w, "refused: "+err.Error(), status)
	}})
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// Two requests, then a head Go refuses: only that one is replaced.
	if _, err := io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nno colon\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(got) != string(body) {
			t.Fatalf("response %d: %d, %d bytes (%v), want the handler's %d bytes unchanged", i+1, resp.StatusCode, len(got), err, len(body))
		}
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.HasPrefix(string(got), "refused: ") || refusals.Load() != 1 {
		t.Errorf("the refused head: %d %q, %d refusals; want 400 from refuse, once", resp.StatusCode, got, refusals.Load())
	}
}
