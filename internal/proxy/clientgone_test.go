package proxy_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

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
			var re *reason.Error
			if !errors.As(rec.Err, &re) || !strings.Contains(re.Debug, "client closed") {
				t.Errorf("recorded as %v, want the client's close (not the upstream's failure)", rec.Err)
			}
		})
	}
}
