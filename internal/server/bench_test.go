package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"gatehouse/internal/config"
)

// BenchmarkProxyAllowed is the bench's API-key row inside one process: a
// keep-alive client on one connection → the fast listener → the pipeline
// (route, key, identity headers, call record) → the fast engine → a lean
// upstream, with the call log writing to the embedded store. Client and
// upstream are in the process too (the upstream's net/http makes most of
// the allocations), so its figures are not the gateway's alone; they are
// for comparing builds, alternated, with benchstat. Not under callgrind:
// the call log's flushes, the sweeps and the collector run by the clock,
// and valgrind slows the clock's work 50-fold against the requests', so
// the instruction count per request moved by 2× between identical runs.
func BenchmarkProxyAllowed(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 64)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"application/octet-stream"}
		h["Content-Length"] = []string{"64"}
		_, _ = w.Write(body)
	}))
	b.Cleanup(up.Close)
	// The call log as configured by default (the harness flushes every
	// 20 ms for its tests; batches that small cost more per record).
	h := newHarness(b, func(c *config.Config) { c.CallLog = config.Default().CallLog })
	tenant := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "bench", "name": "bench"})["id"].(string)
	consumer := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": tenant, "name": "bench-app"})["id"].(string)
	service := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": tenant, "name": "bench-svc", "targets": []string{up.URL}})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": service, "paths": []string{"/bench"}, "auth": []string{"api_key"}})
	_, key := h.newKey(consumer, nil)

	c, err := net.Dial("tcp", h.srv.ProxyAddr())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	req := []byte("GET /bench/orders?id=7 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: wrk/4.2\r\nAccept: */*\r\nAuthorization: Bearer " + key + "\r\n\r\n")
	size := responseSize(b, c, req)
	buf := make([]byte, size)
	exchange := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		if buf[9] != '2' {
			b.Fatalf("response: %q", buf)
		}
	}
	for range 100 {
		exchange() // pools, caches and the call log warm
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		exchange()
	}
}

// responseSize sends req once and returns the whole response's length;
// every later answer has the same (Date and the request ID have fixed
// widths).
func responseSize(b *testing.B, c net.Conn, req []byte) int {
	b.Helper()
	if _, err := c.Write(req); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(c)
	n := 0
	cl := -1
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		n += len(line)
		if n == len(line) && (len(line) < 12 || line[9] != '2') {
			b.Fatalf("first response: %q", line)
		}
		if k, v, ok := bytes.Cut([]byte(line), []byte(":")); ok && http.CanonicalHeaderKey(string(k)) == "Content-Length" {
			cl, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
		if line == "\r\n" {
			break
		}
	}
	if cl < 0 {
		b.Fatal("no Content-Length in the response")
	}
	if _, err := br.Discard(cl); err != nil {
		b.Fatal(err)
	}
	if br.Buffered() != 0 {
		b.Fatal("more than one response")
	}
	return n + cl
}
