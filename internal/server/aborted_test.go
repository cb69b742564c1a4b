package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/reason"
)

// dyingUpstream answers every request with a 200 whose body stops after
// sent of its declared length bytes, then closes the connection.
func dyingUpstream(t *testing.T, length, sent int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "+
					strconv.Itoa(length)+"\r\n\r\n"+strings.Repeat("x", sent))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestResponseCutMidBodyIsRecorded: an upstream that dies half-way through
// its body leaves a call record that says so — a reason code and the
// trace step naming the failure — not a plain 200, on both engines,
// whether the response was small (read whole first) or streamed.
func TestResponseCutMidBodyIsRecorded(t *testing.T) {
	h := newHarness(t)
	ten := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "cut", "name": "cut"})["id"].(string)
	con := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": ten, "name": "cut-app"})["id"].(string)
	_, key := h.newKey(con, nil)
	for _, tc := range []struct {
		desc, engine string
		length, sent int
	}{
		{"fast engine, a small response", "fast", 100, 7},
		{"fast engine, a streamed response", "fast", 400 << 10, 200 << 10},
		{"httputil engine, a small response", "httputil", 100, 7},
		{"httputil engine, a streamed response", "httputil", 400 << 10, 200 << 10},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			slug := "cut-" + tc.engine + "-" + strconv.Itoa(tc.length)
			svc := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": ten, "name": slug,
				"targets": []string{dyingUpstream(t, tc.length, tc.sent)}, "engine": tc.engine})["id"].(string)
			route := h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/" + slug},
				"auth": []string{"api_key"}})["id"].(string)
			req, _ := http.NewRequest("GET", h.proxy+"/"+slug, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			if resp, err := h.client.Do(req); err == nil {
				n, rerr := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && rerr == nil {
					t.Fatalf("the client got a clean 200 with %d bytes of a %d-byte body", n, tc.length)
				}
			}
			var rec map[string]any
			deadline := time.Now().Add(3 * time.Second)
			for rec == nil {
				_, out := h.adminDo("GET", "/admin/v1/calls?route="+route+"&limit=10", nil)
				if items, _ := out["items"].([]any); len(items) > 0 {
					id, _ := items[0].(map[string]any)["request_id"].(string)
					rec = h.waitCall(id)
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no call record")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if code, _ := rec["code"].(string); code != reason.UpstreamUnavailable {
				t.Errorf("recorded code %q (status %v), want %s", code, rec["status"], reason.UpstreamUnavailable)
			}
			tr, _ := json.Marshal(rec["trace"])
			if !strings.Contains(string(tr), `"outcome":"fail"`) || !strings.Contains(string(tr), "upstream") {
				t.Errorf("the trace has no failed upstream step: %s", tr)
			}
		})
	}
}

// TestClientLeavingMidResponseIsNotTheUpstreams: a client that closes its
// connection while a healthy upstream streams is not recorded as an
// upstream failure (the metrics' upstream errors would count browser
// cancels) — on both engines; the trace says the client went away.
func TestClientLeavingMidResponseIsNotTheUpstreams(t *testing.T) {
	h := newHarness(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for range 200 {
			if _, err := io.WriteString(w, "data: "+strings.Repeat("x", 1000)+"\n\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(up.Close)
	ten := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "leave", "name": "leave"})["id"].(string)
	con := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": ten, "name": "leave-app"})["id"].(string)
	_, key := h.newKey(con, nil)
	for _, engine := range []string{"fast", "httputil"} {
		t.Run(engine, func(t *testing.T) {
			svc := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": ten, "name": "leave-" + engine,
				"targets": []string{up.URL}, "engine": engine})["id"].(string)
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/leave-" + engine}, "auth": []string{"api_key"}})
			c, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(c, "GET /leave-"+engine+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+key+"\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			id := resp.Header.Get("X-Request-Id")
			if _, err := io.ReadFull(resp.Body, make([]byte, 2000)); err != nil {
				t.Fatal(err)
			}
			c.Close() // the client leaves; the upstream is healthy
			rec := h.waitCall(id)
			if code, _ := rec["code"].(string); code != "" {
				t.Errorf("a client that went away is recorded with code %q", code)
			}
			tr, _ := json.Marshal(rec["trace"])
			if !strings.Contains(string(tr), "client went away") {
				t.Errorf("the trace does not say the client went away: %s", tr)
			}
		})
	}
}
