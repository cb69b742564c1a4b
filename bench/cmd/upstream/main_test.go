package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(newHandler())
	defer srv.Close()
	cases := []struct {
		desc     string
		path     string
		headers  map[string]string
		wantBody func(string) bool
	}{
		{"static body is the same 64 bytes on every path", "/anything", nil,
			func(b string) bool { return b == body && len(b) == 64 }},
		{"root path", "/", nil, func(b string) bool { return b == body }},
		{"echo path reflects identity headers only", echoPath,
			map[string]string{"X-Gatehouse-Consumer": "c1", "X-Request-Id": "r1", "Authorization": "Bearer secret"},
			func(b string) bool {
				return strings.Contains(b, "X-Gatehouse-Consumer: c1") && strings.Contains(b, "X-Request-Id: r1") && !strings.Contains(b, "secret")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || !tc.wantBody(string(b)) {
				t.Errorf("got %d %q", resp.StatusCode, b)
			}
		})
	}
}
