package ai

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/clock"
)

// MemCounter adds exactly, and forgets a key once its TTL has passed (at
// the next sweep), so memory is bounded by the live windows.
func TestMemCounter(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	m := NewMemCounter(fc)
	ctx := context.Background()
	steps := []struct {
		name  string
		key   string
		delta int64
		ttl   time.Duration
		want  int64
	}{
		{"first add", "a", 700, time.Minute, 700},
		{"settle below the reservation", "a", -577, time.Minute, 123},
		{"another key is independent", "b", 5, time.Hour, 5},
	}
	for _, s := range steps {
		if v, err := m.Add(ctx, s.key, s.delta, s.ttl); err != nil || v != s.want {
			t.Fatalf("%s: got %d %v, want %d", s.name, v, err, s.want)
		}
	}
	fc.Advance(2 * time.Minute)
	if v, _ := m.Add(ctx, "c", 1, time.Minute); v != 1 {
		t.Fatalf("new key: %d", v)
	}
	m.mu.RLock()
	_, aLive := m.m["a"]
	_, bLive := m.m["b"]
	m.mu.RUnlock()
	if aLive || !bLive {
		t.Fatalf("after the sweep a live=%v (want false), b live=%v (want true)", aLive, bLive)
	}
}

// With Redis unreachable, FallbackCounter counts in memory and logs the
// outage at most once a minute.
func TestFallbackCounterUnreachableRedis(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = rc.Close() })
	fc := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	var logs bytes.Buffer
	f := &FallbackCounter{Primary: NewRedisCounter(rc, "x:"), Secondary: NewMemCounter(fc), Clock: fc,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	for i, want := range []int64{10, 20, 30} {
		v, err := f.Add(context.Background(), "k", 10, time.Minute)
		if err != nil || v != want {
			t.Fatalf("add %d: got %d %v, want %d", i, v, err, want)
		}
	}
	if n := strings.Count(logs.String(), "counting per node"); n != 1 {
		t.Fatalf("%d outage log lines in a minute, want 1:\n%s", n, logs.String())
	}
	fc.Advance(time.Minute)
	_, _ = f.Add(context.Background(), "k", 1, time.Minute)
	if n := strings.Count(logs.String(), "counting per node"); n != 2 {
		t.Fatalf("%d outage log lines after a minute, want 2", n)
	}
	if since, down := f.Degraded(); !down || !since.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("Degraded() = %v, %v; want down since the first failure", since, down)
	}

	// One of three nodes: the count before each delta is the node's own
	// times three (its estimate of the cluster's), plus the delta.
	shared := &FallbackCounter{Primary: NewRedisCounter(rc, "x:"), Secondary: NewMemCounter(fc), Share: 3, Clock: fc}
	for i, want := range []int64{10, 40, 70} {
		if v, err := shared.Add(context.Background(), "k", 10, time.Minute); err != nil || v != want {
			t.Fatalf("shared add %d: got %d %v, want %d", i, v, err, want)
		}
	}
}
