package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisAddr is the real Redis the cluster tests use (issue 6: it runs on
// this machine); GATEHOUSE_TEST_REDIS_ADDR overrides it.
func redisAddr() string {
	if a := os.Getenv("GATEHOUSE_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// requireRedis returns a client for the real Redis, closed at cleanup. If
// Redis does not answer, the test fails when CI is set (a missing service
// must not turn the cluster tests green) and is skipped otherwise.
func requireRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr(), DialTimeout: time.Second, DialerRetries: 1, PoolSize: 32})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		if os.Getenv("CI") != "" {
			tb.Fatalf("Redis at %s does not answer and CI is set: %v", redisAddr(), err)
		}
		tb.Skipf("Redis at %s does not answer (set CI to make this a failure): %v", redisAddr(), err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// uniquePrefix returns a key prefix no other test (or test run) uses, and
// deletes every key under it when the test ends, so tests can run in
// parallel and leave nothing behind.
func uniquePrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		tb.Fatal(err)
	}
	prefix := "gatehouse-test:rl:" + hex.EncodeToString(rnd[:]) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("scanning test keys: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("deleting test keys: %v", err)
			}
		}
	})
	return prefix
}

// closedPort returns a loopback address nothing listens on: it binds an
// ephemeral port and releases it, so dialling it is refused by the kernel —
// a real dial failure, not a simulated one.
func closedPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// t0 is a fixed instant for tests that pass time explicitly. It is close to
// the present so that Redis key TTLs derived from it are sensible.
var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// burst calls l.Allow n times at now for key and returns how many were
// admitted and the last decision.
func burst(tb testing.TB, l Limiter, key string, lim Limit, now time.Time, n int) (int, Decision) {
	tb.Helper()
	admitted := 0
	var last Decision
	for i := 0; i < n; i++ {
		d, err := l.Allow(context.Background(), key, lim, now)
		if err != nil {
			tb.Fatalf("Allow #%d: %v", i+1, err)
		}
		if d.Allowed {
			admitted++
		}
		last = d
	}
	return admitted, last
}

// firstError keeps the first error reported by concurrent goroutines (an
// atomic.Value would panic on differently typed errors).
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
