package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/proxy/proxytest"
)

// TestClientLeavingMidUploadIsNotTheUpstreams: a client that goes away
// while its request body is still being forwarded (an upload cut short)
// is recorded as the client's departure — status 499, no reason code
// (upstream.unavailable would send the operator after a healthy service,
// and the metrics would count it as an upstream error), a trace step that
// says the client went away — and its target is not penalised (the
// service ejects after one failure), on both listeners and both engines.
// The bodies sent are over 8 KiB: the fast listener reads that much
// before routing.
func TestClientLeavingMidUploadIsNotTheUpstreams(t *testing.T) {
	departures := []struct {
		desc  string
		head  string // the body's framing fields
		sent  string // what is sent of the body
		reset bool   // leave with a RST instead of a FIN
	}{
		{"Content-Length body cut short, connection closed", "Content-Length: 100000\r\n", strings.Repeat("a", 20000), false},
		{"Content-Length body cut short, connection reset", "Content-Length: 100000\r\n", strings.Repeat("a", 20000), true},
		{"chunked body cut inside a chunk", "Transfer-Encoding: chunked\r\n", fmt.Sprintf("%x\r\n%s", 100000, strings.Repeat("a", 20000)), false},
	}
	for _, tc := range listenerEngines {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.ProxyServer = tc.listener })
			up := httptest.NewServer(http.HandlerFunc(proxytest.SlowUploadHandler))
			t.Cleanup(up.Close)
			svc, route, key := h.keyedRoute("/upload", map[string]any{"name": "files",
				"targets": []string{up.URL}, "engine": tc.engine, "eject_after": 1, "eject_for": "1h"})

			seen := map[string]bool{}
			for _, d := range departures {
				t.Run(d.desc, func(t *testing.T) {
					c, err := net.DialTimeout("tcp", h.srv.ProxyAddr(), 5*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+key+"\r\n"+d.head+"\r\n"+d.sent); err != nil {
						t.Fatal(err)
					}
					time.Sleep(200 * time.Millisecond) // the gateway is forwarding the body
					if d.reset {
						_ = c.(*net.TCPConn).SetLinger(0)
					}
					_ = c.Close()

					rec := h.nextCall(t, route, seen)
					if rec["status"] != float64(499) || rec["code"] != nil {
						t.Errorf("call record: status %v code %v; want 499 and no code", rec["status"], rec["code"])
					}
					var trace []map[string]any
					_ = json.Unmarshal([]byte(mustJSON(rec["trace"])), &trace)
					last := map[string]any{}
					if len(trace) > 0 {
						last = trace[len(trace)-1]
					}
					if last["stage"] != "forward" || last["check"] != "client" || last["outcome"] != "fail" ||
						!strings.Contains(fmt.Sprint(last["detail"]), "client went away") {
						t.Errorf("the trace does not end with the client going away: %s", mustJSON(rec["trace"]))
					}
					m := h.scrape(t)
					if got := sum(m, "gatehouse_upstream_consecutive_failures", `service="`+svc+`"`); got != 0 {
						t.Errorf("the client's departure counted against the target: %v consecutive failures", got)
					}
					if got := sum(m, "gatehouse_upstream_healthy", `service="`+svc+`"`); got != 1 {
						t.Errorf("gatehouse_upstream_healthy = %v: the target was ejected", got)
					}
					// And the next upload is served.
					req, _ := http.NewRequest("POST", h.proxy+"/upload", strings.NewReader(strings.Repeat("b", 100000)))
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := h.client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(b) != "stored" {
						t.Errorf("next upload: %d %s", resp.StatusCode, b)
					}
					h.nextCall(t, route, seen) // the next upload's record, out of the way
				})
			}
		})
	}
}

// nextCall waits for a call record on route whose request ID is not in
// seen, marks it seen and returns it: the client of a request cut short
// never receives the ID.
func (h *harness) nextCall(t *testing.T, route string, seen map[string]bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, out := h.adminDo("GET", "/admin/v1/calls?route="+route+"&limit=50", nil)
		items, _ := out["items"].([]any)
		for _, it := range items {
			id, _ := it.(map[string]any)["request_id"].(string)
			if id != "" && !seen[id] {
				seen[id] = true
				return h.waitCall(id)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no new call record on the route within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientLeavingBeforeItsRequestArrived: a client that closes its
// connection inside the request head, or inside a small body (one the
// fast listener reads whole before routing), sent nothing malformed: no
// call record says request.malformed. The departure is recorded as one
// during forwarding is — status 499, no code, a trace step .../client:
// by the listener (a head cut short, on both; a small body, on the fast
// one), or after routing (net/http hands the body to the handler).
func TestClientLeavingBeforeItsRequestArrived(t *testing.T) {
	for _, l := range []struct{ desc, listener string }{
		{"fast listener", config.ProxyServerFast},
		{"net/http listener", config.ProxyServerNetHTTP},
	} {
		t.Run(l.desc, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.ProxyServer = l.listener })
			up := httptest.NewServer(http.HandlerFunc(proxytest.SlowUploadHandler))
			t.Cleanup(up.Close)
			_, _, key := h.keyedRoute("/upload", map[string]any{"name": "files", "targets": []string{up.URL}})
			head := "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\n"
			fast := l.listener == config.ProxyServerFast
			cuts := []struct {
				desc, raw string
				how       string // close, half (the client still reads: it must get no answer) or reset
				recorded  bool   // a record is expected on this listener
				stage     string
			}{
				{"inside the head", head + "Content-Le", "close", true, "listener"},
				{"inside the head, half-closed", head + "Content-Le", "half", true, "listener"},
				{"inside the head, reset", head + "Content-Le", "reset", true, "listener"},
				{"inside a small body", head + "Content-Length: 1000\r\n\r\n" + strings.Repeat("a", 500), "close", true,
					map[bool]string{true: "listener", false: "forward"}[fast]},
			}
			seen := map[string]bool{}
			for _, cut := range cuts {
				t.Run(cut.desc, func(t *testing.T) {
					c, err := net.DialTimeout("tcp", h.srv.ProxyAddr(), 5*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := io.WriteString(c, cut.raw); err != nil {
						t.Fatal(err)
					}
					time.Sleep(100 * time.Millisecond) // the gateway is reading
					switch cut.how {
					case "half":
						_ = c.(*net.TCPConn).CloseWrite()
						_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
						if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
							t.Errorf("the client read %q, %v after leaving: want the connection's end, no answer", b, err)
						}
					case "reset":
						_ = c.(*net.TCPConn).SetLinger(0)
					}
					_ = c.Close()
					time.Sleep(200 * time.Millisecond)
					if err := h.srv.calls.Flush(t.Context()); err != nil {
						t.Fatal(err)
					}
					_, out := h.adminDo("GET", "/admin/v1/calls?limit=50", nil)
					items, _ := out["items"].([]any)
					var fresh []map[string]any
					for _, it := range items {
						rec := it.(map[string]any)
						if id, _ := rec["request_id"].(string); !seen[id] {
							seen[id] = true
							fresh = append(fresh, h.waitCall(id))
						}
					}
					want := 0
					if cut.recorded {
						want = 1
					}
					if len(fresh) != want {
						t.Fatalf("%d new call records, want %d: %s", len(fresh), want, mustJSON(fresh))
					}
					for _, rec := range fresh {
						var trace []map[string]any
						_ = json.Unmarshal([]byte(mustJSON(rec["trace"])), &trace)
						if rec["status"] != float64(499) || rec["code"] != nil || len(trace) == 0 ||
							trace[len(trace)-1]["stage"] != cut.stage || trace[len(trace)-1]["check"] != "client" {
							t.Errorf("call record: status %v code %v trace %s; want 499, no code, the trace ending %s/client",
								rec["status"], rec["code"], mustJSON(rec["trace"]), cut.stage)
						}
					}
				})
			}
		})
	}
}
