package ai

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/clock"
)

// Counter holds the shared counters budgets are enforced with: money in
// micro-units, requests and tokens, one key per budget and window. Add
// is atomic (the new value reflects every earlier Add), which is what
// lets a budget reserve by adding first and checking the result: two
// concurrent reservations never both see the pre-reservation value.
type Counter interface {
	// Add adds delta (possibly negative: a rollback or a settlement
	// below the reservation) to key and returns the new value. The key
	// may be forgotten ttl after this Add (the end of its window). A
	// duration rather than an instant, so Redis's clock and the node's
	// (or a test's fake clock) never have to agree.
	Add(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
}

// MemCounter counts in this process: budgets per node. Expired keys are
// swept at most once a minute, so memory stays bounded by the live
// windows.
type MemCounter struct {
	clock     clock.Clock
	mu        sync.RWMutex
	m         map[string]*memCount
	nextSweep time.Time
}

type memCount struct {
	n      atomic.Int64
	expire atomic.Int64 // unix nanoseconds
}

// NewMemCounter returns an empty in-memory Counter; c nil is the real
// clock.
func NewMemCounter(c clock.Clock) *MemCounter {
	if c == nil {
		c = clock.Real{}
	}
	return &MemCounter{clock: c, m: map[string]*memCount{}}
}

// Add implements Counter.
func (m *MemCounter) Add(_ context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	now := m.clock.Now()
	expire := now.Add(ttl)
	m.mu.RLock()
	e := m.m[key]
	m.mu.RUnlock()
	if e == nil {
		m.mu.Lock()
		if now.After(m.nextSweep) {
			m.sweep(now)
		}
		if e = m.m[key]; e == nil {
			e = &memCount{}
			m.m[key] = e
		}
		m.mu.Unlock()
	}
	if x := expire.UnixNano(); x > e.expire.Load() {
		e.expire.Store(x)
	}
	return e.n.Add(delta), nil
}

// sweep drops expired keys; m.mu is held.
func (m *MemCounter) sweep(now time.Time) {
	m.nextSweep = now.Add(time.Minute)
	for k, e := range m.m {
		if e.expire.Load() <= now.UnixNano() {
			delete(m.m, k)
		}
	}
}

// RedisCounter counts in Redis, so every node of a cluster shares one
// budget: INCRBY and PEXPIRE in one MULTI transaction, under a prefix.
type RedisCounter struct {
	c      redis.Cmdable
	prefix string
}

// NewRedisCounter returns a Counter over c; prefix namespaces its keys
// ("gatehouse:budget:").
func NewRedisCounter(c redis.Cmdable, prefix string) *RedisCounter {
	return &RedisCounter{c: c, prefix: prefix}
}

// Add implements Counter.
func (r *RedisCounter) Add(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	var incr *redis.IntCmd
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.IncrBy(ctx, r.prefix+key, delta)
		p.PExpire(ctx, r.prefix+key, max(ttl, time.Millisecond))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("budget counter: %w", err)
	}
	return incr.Val(), nil
}

// FallbackCounter counts in Primary (Redis) and, while Primary fails, in
// Secondary (memory): an unreachable Redis degrades budgets to per-node
// counting rather than refusing every AI call or admitting unbounded
// spending. Failures are logged at most once a minute.
type FallbackCounter struct {
	Primary, Secondary Counter
	// Share is the number of nodes counting (rate_limits.nodes). While
	// Primary fails, each node counts on its own, and Add returns the
	// count before delta times Share, plus delta: its estimate of the
	// cluster's total before this call, with the call — so callers that
	// compare v-delta (or v) with a limit see each node admit about its
	// 1/Share of it and the nodes together about the configured amount,
	// not Share times it (as the rate limits' per-node share does). 0 or
	// 1: the count as it is.
	Share  int
	Clock  clock.Clock
	Logger *slog.Logger

	mu      sync.Mutex
	lastLog time.Time
	// downSince is when Primary began failing (unix nanoseconds), 0 while
	// it answers.
	downSince atomic.Int64
}

// Add implements Counter.
func (f *FallbackCounter) Add(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error) {
	v, err := f.Primary.Add(ctx, key, delta, ttl)
	if err == nil || ctx.Err() != nil {
		if err == nil {
			f.downSince.Store(0)
		}
		return v, err
	}
	now := time.Now()
	if f.Clock != nil {
		now = f.Clock.Now()
	}
	f.downSince.CompareAndSwap(0, now.UnixNano())
	f.mu.Lock()
	logIt := now.Sub(f.lastLog) >= time.Minute
	if logIt {
		f.lastLog = now
	}
	f.mu.Unlock()
	if logIt && f.Logger != nil {
		f.Logger.Warn("shared counters unreachable: counting per node", "share", max(f.Share, 1), "err", err)
	}
	v, err = f.Secondary.Add(ctx, key, delta, ttl)
	if f.Share > 1 {
		v = (v-delta)*int64(f.Share) + delta
	}
	return v, err
}

// Degraded reports whether the last count fell back to Secondary because
// Primary failed, and since when.
func (f *FallbackCounter) Degraded() (since time.Time, down bool) {
	if n := f.downSince.Load(); n != 0 {
		return time.Unix(0, n), true
	}
	return time.Time{}, false
}
