package front

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBareLFHeadIsAnsweredAtOnce: a head whose blank line is not CRLFCRLF
// is refused with 400 at once, not after the read timeout (fasthttp waits
// for a CRLFCRLF that is not coming); a body or a head that only looks
// like one — bytes ending in "\n\n" while more are due — is still waited
// for and served.
func TestBareLFHeadIsAnsweredAtOnce(t *testing.T) {
	const readTimeout = 5 * time.Second
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("body: %v", err)
		}
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
	})
	addr := serve(t, &Server{Handler: echo, ReadHeaderTimeout: readTimeout})
	for _, tc := range []struct {
		desc string
		// parts are written in order, a pause between them; the answer
		// is read after the last.
		parts  []string
		status int
		body   string // a substring of the answer's body
	}{
		{"every line ends in a bare LF",
			[]string{"GET /x HTTP/1.1\nHost: a\n\n"}, 400, "bare LF"},
		{"CRLF lines, a bare LF blank line",
			[]string{"GET /x HTTP/1.1\r\nHost: a\r\n\n"}, 400, "bare LF"},
		{"bare LF lines, a CRLF blank line",
			[]string{"GET /x HTTP/1.1\nHost: a\n\r\n"}, 400, "bare LF"},
		{"a bare-LF head sent in two pieces",
			[]string{"GET /x HTTP/1.1\nHo", "st: a\n\n"}, 400, "bare LF"},
		{"a body ending in LF LF with more to come",
			[]string{"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\nab\n\n", "cdef"}, 200, "POST /b ab\n\ncdef"},
		{"a chunked body ending a chunk in LF LF with more to come",
			[]string{"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab\n\n\r\n", "2\r\ncd\r\n0\r\n\r\n"}, 200, "POST /c ab\n\ncd"},
		{"a CRLF head cut inside its CRLFCRLF",
			[]string{"GET /y HTTP/1.1\r\nHost: a\r\n\r", "\n"}, 200, "GET /y"},
		{"a CRLF head cut before its blank line",
			[]string{"GET /z HTTP/1.1\r\nHost: a\r\n", "\r\n"}, 200, "GET /z"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i, part := range tc.parts {
				if i > 0 {
					time.Sleep(100 * time.Millisecond) // the listener reads the first part alone
				}
				if _, err := io.WriteString(c, part); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			_ = c.SetReadDeadline(start.Add(2 * readTimeout))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			took := time.Since(start)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
				t.Fatalf("%d %q; want %d with %q", resp.StatusCode, b, tc.status, tc.body)
			}
			if took > time.Second {
				t.Errorf("answered after %v: the listener waited (read timeout %v)", took, readTimeout)
			}
		})
	}
}
