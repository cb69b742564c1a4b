package front

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"gatehouse/internal/testenv"
)

// keepAliveClient is a raw HTTP/1.1 client on one connection that
// allocates nothing per exchange, so that allocation counts are the
// front's. Every response must have the same length (the Date header has
// a fixed width).
type keepAliveClient struct {
	c   net.Conn
	req []byte
	buf []byte
}

// exchange sends the request and reads one response.
func (k *keepAliveClient) exchange(tb testing.TB) {
	if _, err := k.c.Write(k.req); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(k.c, k.buf); err != nil {
		tb.Fatal(err)
	}
	if k.buf[9] != '2' {
		tb.Fatalf("response: %q", k.buf)
	}
}

// benchRequest carries the headers wrk and a gateway client send.
const benchRequest = "GET /v1/orders?id=7 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: wrk/4.2\r\n" +
	"Accept: application/json\r\nAuthorization: Bearer gk_live_7Hq2xK9pLm3Q_0123456789abcdefghijklmnopqrstuv\r\n\r\n"

// newKeepAliveClient serves a small JSON answer through a front (the
// handler allocates nothing either) and connects to it.
func newKeepAliveClient(tb testing.TB) *keepAliveClient {
	ctype, id, body := []string{"application/json"}, []string{"01JD3V0000000000000000TEST"}, []byte(`{"ok":true}`)
	addr := serve(tb, &Server{Log: slogDiscard(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" || r.URL.Path != "/v1/orders" || r.Host != "api.example.com" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h := w.Header()
		h["Content-Type"], h["X-Request-Id"] = ctype, id
		_, _ = w.Write(body)
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	k := &keepAliveClient{c: c, req: []byte(benchRequest)}
	k.buf = make([]byte, firstResponse(tb, c, k.req))
	return k
}

// BenchmarkExchange measures one keep-alive request through the front —
// fasthttp's parse, the pooled *http.Request, the handler's writer.
func BenchmarkExchange(b *testing.B) {
	k := newKeepAliveClient(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		k.exchange(b)
	}
}

// A keep-alive client that repeats its request makes the front allocate
// nothing: the target, Host, address and header values are the previous
// request's strings (connStrings), the header map and its value slices the
// pooled exchange's. (Eight allocations per request before.)
func TestRepeatedRequestAllocatesNothing(t *testing.T) {
	k := newKeepAliveClient(t)
	for range 10 {
		k.exchange(t) // pools and caches warm
	}
	n := testing.AllocsPerRun(500, func() { k.exchange(t) })
	if testenv.Race {
		t.Logf("%.2f allocations per request under the race detector, whose sync.Pool drops exchanges: not judged", n)
		return
	}
	if n > 0.2 {
		t.Errorf("%.2f allocations per request, want none", n)
	}
}

// firstResponse sends req once and returns the length of the whole response
// (every later one has the same: the Date header has a fixed width).
func firstResponse(b testing.TB, c net.Conn, req []byte) int {
	if _, err := c.Write(req); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(c)
	var head bytes.Buffer
	cl := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		head.WriteString(line)
		if k, v, ok := bytes.Cut([]byte(line), []byte(":")); ok && http.CanonicalHeaderKey(string(k)) == "Content-Length" {
			cl, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
		if line == "\r\n" {
			break
		}
	}
	if !bytes.HasPrefix(head.Bytes(), []byte("HTTP/1.1 200")) {
		b.Fatalf("first response: %q", head.String())
	}
	if _, err := br.Discard(cl); err != nil {
		b.Fatal(err)
	}
	if br.Buffered() != 0 {
		b.Fatal("more than one response")
	}
	return head.Len() + cl
}

// A connection keeps at most connStringsMax bytes and connStringsHeaders
// header positions of its last request: values past the budget come back
// right, as new strings, and are not kept.
func TestConnStringsBudget(t *testing.T) {
	var c connStrings
	small, big := []byte("Bearer gk_live_key"), bytes.Repeat([]byte("x"), connStringsMax)
	if got := c.reuse(&c.uri, small); got != string(small) || c.size != len(small) {
		t.Fatalf("small: %q, size %d", got, c.size)
	}
	if n := testing.AllocsPerRun(100, func() { c.reuse(&c.uri, small) }); n != 0 {
		t.Errorf("an equal small value: %.0f allocations, want 0 (kept)", n)
	}
	if got := c.reuse(&c.host, big); got != string(big) || c.host != "" || c.size != len(small) {
		t.Fatalf("a value past the budget: kept %d bytes, size %d", len(c.host), c.size)
	}
	if n := testing.AllocsPerRun(100, func() { c.reuse(&c.host, big) }); n != 1 {
		t.Errorf("a value past the budget: %.0f allocations, want 1 (made per request)", n)
	}
	if got := c.reuse(&c.uri, []byte("/b")); got != "/b" || c.size != 2 {
		t.Fatalf("a changed value: %q, size %d (the old one's bytes must be given back)", got, c.size)
	}
	for i := range connStringsHeaders + 4 {
		if got := c.header(i, small); got != string(small) {
			t.Fatalf("header %d: %q", i, got)
		}
	}
	if len(c.vals) != connStringsHeaders || c.size != 2+connStringsHeaders*len(small) {
		t.Errorf("%d positions, %d bytes kept; want %d, %d", len(c.vals), c.size, connStringsHeaders, 2+connStringsHeaders*len(small))
	}
}
