package ratelimit

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchKeys are consumer keys, as the pipeline would build them.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "consumer:" + strconv.Itoa(i) + ":plan"
	}
	return keys
}

// BenchmarkMemoryAllow: the embedded-mode hot path, existing keys, all cores.
// The limit is high enough that most requests are admitted (the costlier
// path: it writes the TAT back).
func BenchmarkMemoryAllow(b *testing.B) {
	for _, nkeys := range []int{1, 1024, 100_000} {
		b.Run(strconv.Itoa(nkeys)+"keys", func(b *testing.B) {
			m := NewMemory(MemoryOptions{})
			keys := benchKeys(nkeys)
			l := PerSecond(1_000_000, "bench")
			ctx := context.Background()
			for _, k := range keys {
				if _, err := m.Allow(ctx, k, l, t0); err != nil {
					b.Fatal(err)
				}
			}
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(1)) * 7919
				now := t0
				for pb.Next() {
					i++
					now = now.Add(time.Microsecond)
					if _, err := m.Allow(ctx, keys[i%nkeys], l, now); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkMemoryAllowDenied: an exhausted key under a flood (the path an
// abusive client exercises).
func BenchmarkMemoryAllowDenied(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	l := PerMinute(100, "bench")
	ctx := context.Background()
	burst(b, m, "flood", l, t0, 100)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d, _ := m.Allow(ctx, "flood", l, t0); d.Allowed {
				b.Error("exhausted key admitted")
				return
			}
		}
	})
}

// BenchmarkRedisAllow: one decision against the real Redis on loopback,
// sequential (latency, reported as µs/decision) and parallel (throughput).
func BenchmarkRedisAllow(b *testing.B) {
	c := requireRedis(b)
	prefix := uniquePrefix(b, c)
	for _, ts := range []struct {
		name string
		time TimeSource
	}{{"server-time", ServerTime}, {"caller-time", CallerTime}} {
		r := NewRedis(c, RedisOptions{Prefix: prefix + ts.name + ":", Time: ts.time, Timeout: time.Second})
		l := PerSecond(1_000_000, "bench")
		ctx := context.Background()
		keys := benchKeys(1024)
		b.Run(ts.name+"/sequential", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := r.Allow(ctx, keys[i%len(keys)], l, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/decision")
		})
		b.Run(ts.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			var seq atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(1)) * 7919
				for pb.Next() {
					i++
					if _, err := r.Allow(ctx, keys[i%len(keys)], l, time.Now()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkFallbackDegraded: the per-node path while Redis is down; it must
// cost about what Memory costs, not a timeout per request.
func BenchmarkFallbackDegraded(b *testing.B) {
	f := NewFallback(unreachableRedis(b), NewMemory(MemoryOptions{}), false, nil)
	l := PerSecond(1_000_000, "bench")
	ctx := context.Background()
	keys := benchKeys(1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		now := t0
		for pb.Next() {
			i++
			now = now.Add(time.Microsecond)
			if d, _ := f.Allow(ctx, keys[i%len(keys)], l, now); !d.Degraded {
				b.Error("not degraded")
				return
			}
		}
	})
}

// BenchmarkHeaders: rendering the two fields for an allowed request.
func BenchmarkHeaders(b *testing.B) {
	for _, prepared := range []bool{false, true} {
		b.Run(map[bool]string{false: "per-call", true: "prepared"}[prepared], func(b *testing.B) {
			d := Decision{Allowed: true, Remaining: 42, ResetAfter: 25 * time.Second, Limit: Limit{Limit: 100, Period: time.Minute, Burst: 100, Name: "plan-gold"}}
			if prepared {
				d.Limit = d.Limit.Prepared()
			}
			h := http.Header{}
			b.ReportAllocs()
			for b.Loop() {
				clear(h)
				Headers(h, d)
			}
		})
	}
}
