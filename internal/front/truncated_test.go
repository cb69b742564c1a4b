package front

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTruncatedBodyReadsAsUnexpectedEOF: a client that closes its
// connection before the body it announced has all arrived leaves the
// handler with io.ErrUnexpectedEOF, on the front as on net/http — not a
// plain io.EOF, which would pass the shorter body off as a complete one (a
// proxy then blames its upstream for the length mismatch). A complete body
// still ends in io.EOF. The bodies are longer than BufferBody or chunked,
// so the front streams them to the handler.
func TestTruncatedBodyReadsAsUnexpectedEOF(t *testing.T) {
	const full = 100000
	listeners := []struct {
		desc  string
		start func(*testing.T, http.Handler) string
	}{
		{"front", start},
		{"net/http", func(t *testing.T, h http.Handler) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: h}
			go srv.Serve(ln) //nolint:errcheck // ends with Close
			t.Cleanup(func() { _ = srv.Close() })
			return ln.Addr().String()
		}},
	}
	cases := []struct {
		desc    string
		raw     string // written after the head line, then the client closes
		wantN   int64
		wantErr error // nil: the body ended cleanly (io.Copy hides io.EOF)
	}{
		{"Content-Length body cut short", fmt.Sprintf("Content-Length: %d\r\n\r\n%s", full, strings.Repeat("a", 20000)), 20000, io.ErrUnexpectedEOF},
		{"Content-Length body complete", fmt.Sprintf("Content-Length: %d\r\n\r\n%s", full, strings.Repeat("a", full)), full, nil},
		{"chunked body cut inside a chunk", fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s", full, strings.Repeat("a", 20000)), 20000, io.ErrUnexpectedEOF},
	}
	for _, l := range listeners {
		for _, tc := range cases {
			t.Run(l.desc+", "+tc.desc, func(t *testing.T) {
				type result struct {
					n   int64
					err error
				}
				got := make(chan result, 1)
				addr := l.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n, err := io.Copy(io.Discard, r.Body)
					got <- result{n, err}
				}))
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: gw\r\n"+tc.raw); err != nil {
					t.Fatal(err)
				}
				if tc.wantErr != nil {
					time.Sleep(100 * time.Millisecond) // the handler is reading
					c.Close()
				} else {
					defer c.Close()
				}
				select {
				case r := <-got:
					if r.n != tc.wantN || !errors.Is(r.err, tc.wantErr) {
						t.Errorf("the handler read %d bytes, then %v; want %d, then %v", r.n, r.err, tc.wantN, tc.wantErr)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the handler did not finish reading the body")
				}
			})
		}
	}
}
