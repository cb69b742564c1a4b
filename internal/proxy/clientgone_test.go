package proxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/proxy"
	"gatehouse/internal/proxy/proxytest"
	"gatehouse/internal/reason"
)

// TestClientLeavesWhileUpstreamThinks: a client that hangs up while the
// upstream is still working on its answer (a report, an LLM completion)
// stops the upstream's work: the gateway closes its upstream connection
// soon after, on every engine behind both listeners — not when the
// upstream answers or the response timeout (here 30 s) runs out. The fast
// engine watches the client's context once the answer is later than 1 s;
// the fast listener notices the client leaving once a request runs longer
// than front.DefaultWatchAfter.
func TestClientLeavesWhileUpstreamThinks(t *testing.T) {
	var cases []struct {
		name string
		new  func(*testing.T) proxy.Forwarder
	}
	for _, e := range engines() {
		cases = append(cases, struct {
			name string
			new  func(*testing.T) proxy.Forwarder
		}{e.name, e.new}, struct {
			name string
			new  func(*testing.T) proxy.Forwarder
		}{e.name + " behind the fast front", onFastFront(e.new)})
	}
	for _, e := range cases {
		t.Run(e.name, func(t *testing.T) {
			g := proxytest.NewGateway(t, e.new)
			stopped := make(chan time.Time, 1)
			up := proxytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done(): // the gateway closed the connection
					stopped <- time.Now()
				case <-time.After(20 * time.Second):
					io.WriteString(w, "too late")
				}
			})
			g.Service(nil, up.URL)
			c, err := net.Dial("tcp", strings.TrimPrefix(g.URL(), "http://"))
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "GET /report HTTP/1.1\r\nHost: gw\r\n\r\n")
			time.Sleep(300 * time.Millisecond)
			left := time.Now()
			c.Close()
			select {
			case at := <-stopped:
				t.Logf("the upstream's request ended %v after the client left", at.Sub(left).Round(time.Millisecond))
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream kept working 10 s after the client left")
			}
			rec := g.Next()
			if !errors.Is(rec.Err, proxy.ErrClientGone) || rec.Reason() != nil {
				t.Errorf("recorded as %v, want the client's close (not the upstream's failure)", rec.Err)
			}
		})
	}
}

// TestClientLeavingMidUploadIsTheClients: a request whose body stops
// coming from the client while it is forwarded fails on the client's side,
// on every engine: a client that closes or resets its connection gets no
// answer and Forward reports proxy.ErrClientGone (no reason code: nobody
// to answer, and the upstream did nothing wrong); a client that stalls
// past the listener's read timeout is still there and is answered 408
// request.read_timeout. Neither counts against the target (the service
// ejects after one failure). The body is over 8 KiB, which the fast front
// reads before the handler runs; the read-timeout cases run on net/http
// with a ReadTimeout (the front's body timeout is a day long).
func TestClientLeavingMidUploadIsTheClients(t *testing.T) {
	plain := func(n func(*testing.T) proxy.Forwarder) func(*testing.T) proxy.Forwarder { return n }
	timed := func(n func(*testing.T) proxy.Forwarder) func(*testing.T) proxy.Forwarder {
		return func(t *testing.T) proxy.Forwarder { return readTimeoutServer{n(t)} }
	}
	cases := []struct {
		desc     string
		listener func(func(*testing.T) proxy.Forwarder) func(*testing.T) proxy.Forwarder
		reset    bool // leave with a RST instead of a FIN
		stall    bool // stay connected, sending nothing more
		wantCode string
	}{
		{"net/http, connection closed mid-body", plain, false, false, ""},
		{"net/http, connection reset mid-body", plain, true, false, ""},
		{"fast front, connection closed mid-body", onFastFront, false, false, ""},
		{"fast front, connection reset mid-body", onFastFront, true, false, ""},
		{"net/http with a read timeout, body stalls", timed, false, true, reason.RequestReadTimeout},
	}
	for _, e := range engines() {
		for _, tc := range cases {
			t.Run(e.name+", "+tc.desc, func(t *testing.T) {
				g := proxytest.NewGateway(t, tc.listener(e.new))
				upstream := proxytest.NewUpstream(t, proxytest.SlowUploadHandler)
				up := g.Service(func(s *domain.Service) { s.EjectAfter, s.EjectFor = 1, domain.Duration(time.Hour) }, upstream.URL)
				c, err := net.Dial("tcp", strings.TrimPrefix(g.URL(), "http://"))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("a", 20000))
				if tc.stall {
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						t.Fatalf("no answer to a stalled body: %v", err)
					}
					body, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"code":"`+tc.wantCode+`"`) {
						t.Errorf("answer %d %s, want 408 %s", resp.StatusCode, body, tc.wantCode)
					}
				} else {
					time.Sleep(200 * time.Millisecond) // the gateway is forwarding the body
					if tc.reset {
						_ = c.(*net.TCPConn).SetLinger(0)
					}
					c.Close()
				}
				rec := g.Next()
				switch re := rec.Reason(); {
				case tc.wantCode == "" && (!errors.Is(rec.Err, proxy.ErrClientGone) || re != nil):
					t.Errorf("Forward returned %v, want proxy.ErrClientGone and no reason code", rec.Err)
				case tc.wantCode != "" && (re == nil || re.Code != tc.wantCode):
					t.Errorf("Forward returned %v, want %s", rec.Err, tc.wantCode)
				}
				if st := up.Status(); st[0].Failures != 0 || st[0].Ejected {
					t.Errorf("the target's health: %+v; the client's departure counted against it", st[0])
				}
			})
		}
	}
}

// readTimeoutServer serves a gateway with net/http and a 300 ms
// ReadTimeout, which bounds the head and the body.
type readTimeoutServer struct{ proxy.Forwarder }

func (readTimeoutServer) Serve(t *testing.T, h http.Handler) *httptest.Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadTimeout: 300 * time.Millisecond}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { _ = srv.Close() })
	return &httptest.Server{Listener: ln, URL: "http://" + ln.Addr().String()}
}
