package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisThreeNodesShareOneLimit is issue 6's acceptance "a limit of
// 600/minute hit evenly through 3 nodes admits 600 ± 1%": three limiter
// instances, each with its own client and connection pool (three "nodes"),
// hammered concurrently on one consumer's key.
func TestRedisThreeNodesShareOneLimit(t *testing.T) {
	const (
		nodes       = 3
		perNode     = 4 // goroutines per node
		perRoutine  = 125
		total       = nodes * perNode * perRoutine // 1 500 requests
		limitPerMin = 600
	)
	cases := []struct {
		name string
		time TimeSource
	}{
		{"caller time: all nodes at one instant admit exactly 600", CallerTime},
		{"server time: 600 plus what the rate refills while the test runs", ServerTime},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			admin := requireRedis(t)
			prefix := uniquePrefix(t, admin)
			var limiters []*Redis
			for i := 0; i < nodes; i++ {
				c := redis.NewClient(&redis.Options{Addr: redisAddr(), PoolSize: perNode})
				t.Cleanup(func() { c.Close() })
				limiters = append(limiters, NewRedis(c, RedisOptions{Prefix: prefix, Time: tc.time, Timeout: 2 * time.Second}))
			}
			l := PerMinute(limitPerMin, "plan")
			var admitted, denied atomic.Int64
			var firstErr firstError
			var wg sync.WaitGroup
			start := make(chan struct{})
			for n := 0; n < nodes; n++ {
				for g := 0; g < perNode; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						for i := 0; i < perRoutine; i++ {
							d, err := limiters[n].Allow(context.Background(), "consumer:shared", l, t0)
							if err != nil {
								firstErr.set(err)
								return
							}
							if d.Allowed {
								admitted.Add(1)
							} else {
								denied.Add(1)
							}
						}
					}()
				}
			}
			began := time.Now()
			close(start)
			wg.Wait()
			elapsed := time.Since(began)
			if err := firstErr.get(); err != nil {
				t.Fatalf("Allow: %v", err)
			}
			got := admitted.Load()
			if got+denied.Load() != total {
				t.Fatalf("%d decisions, want %d", got+denied.Load(), total)
			}
			t.Logf("%d of %d admitted across %d nodes in %s", got, total, nodes, elapsed)
			if got < 594 || got > 606 {
				t.Errorf("admitted %d, want 600 ± 1%% (594–606)", got)
			}
			switch tc.time {
			case CallerTime:
				if got != limitPerMin {
					t.Errorf("admitted %d, want exactly %d at one instant", got, limitPerMin)
				}
			case ServerTime:
				// GCRA's exact bound: the burst plus one per emission interval
				// (100 ms) that elapsed between the first and last request.
				refill := int64(elapsed / (100 * time.Millisecond))
				if got < limitPerMin || got > limitPerMin+refill+1 {
					t.Errorf("admitted %d, want within [600, %d] for %s elapsed", got, limitPerMin+refill+1, elapsed)
				}
			}
		})
	}
}

func TestRedisKeysAndTTL(t *testing.T) {
	c := requireRedis(t)
	l := PerMinute(100, "c")
	cases := []struct {
		name     string
		requests int
		wantTTL  time.Duration // ≈ ResetAfter
	}{
		{"one request: key expires when the burst is full again (600 ms)", 1, 600 * time.Millisecond},
		{"fifty requests: 30 s", 50, 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := uniquePrefix(t, c)
			r := NewRedis(c, RedisOptions{Prefix: prefix, Time: ServerTime})
			if n, _ := burst(t, r, "consumer:7", l, time.Time{}, tc.requests); n != tc.requests {
				t.Fatalf("admitted %d", n)
			}
			ctx := context.Background()
			keys, err := c.Keys(ctx, prefix+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 || keys[0] != prefix+"consumer:7" {
				t.Fatalf("keys under the prefix = %v, want exactly [%sconsumer:7]", keys, prefix)
			}
			ttl, err := c.PTTL(ctx, keys[0]).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl <= 0 || ttl > tc.wantTTL || ttl < tc.wantTTL-time.Second {
				t.Errorf("PTTL = %s, want just under %s (idle keys must expire on their own)", ttl, tc.wantTTL)
			}
		})
	}
}

func TestRedisPrefixesAreIsolated(t *testing.T) {
	c := requireRedis(t)
	l := PerMinute(5, "c")
	a := NewRedis(c, RedisOptions{Prefix: uniquePrefix(t, c), Time: CallerTime})
	b := NewRedis(c, RedisOptions{Prefix: uniquePrefix(t, c), Time: CallerTime})
	cases := []struct {
		name string
		lim  Limiter
		want int
	}{
		{"first prefix gets its burst", a, 5},
		{"first prefix is exhausted", a, 0},
		{"second prefix, same key, is untouched", b, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if n, _ := burst(t, tc.lim, "same-key", l, t0, 20); n != tc.want {
				t.Errorf("admitted %d, want %d", n, tc.want)
			}
		})
	}
}

// With ServerTime the caller's now is ignored: a node whose clock is wildly
// wrong still shares the limit correctly.
func TestRedisServerTimeIgnoresCallerClock(t *testing.T) {
	c := requireRedis(t)
	r := NewRedis(c, RedisOptions{Prefix: uniquePrefix(t, c), Time: ServerTime})
	l := PerMinute(10, "c")
	cases := []struct {
		name string
		now  time.Time
		want int
	}{
		{"node with a clock in 2001", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), 10},
		{"node with a clock in 2099 sees the same exhausted key", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{"node with a zero clock too", time.Time{}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, last := burst(t, r, "consumer:skewed", l, tc.now, 10)
			if n != tc.want {
				t.Errorf("admitted %d, want %d", n, tc.want)
			}
			if tc.want == 0 && (last.RetryAfter <= 0 || last.RetryAfter > 6*time.Second) {
				t.Errorf("RetryAfter = %s, want within one 6 s emission interval", last.RetryAfter)
			}
		})
	}
}

func TestRedisCallerDeadlineAndTimeout(t *testing.T) {
	c := requireRedis(t)
	r := NewRedis(c, RedisOptions{Prefix: uniquePrefix(t, c)})
	cases := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr bool
	}{
		{"background context gets the default timeout and succeeds", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, false},
		{"an already cancelled caller context fails", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := r.Allow(ctx, "k", PerMinute(10, "c"), t0)
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}
