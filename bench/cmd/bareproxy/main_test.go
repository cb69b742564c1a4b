package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestKeyCheckThenForward(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "from upstream "+r.URL.Path)
	}))
	defer upstream.Close()
	target, err := url.Parse(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(target, "k3y", 8)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(h)
	defer proxy.Close()

	cases := []struct {
		desc       string
		auth       string
		wantStatus int
		wantBody   string
	}{
		{"right key is forwarded", "Bearer k3y", http.StatusOK, "from upstream /p"},
		{"wrong key of the same length", "Bearer k3z", http.StatusUnauthorized, ""},
		{"prefix of the key", "Bearer k3", http.StatusUnauthorized, ""},
		{"no header", "", http.StatusUnauthorized, ""},
		{"other scheme", "Basic k3y", http.StatusUnauthorized, ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, proxy.URL+"/p", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
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
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantBody != "" && string(b) != tc.wantBody {
				t.Errorf("body %q, want %q", b, tc.wantBody)
			}
		})
	}
}
