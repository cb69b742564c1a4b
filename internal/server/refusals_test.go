package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/proxy/proxytest"
	"gatehouse/internal/reason"
)

// TestListenerRefusalsAreRejections: a request the fast listener refuses
// before routing — a head it cannot parse, a smuggling probe, an invalid
// Host, a head too large — gets what every rejection gets (spec §5): the
// problem shape with a reason code, an X-Request-Id, and a call record
// with the listener's reason in its trace; never the request's secrets.
func TestListenerRefusalsAreRejections(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("refuse", nil, nil)
	_, key := h.newKey(w.consumer, nil)
	addr := strings.TrimPrefix(h.proxy, "http://")
	for _, tc := range []struct {
		desc, raw, code string
		status          int
	}{
		{"a space before a header's colon",
			"GET /refuse/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\nX-Sp : 1\r\n\r\n", reason.RequestMalformed, 400},
		{"Content-Length with Transfer-Encoding",
			"POST /refuse/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			reason.RequestMalformed, 400},
		{"user information in Host",
			"GET /refuse/x HTTP/1.1\r\nHost: user@evil.test\r\nAuthorization: Bearer " + key + "\r\n\r\n", reason.RequestMalformed, 400},
		{"a request line without its HTTP version, the key in the query and the header",
			"GET /refuse/x?api_key=" + key + "\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\n\r\n", reason.RequestMalformed, 400},
		{"a target that is not a URI, the key in its query",
			"GET /refuse/%zz?api_key=" + key + " HTTP/1.1\r\nHost: x\r\n\r\n", reason.RequestMalformed, 400},
		{"an absolute-form target with the key as user information",
			"GET http://u:" + key + "@h/refuse/x HTTP/1.1\r\nHost: a@b\r\n\r\n", reason.RequestMalformed, 400},
		{"a head whose lines end in a bare LF",
			"GET /refuse/x HTTP/1.1\nHost: x\nAuthorization: Bearer " + key + "\n\n", reason.RequestMalformed, 400},
		{"a head over the limit",
			"GET /refuse/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\nX-Big: " + strings.Repeat("b", 70<<10) + "\r\n\r\n",
			reason.RequestHeadTooLarge, 431},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			resp, body := proxytest.RawExchange(t, addr, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			var p map[string]any
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("body is not the problem shape: %q", body)
			}
			id := resp.Header.Get("X-Request-Id")
			if p["code"] != tc.code || id == "" || p["request_id"] != id {
				t.Errorf("code %v, request_id %v, X-Request-Id %q; want %s and the same ID", p["code"], p["request_id"], id, tc.code)
			}
			if !resp.Close {
				t.Error("the connection stays open after a refused request")
			}
			if strings.Contains(body, key) {
				t.Error("the answer quotes the key")
			}
			rec := h.waitCall(id)
			tr, _ := json.Marshal(rec["trace"])
			if rec["code"] != tc.code || !strings.Contains(string(tr), `"stage":"listener"`) {
				t.Errorf("call record code %v, trace %s", rec["code"], tr)
			}
			if strings.Contains(string(tr), key) || strings.Contains(fmt.Sprint(rec["path"]), key) {
				t.Error("the call record quotes the key")
			}
		})
	}
	if strings.Contains(h.logs.String(), key) {
		t.Error("the log holds the key")
	}
	// The listener still serves a well-formed request.
	if r := h.call("GET", "/refuse/x", bearer(key)...); r.status != http.StatusOK {
		t.Fatalf("a good request after the refusals: %d %s", r.status, r.raw)
	}
}

// TestRefusedHeadIsNotAttributedToAnotherRequest: after a head that fails
// to parse, the listener's request holds defaults ("GET /"); the refusal's
// record must not name a request that was never sent.
func TestRefusedHeadIsNotAttributedToAnotherRequest(t *testing.T) {
	h := newHarness(t)
	addr := strings.TrimPrefix(h.proxy, "http://")
	resp, body := proxytest.RawExchange(t, addr, "DELETE /admin/users/7 HTTP/1.1\r\nHost: x\r\nX-Sp : 1\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	rec := h.waitCall(resp.Header.Get("X-Request-Id"))
	if m, p := fmt.Sprint(rec["method"]), fmt.Sprint(rec["path"]); m == "GET" || p == "/" {
		t.Errorf("the record names %s %s, a request the client did not send", m, p)
	}
}
