package server

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// At 100 requests per minute per consumer, a burst of 1 000 admits between
// 100 and 101; the 429s carry Retry-After and RateLimit headers; another
// consumer has its own budget; after the window the consumer is admitted
// again.
func TestRateLimitPerConsumer(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/limited"},
		"rate_limit": map[string]any{"limit": 100, "period": "1m", "by": "consumer"}})
	_, k1 := h.newKey(w.consumer, nil)
	other := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": w.tenant, "name": "other-app"})["id"].(string)
	_, k2 := h.newKey(other, nil)

	burst := func(key string) (ok, limited int64, sample response) {
		var okN, limN atomic.Int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := 0; i < 1000; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				r := h.call("GET", "/limited/x", bearer(key)...)
				switch r.status {
				case 200:
					okN.Add(1)
				case 429:
					limN.Add(1)
					mu.Lock()
					sample = r
					mu.Unlock()
				default:
					t.Errorf("unexpected %d %s", r.status, r.raw)
				}
			}()
		}
		wg.Wait()
		return okN.Load(), limN.Load(), sample
	}
	ok, limited, r := burst(k1)
	if ok < 100 || ok > 101 || ok+limited != 1000 {
		t.Fatalf("admitted %d, limited %d", ok, limited)
	}
	if r.body["code"] != "rate.exceeded" || r.header.Get("Retry-After") == "" ||
		!strings.Contains(r.header.Get("RateLimit-Policy"), "q=100;w=60") || !strings.Contains(r.header.Get("RateLimit"), "r=0") {
		t.Fatalf("429: %v %s", r.header, r.raw)
	}
	if ok2, _, _ := burst(k2); ok2 < 100 || ok2 > 101 {
		t.Fatalf("another consumer admitted %d: limits must be per consumer", ok2)
	}
	h.clock.Advance(time.Minute)
	if r := h.call("GET", "/limited/x", bearer(k1)...); r.status != 200 || !strings.Contains(r.header.Get("RateLimit"), "r=") {
		t.Fatalf("after the window: %d %v", r.status, r.header)
	}
}
