package ratelimit

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

// decide replays requests (offsets from t0) against a fresh Memory limiter
// and returns the last decision: header tests use real decisions, not
// hand-made ones, wherever the numbers come from the algorithm.
func decide(t *testing.T, l Limit, at ...time.Duration) Decision {
	t.Helper()
	m := NewMemory(MemoryOptions{})
	var d Decision
	for _, a := range at {
		var err error
		if d, err = m.Allow(context.Background(), "k", l, t0.Add(a)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func times(n int, at time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = at
	}
	return out
}

func TestHeaders(t *testing.T) {
	perMin100 := PerMinute(100, "consumer")
	perMin10 := PerMinute(10, "plan")
	cases := []struct {
		name       string
		decisions  func(t *testing.T) []Decision
		preset     http.Header
		wantPolicy []string
		wantLimit  []string
		wantRetry  string
	}{
		{
			name:       "first request of 100/min: 99 left, next unit in 0.6 s (rounded up)",
			decisions:  func(t *testing.T) []Decision { return []Decision{decide(t, perMin100, 0)} },
			wantPolicy: []string{`"consumer";q=100;w=60`},
			wantLimit:  []string{`"consumer";r=99;t=1`},
		},
		{
			name:       "101st request at one instant: denied, Retry-After equals t",
			decisions:  func(t *testing.T) []Decision { return []Decision{decide(t, perMin100, times(101, 0)...)} },
			wantPolicy: []string{`"consumer";q=100;w=60`},
			wantLimit:  []string{`"consumer";r=0;t=1`},
			wantRetry:  "1",
		},
		{
			name:       "10/min after 3 requests: 7 left, one more in 6 s",
			decisions:  func(t *testing.T) []Decision { return []Decision{decide(t, perMin10, 0, 0, 0)} },
			wantPolicy: []string{`"plan";q=10;w=60`},
			wantLimit:  []string{`"plan";r=7;t=6`},
		},
		{
			name: "10/min, fourth request 2.5 s later: 6 left, next unit in 3.5 s → 4",
			decisions: func(t *testing.T) []Decision {
				return []Decision{decide(t, perMin10, 0, 0, 0, 2500*time.Millisecond)}
			},
			wantPolicy: []string{`"plan";q=10;w=60`},
			wantLimit:  []string{`"plan";r=6;t=4`},
		},
		{
			name: "10/hour exhausted: retry in 6 minutes",
			decisions: func(t *testing.T) []Decision {
				return []Decision{decide(t, Limit{Limit: 10, Period: time.Hour, Name: "hourly"}, times(11, 0)...)}
			},
			wantPolicy: []string{`"hourly";q=10;w=3600`},
			wantLimit:  []string{`"hourly";r=0;t=360`},
			wantRetry:  "360",
		},
		{
			name: "burst different from the limit is a vendor parameter",
			decisions: func(t *testing.T) []Decision {
				return []Decision{decide(t, Limit{Limit: 100, Period: time.Minute, Burst: 10, Name: "b"}, times(11, 0)...)}
			},
			wantPolicy: []string{`"b";q=100;w=60;gatehouse-burst=10`},
			wantLimit:  []string{`"b";r=0;t=1`},
			wantRetry:  "1",
		},
		{
			name: "unnamed policy is \"default\"; a 90 s window is w=90",
			decisions: func(t *testing.T) []Decision {
				return []Decision{decide(t, Limit{Limit: 30, Period: 90 * time.Second}, 0)}
			},
			wantPolicy: []string{`"default";q=30;w=90`},
			wantLimit:  []string{`"default";r=29;t=3`},
		},
		{
			name: "sub-second window rounds up to w=1 (the draft has no sub-second windows)",
			decisions: func(t *testing.T) []Decision {
				return []Decision{decide(t, Limit{Limit: 5, Period: 500 * time.Millisecond, Name: "fast"}, 0)}
			},
			wantPolicy: []string{`"fast";q=5;w=1`},
			wantLimit:  []string{`"fast";r=4;t=1`},
		},
		{
			name: "quote, backslash and control characters in the name cannot break the field",
			decisions: func(t *testing.T) []Decision {
				return []Decision{{Allowed: true, Remaining: 4, ResetAfter: time.Second,
					Limit: Limit{Limit: 5, Period: 5 * time.Second, Burst: 5, Name: "a\"b\\c\r\nd\xff"}}}
			},
			wantPolicy: []string{`"a\"b\\c__d_";q=5;w=5`},
			wantLimit:  []string{`"a\"b\\c__d_";r=4;t=1`},
		},
		{
			name: "full quota (nothing to restore) has t=0",
			decisions: func(t *testing.T) []Decision {
				return []Decision{{Allowed: true, Remaining: 5, Limit: Limit{Limit: 5, Period: 5 * time.Second, Burst: 5, Name: "p"}}}
			},
			wantPolicy: []string{`"p";q=5;w=5`},
			wantLimit:  []string{`"p";r=5;t=0`},
		},
		{
			name: "two policies on one request: one list member each, Retry-After from the denial",
			decisions: func(t *testing.T) []Decision {
				return []Decision{decide(t, perMin100, 0), decide(t, perMin10, times(11, 0)...)}
			},
			wantPolicy: []string{`"consumer";q=100;w=60`, `"plan";q=10;w=60`},
			wantLimit:  []string{`"consumer";r=99;t=1`, `"plan";r=0;t=6`},
			wantRetry:  "6",
		},
		{
			name: "a later, shorter denial does not shorten an earlier Retry-After",
			decisions: func(t *testing.T) []Decision {
				return []Decision{decide(t, perMin10, times(11, 0)...), decide(t, perMin100, times(101, 0)...)}
			},
			wantPolicy: []string{`"plan";q=10;w=60`, `"consumer";q=100;w=60`},
			wantLimit:  []string{`"plan";r=0;t=6`, `"consumer";r=0;t=1`},
			wantRetry:  "6",
		},
		{
			name:      "no limit applied: no headers",
			decisions: func(*testing.T) []Decision { return []Decision{{Allowed: true}} },
		},
		{
			name: "fail-closed denial with a sub-second retry still says at least 1",
			decisions: func(*testing.T) []Decision {
				return []Decision{{RetryAfter: 300 * time.Millisecond, Limit: perMin100, Degraded: true}}
			},
			wantPolicy: []string{`"consumer";q=100;w=60`},
			wantLimit:  []string{`"consumer";r=0;t=1`},
			wantRetry:  "1",
		},
	}
	for _, tc := range cases {
		for _, prepared := range []bool{false, true} {
			name := tc.name
			if prepared {
				name += " (prepared limit)"
			}
			t.Run(name, func(t *testing.T) {
				h := http.Header{}
				var shared []*[1]string
				for _, d := range tc.decisions(t) {
					if prepared {
						d.Limit = d.Limit.Prepared()
						if d.Limit.policyField != nil {
							shared = append(shared, d.Limit.policyField)
						}
					}
					Headers(h, d)
				}
				// A second response of the same limits must not see (or
				// have changed) the first one's list.
				before := make([]string, len(shared))
				for i, p := range shared {
					before[i] = p[0]
				}
				h2 := http.Header{}
				for _, d := range tc.decisions(t) {
					Headers(h2, d)
				}
				h2["Ratelimit-Policy"] = append(h2["Ratelimit-Policy"], "extra")
				for i, p := range shared {
					if p[0] != before[i] {
						t.Fatalf("the prepared policy value was overwritten: %q, was %q", p[0], before[i])
					}
				}
				checkHeaders(t, h, tc.wantPolicy, tc.wantLimit, tc.wantRetry)
			})
		}
	}
}

func checkHeaders(t *testing.T, h http.Header, wantPolicy, wantLimit []string, wantRetry string) {
	t.Helper()
	if got := h.Values("RateLimit-Policy"); !slices.Equal(got, wantPolicy) {
		t.Errorf("RateLimit-Policy = %q, want %q", got, wantPolicy)
	}
	if got := h.Values("RateLimit"); !slices.Equal(got, wantLimit) {
		t.Errorf("RateLimit = %q, want %q", got, wantLimit)
	}
	if got := h.Get("Retry-After"); got != wantRetry {
		t.Errorf("Retry-After = %q, want %q", got, wantRetry)
	}
}
