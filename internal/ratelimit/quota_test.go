package ratelimit

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestQuotas(t *testing.T) {
	day := PerDay(10, "daily")
	month := PerMonth(3, "monthly")
	plus2 := time.FixedZone("UTC+2", 2*60*60)
	dayPlus2 := Limit{Limit: 2, Window: Day, Name: "local", Location: plus2}
	// Redis expires a quota key an hour after its window ends by Redis's own
	// clock, so the calendar used here lies in the future: 20 November of
	// next year, 10:00 UTC.
	year := time.Now().Year() + 1
	t0 := time.Date(year, 11, 20, 10, 0, 0, 0, time.UTC)
	midnight := time.Date(year, 11, 21, 0, 0, 0, 0, time.UTC)
	dec1 := time.Date(year, 12, 1, 0, 0, 0, 0, time.UTC)
	feb10 := time.Date(year+1, 2, 10, 0, 0, 0, 0, time.UTC)
	febDays := time.Date(year+1, 3, 0, 0, 0, 0, 0, time.UTC).Day() // 28 or 29
	withPeriod := func(l Limit, p time.Duration) Limit { l.Period, l.Burst = p, l.Limit; return l }

	type step struct {
		at       time.Time
		key      string
		n        int
		admitted int
		last     *Decision
	}
	cases := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{
			name: "10 per day: 15 requests admit 10, retry at midnight", limit: day,
			steps: []step{{at: t0, n: 15, admitted: 10, last: &Decision{
				RetryAfter: 14 * time.Hour, ResetAfter: 14 * time.Hour, Limit: withPeriod(day, 24*time.Hour)}}},
		},
		{
			name: "counts down and a denial does not count", limit: day,
			steps: []step{
				{at: t0, n: 4, admitted: 4, last: &Decision{Allowed: true, Remaining: 6, ResetAfter: 14 * time.Hour, Limit: withPeriod(day, 24*time.Hour)}},
				{at: t0.Add(time.Hour), n: 6, admitted: 6},
				{at: t0.Add(2 * time.Hour), n: 50, admitted: 0},
			},
		},
		{
			name: "the last microsecond of the day is still the old day; midnight starts a new one", limit: day,
			steps: []step{
				{at: t0, n: 10, admitted: 10},
				{at: midnight.Add(-time.Microsecond), n: 1, admitted: 0,
					last: &Decision{RetryAfter: time.Microsecond, ResetAfter: time.Microsecond, Limit: withPeriod(day, 24*time.Hour)}},
				{at: midnight, n: 15, admitted: 10},
			},
		},
		{
			name: "per month: resets on the first, window length is this month's", limit: month,
			steps: []step{
				{at: t0, n: 5, admitted: 3, last: &Decision{
					RetryAfter: dec1.Sub(t0), ResetAfter: dec1.Sub(t0), Limit: withPeriod(month, 30*24*time.Hour)}},
				{at: dec1.Add(-time.Second), n: 1, admitted: 0},
				{at: dec1, n: 5, admitted: 3, last: &Decision{
					RetryAfter: 31 * 24 * time.Hour, ResetAfter: 31 * 24 * time.Hour, Limit: withPeriod(month, 31*24*time.Hour)}},
			},
		},
		{
			name: "February's window is February's length", limit: month,
			steps: []step{{at: feb10, n: 1, admitted: 1, last: &Decision{
				Allowed: true, Remaining: 2, ResetAfter: time.Duration(febDays-9) * 24 * time.Hour,
				Limit: withPeriod(month, time.Duration(febDays)*24*time.Hour)}}},
		},
		{
			name: "a day in UTC+2 ends at 22:00 UTC", limit: dayPlus2,
			steps: []step{
				{at: t0, n: 5, admitted: 2, last: &Decision{
					RetryAfter: 12 * time.Hour, ResetAfter: 12 * time.Hour, Limit: withPeriod(dayPlus2, 24*time.Hour)}},
				{at: time.Date(year, 11, 20, 22, 0, 0, 0, time.UTC), n: 5, admitted: 2},
			},
		},
		{
			name: "quotas are per key", limit: day,
			steps: []step{
				{at: t0, key: "consumer-a", n: 20, admitted: 10},
				{at: t0, key: "consumer-b", n: 20, admitted: 10},
			},
		},
	}
	impls := []struct {
		name string
		mk   func(t *testing.T) Limiter
	}{
		{"memory", func(*testing.T) Limiter { return NewMemory(MemoryOptions{}) }},
		{"redis", func(t *testing.T) Limiter {
			c := requireRedis(t)
			return NewRedis(c, RedisOptions{Prefix: uniquePrefix(t, c)})
		}},
	}
	for _, impl := range impls {
		for _, tc := range cases {
			t.Run(impl.name+"/"+tc.name, func(t *testing.T) {
				lim := impl.mk(t)
				for i, s := range tc.steps {
					key := s.key
					if key == "" {
						key = "consumer-a"
					}
					admitted, last := burst(t, lim, key, tc.limit, s.at, s.n)
					if admitted != s.admitted {
						t.Errorf("step %d: admitted %d, want %d", i, admitted, s.admitted)
					}
					if s.last != nil && last != *s.last {
						t.Errorf("step %d: last decision\n got %+v\nwant %+v", i, last, *s.last)
					}
				}
			})
		}
	}
}

func TestRedisQuotaKeyExpiresAfterItsWindow(t *testing.T) {
	c := requireRedis(t)
	prefix := uniquePrefix(t, c)
	r := NewRedis(c, RedisOptions{Prefix: prefix})
	now := time.Now()
	if n, _ := burst(t, r, "consumer:1", PerDay(5, "d"), now, 1); n != 1 {
		t.Fatal("not admitted")
	}
	start, end := window(PerDay(5, "d"), now)
	key := prefix + "consumer:1:q" + strconv.FormatInt(start.Unix(), 10)
	cases := []struct {
		name string
		want time.Time
	}{{"expires one grace hour after the day ends", end.Add(quotaGrace)}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.PExpireTime(context.Background(), key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if want := time.Duration(tc.want.UnixMilli()) * time.Millisecond; got != want {
				t.Errorf("PEXPIRETIME = %d ms, want %d ms", got.Milliseconds(), want.Milliseconds())
			}
		})
	}
}

func TestQuotaHeaders(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	cases := []struct {
		name       string
		limit      Limit
		n          int
		wantPolicy string
		wantLimit  string
		wantRetry  string
	}{
		{"monthly quota, allowed: t is the time to the window's end", PerMonth(1000, "monthly"), 1,
			`"monthly";q=1000;w=2592000`, `"monthly";r=999;t=914400`, ""},
		{"daily quota exhausted: Retry-After at midnight", PerDay(2, "daily"), 3,
			`"daily";q=2;w=86400`, `"daily";r=0;t=50400`, "50400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, d := burst(t, m, tc.name, tc.limit, t0, tc.n)
			h := http.Header{}
			Headers(h, d)
			if got := h.Get("RateLimit-Policy"); got != tc.wantPolicy {
				t.Errorf("RateLimit-Policy = %q, want %q", got, tc.wantPolicy)
			}
			if got := h.Get("RateLimit"); got != tc.wantLimit {
				t.Errorf("RateLimit = %q, want %q", got, tc.wantLimit)
			}
			if got := h.Get("Retry-After"); got != tc.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantRetry)
			}
		})
	}
}
