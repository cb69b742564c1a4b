package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
)

// A request whose chunked body is malformed is answered 400
// request.malformed by the gateway listener — on both listeners and both
// engines — not 502 upstream.unavailable; the connection is closed after
// the answer; the call record and its trace say the client's body failed;
// and the target is not ejected (the service ejects after one failure).
func TestMalformedChunkedBodyIsTheClients(t *testing.T) {
	for _, tc := range listenerEngines {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.ProxyServer = tc.listener })
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					return
				}
				_, _ = w.Write(b)
			}))
			t.Cleanup(up.Close)
			svc, _, key := h.keyedRoute("/echo", map[string]any{"name": "echo",
				"targets": []string{up.URL}, "engine": tc.engine, "eject_after": 1, "eject_for": "1h"})

			c, err := net.DialTimeout("tcp", h.srv.ProxyAddr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", key)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(body), `"code":"request.malformed"`) || !strings.Contains(string(body), "chunk") {
				t.Fatalf("answer %d %s, want 400 request.malformed naming the chunk framing", resp.StatusCode, body)
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
				t.Errorf("after the answer: %q, %v; want the connection closed", rest, err)
			}

			rec := h.waitCall(resp.Header.Get("X-Request-Id"))
			if rec["status"] != float64(400) || rec["code"] != "request.malformed" {
				t.Errorf("call record: status %v code %v", rec["status"], rec["code"])
			}
			if tr := mustJSON(rec["trace"]); !strings.Contains(tr, `"check":"request body"`) || !strings.Contains(tr, "malformed") {
				t.Errorf("trace does not name the client's body: %s", tr)
			}
			m := h.scrape(t)
			if got := sum(m, "gatehouse_upstream_consecutive_failures", `service="`+svc+`"`); got != 0 {
				t.Errorf("the client's body counted against the target: %v consecutive failures", got)
			}
			if got := sum(m, "gatehouse_upstream_healthy", `service="`+svc+`"`); got != 1 {
				t.Errorf("gatehouse_upstream_healthy = %v: the target was ejected", got)
			}
			// And the next call is served.
			req, _ := http.NewRequest("POST", h.proxy+"/echo", strings.NewReader("hello"))
			req.Header.Set("Authorization", "Bearer "+key)
			resp2, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := io.ReadAll(resp2.Body)
			resp2.Body.Close()
			if resp2.StatusCode != 200 || string(b2) != "hello" {
				t.Errorf("next call: %d %s", resp2.StatusCode, b2)
			}
		})
	}
}
