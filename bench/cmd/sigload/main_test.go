package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/bench/internal/httpsign"
)

// A loopback server checks what the generator sends: in sig mode every
// request carries a valid signature with a nonce never seen before (the
// property that lets Gatehouse accept it), in key mode the bearer; a server
// refusing requests shows up as status errors, not as throughput.
func TestRun(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if in := r.Header.Get("Signature-Input"); in != "" {
			i := strings.Index(in, `nonce="`)
			nonce := in[i+7 : len(in)-1]
			var created int64
			for _, p := range strings.Split(in, ";") {
				if v, ok := strings.CutPrefix(p, "created="); ok {
					for _, c := range v {
						created = created*10 + int64(c-'0')
					}
				}
			}
			_, want := httpsign.New("k1", secret).Sign(r.Method, r.Host, r.URL.Path, created, nonce)
			mu.Lock()
			replay := seen[nonce]
			seen[nonce] = true
			mu.Unlock()
			if replay || r.Header.Get("Signature") != want {
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		} else if r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()

	cases := []struct {
		desc       string
		cfg        config
		wantErrors bool
	}{
		{"signed requests, fresh nonces", config{url: srv.URL + "/sig", mode: "sig", keyID: "k1", secret: secret}, false},
		{"api key", config{url: srv.URL + "/", mode: "key", bearer: "k"}, false},
		{"a refusing server is counted as status errors", config{url: srv.URL + "/refuse", mode: "key", bearer: "k"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			tc.cfg.conns, tc.cfg.duration, tc.cfg.warmup, tc.cfg.timeout = 4, 150*time.Millisecond, 20*time.Millisecond, 2*time.Second
			res, err := run(context.Background(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.requests == 0 {
				t.Fatal("no requests measured")
			}
			if got := res.statusErrors > 0; got != tc.wantErrors {
				t.Fatalf("status errors %d of %d, want errors=%v", res.statusErrors, res.requests, tc.wantErrors)
			}
			if !strings.HasPrefix(res.line(), "GH_RESULT requests=") {
				t.Fatalf("line %q", res.line())
			}
		})
	}
	if _, err := run(context.Background(), config{url: srv.URL, mode: "sig", conns: 1, duration: time.Second}); err == nil {
		t.Fatal("sig mode without a key was accepted")
	}
}
