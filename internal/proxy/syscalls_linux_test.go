package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse/internal/proxy"
	"gatehouse/internal/testenv"
)

// TestFastSendsWithTheRead: the fast engine sends a request from the read
// that waits for its answer (lazyconn.Conn.Hold), so the read(2) that would
// find nothing right after the send is never made. Per forwarded request:
// the engine's one read of the answer, plus the in-process upstream's two
// (the request, then nothing more) — 3, where the ordinary send-then-read
// makes 4 (bench/README "Profile": nginx makes 2 per proxied request).
func TestFastSendsWithTheRead(t *testing.T) {
	_, err := testenv.ReadSyscalls()
	testenv.Require(t, "the kernel's read count (/proc/self/io)", err)
	target := leanUpstream(t)
	fwd := proxy.New(proxy.Options{})
	out := benchOutbound(t, target)
	r := httptest.NewRequest("GET", "http://api.example.com/v1/orders?id=7", nil)
	w := &discardWriter{h: make(http.Header, 8)}
	forward := func() {
		clear(w.h)
		if res, err := fwd.Forward(w, r, out); err != nil || res.Status != 200 {
			t.Fatalf("forward: %v %+v", err, res)
		}
	}
	forward() // dial outside the count
	const n = 200
	before, _ := testenv.ReadSyscalls()
	for range n {
		forward()
	}
	after, _ := testenv.ReadSyscalls()
	perRequest := float64(after-before) / n
	t.Logf("%.2f read syscalls per forwarded request", perRequest)
	if perRequest > 3.5 {
		t.Fatalf("%.2f read syscalls per forwarded request, want 3 (the answer's read without an empty one before it, and the upstream's two)", perRequest)
	}
}
