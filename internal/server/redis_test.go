package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/cluster"
	"gatehouse/internal/config"
	"gatehouse/internal/testenv"
)

func testRedisURL(t *testing.T) string {
	t.Helper()
	u := "redis://127.0.0.1:6379/0"
	c, _ := cluster.OpenRedis(u)
	defer c.Close()
	testenv.Require(t, "Redis on 127.0.0.1:6379", cluster.Ping(context.Background(), c, time.Second))
	return u
}

// With GATEHOUSE_REDIS_URL, route limits are counted in Redis; with Redis
// unreachable they fall back to per-node counters, visibly.
func TestRedisLimits(t *testing.T) {
	u := testRedisURL(t)
	t.Run("counted in Redis", func(t *testing.T) {
		h := newHarness(t, func(c *config.Config) { c.RedisURL = u })
		w := h.newWorld("acme", nil, nil)
		rt := h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/limited"},
			"rate_limit": map[string]any{"limit": 3, "period": "1m"}})["id"].(string)
		_, k := h.newKey(w.consumer, nil)
		var codes []int
		for i := 0; i < 5; i++ {
			codes = append(codes, h.call("GET", "/limited/x", bearer(k)...).status)
		}
		if codes[2] != 200 || codes[3] != 429 {
			t.Fatalf("statuses %v", codes)
		}
		c, _ := cluster.OpenRedis(u)
		defer c.Close()
		keys, _ := c.Keys(context.Background(), "gatehouse:rl:*"+rt+"*").Result()
		if len(keys) == 0 {
			t.Fatal("no rate-limit key in Redis")
		}
		c.Del(context.Background(), keys...)
	})
	t.Run("Redis down: per-node fallback, visible in readyz", func(t *testing.T) {
		h := newHarness(t, func(c *config.Config) { c.RedisURL = "redis://127.0.0.1:1/0" })
		w := h.newWorld("acme", nil, nil)
		h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/limited"},
			"rate_limit": map[string]any{"limit": 3, "period": "1m"}})
		_, k := h.newKey(w.consumer, nil)
		var codes []int
		for i := 0; i < 5; i++ {
			codes = append(codes, h.call("GET", "/limited/x", bearer(k)...).status)
		}
		if codes[2] != 200 || codes[3] != 429 {
			t.Fatalf("statuses %v", codes)
		}
		r := h.call("GET", "/.well-known/gatehouse/readyz")
		if !strings.Contains(r.raw, "degraded") || !strings.Contains(r.raw, "per node") {
			t.Fatalf("readyz %s", r.raw)
		}
	})
}
