package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// step sends n requests for key, spaced by every (0: all at the same
// instant), starting at t0+at, and expects admitted of them to pass; if last
// is set, the last decision must equal it (Limit excepted).
type step struct {
	at       time.Duration
	key      string
	n        int
	every    time.Duration
	admitted int
	last     *Decision
}

type gcraCase struct {
	name  string
	limit Limit
	steps []step
}

// gcraCases is the GCRA semantics both limiters must implement identically;
// TestGCRA runs it against Memory and against Redis (caller time).
func gcraCases() []gcraCase {
	perMin100 := PerMinute(100, "consumer")
	return []gcraCase{
		{
			name:  "100/min: 1000 requests at one instant admit exactly 100",
			limit: perMin100,
			steps: []step{{n: 1000, admitted: 100,
				last: &Decision{RetryAfter: 600 * time.Millisecond, ResetAfter: time.Minute}}},
		},
		{
			name:  "first request leaves the rest of the burst and resets after one interval",
			limit: perMin100,
			steps: []step{{n: 1, admitted: 1,
				last: &Decision{Allowed: true, Remaining: 99, ResetAfter: 600 * time.Millisecond}}},
		},
		{
			name:  "exhausted key is re-admitted after one emission interval and not a microsecond earlier",
			limit: perMin100,
			steps: []step{
				{n: 100, admitted: 100},
				{at: 300 * time.Millisecond, n: 1, admitted: 0,
					last: &Decision{RetryAfter: 300 * time.Millisecond, ResetAfter: 59700 * time.Millisecond}},
				{at: 599999 * time.Microsecond, n: 1, admitted: 0,
					last: &Decision{RetryAfter: time.Microsecond, ResetAfter: 59400001 * time.Microsecond}},
				{at: 600 * time.Millisecond, n: 5, admitted: 1},
				{at: 1200 * time.Millisecond, n: 1, admitted: 1,
					last: &Decision{Allowed: true, Remaining: 0, ResetAfter: time.Minute}},
			},
		},
		{
			name:  "after a whole window the full burst is available again",
			limit: perMin100,
			steps: []step{{n: 1000, admitted: 100}, {at: time.Minute, n: 1000, admitted: 100}},
		},
		{
			name:  "idle time does not accumulate beyond the burst",
			limit: perMin100,
			steps: []step{{n: 1, admitted: 1}, {at: 10 * time.Minute, n: 1000, admitted: 100}},
		},
		{
			name:  "partly used quota refills at the rate",
			limit: perMin100,
			steps: []step{
				{n: 50, admitted: 50, last: &Decision{Allowed: true, Remaining: 50, ResetAfter: 30 * time.Second}},
				{at: 30 * time.Second, n: 1, admitted: 1,
					last: &Decision{Allowed: true, Remaining: 99, ResetAfter: 600 * time.Millisecond}},
			},
		},
		{
			name:  "traffic at exactly the rate is never denied",
			limit: perMin100,
			steps: []step{{n: 500, every: 600 * time.Millisecond, admitted: 500,
				last: &Decision{Allowed: true, Remaining: 99, ResetAfter: 600 * time.Millisecond}}},
		},
		{
			name:  "after the burst, traffic at twice the rate gets the rate",
			limit: Limit{Limit: 100, Period: time.Minute, Burst: 1},
			// t = 0, 0.3, 0.6, … 59.7 s: admitted at every multiple of 0.6 s.
			steps: []step{{n: 200, every: 300 * time.Millisecond, admitted: 100}},
		},
		{
			name:  "burst smaller than the limit caps an instant's admissions",
			limit: Limit{Limit: 100, Period: time.Minute, Burst: 10, Name: "b10"},
			steps: []step{
				{n: 50, admitted: 10, last: &Decision{RetryAfter: 600 * time.Millisecond, ResetAfter: 6 * time.Second}},
				{at: 600 * time.Millisecond, n: 5, admitted: 1},
			},
		},
		{
			name:  "burst larger than the limit admits the burst",
			limit: Limit{Limit: 100, Period: time.Minute, Burst: 150},
			steps: []step{{n: 1000, admitted: 150}},
		},
		{
			name:  "keys are independent: one consumer's exhaustion does not limit another",
			limit: perMin100,
			steps: []step{
				{key: "consumer-a", n: 1000, admitted: 100},
				{key: "consumer-b", n: 1000, admitted: 100},
				{key: "consumer-a", at: 600 * time.Millisecond, n: 3, admitted: 1},
				{key: "consumer-c", at: 600 * time.Millisecond, n: 3, admitted: 3},
			},
		},
		{
			name:  "per-second limit",
			limit: PerSecond(10, "ps"),
			steps: []step{
				{n: 100, admitted: 10, last: &Decision{RetryAfter: 100 * time.Millisecond, ResetAfter: time.Second}},
				{at: 250 * time.Millisecond, n: 100, admitted: 2},
			},
		},
	}
}

// runGCRACases runs the table against limiters made by mk (one per case).
func runGCRACases(t *testing.T, mk func(t *testing.T) Limiter) {
	for _, tc := range gcraCases() {
		t.Run(tc.name, func(t *testing.T) {
			lim := mk(t)
			want, _, err := normalize(tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				key := s.key
				if key == "" {
					key = "consumer-a"
				}
				admitted := 0
				var last Decision
				for j := 0; j < s.n; j++ {
					now := t0.Add(s.at + time.Duration(j)*s.every)
					d, err := lim.Allow(context.Background(), key, tc.limit, now)
					if err != nil {
						t.Fatalf("step %d request %d: %v", i, j, err)
					}
					if d.Limit != want {
						t.Fatalf("step %d: decision carries limit %+v, want %+v", i, d.Limit, want)
					}
					if d.Allowed {
						admitted++
					}
					last = d
				}
				if admitted != s.admitted {
					t.Errorf("step %d (%s +%s, %d requests): admitted %d, want %d", i, key, s.at, s.n, admitted, s.admitted)
				}
				if s.last != nil {
					got := last
					got.Limit = Limit{}
					if got != *s.last {
						t.Errorf("step %d: last decision %+v, want %+v", i, got, *s.last)
					}
				}
			}
		})
	}
}

func TestGCRAMemory(t *testing.T) {
	runGCRACases(t, func(*testing.T) Limiter { return NewMemory(MemoryOptions{}) })
}

func TestGCRARedisCallerTime(t *testing.T) {
	c := requireRedis(t)
	runGCRACases(t, func(t *testing.T) Limiter {
		return NewRedis(c, RedisOptions{Prefix: uniquePrefix(t, c), Time: CallerTime})
	})
}

func TestInvalidLimits(t *testing.T) {
	cases := []struct {
		name  string
		limit Limit
	}{
		{"zero limit", Limit{Limit: 0, Period: time.Minute}},
		{"negative limit", Limit{Limit: -5, Period: time.Minute}},
		{"zero period", Limit{Limit: 10}},
		{"negative burst", Limit{Limit: 10, Period: time.Minute, Burst: -1}},
		{"finer than a microsecond", Limit{Limit: 2_000_000, Period: time.Second}},
	}
	limiters := []struct {
		name string
		mk   func(t *testing.T) Limiter
	}{
		{"memory", func(*testing.T) Limiter { return NewMemory(MemoryOptions{}) }},
		{"redis", func(t *testing.T) Limiter {
			c := requireRedis(t)
			return NewRedis(c, RedisOptions{Prefix: uniquePrefix(t, c)})
		}},
	}
	for _, impl := range limiters {
		for _, tc := range cases {
			t.Run(impl.name+"/"+tc.name, func(t *testing.T) {
				d, err := impl.mk(t).Allow(context.Background(), "k", tc.limit, t0)
				if !errors.Is(err, ErrInvalidLimit) {
					t.Fatalf("err = %v, want ErrInvalidLimit", err)
				}
				if d.Allowed {
					t.Fatal("an invalid limit admitted the request")
				}
			})
		}
	}
}
