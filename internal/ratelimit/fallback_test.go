package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/clock"
)

// syncBuffer is a log sink safe for the concurrent writers of slog.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// unreachableRedis is a Redis limiter whose client dials a closed loopback
// port: every call fails with a real "connection refused".
func unreachableRedis(t testing.TB) *Redis {
	t.Helper()
	o := &redis.Options{Addr: closedPort(t)}
	TuneClientOptions(o)
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return NewRedis(c, RedisOptions{Time: CallerTime})
}

func TestFallbackWhenRedisIsUnreachable(t *testing.T) {
	cases := []struct {
		name         string
		failClosed   bool
		wantAdmitted int
	}{
		{"per-node fallback decides, marked degraded", false, 100},
		{"fail closed denies everything with a clear error", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			clk := clock.NewFake(t0)
			f := NewFallback(unreachableRedis(t), NewMemory(MemoryOptions{}), tc.failClosed,
				slog.New(slog.NewTextHandler(&logs, nil)), WithClock(clk))
			admitted := 0
			for i := 0; i < 1000; i++ {
				d, err := f.Allow(context.Background(), "consumer:1", PerMinute(100, "c"), t0)
				if !d.Degraded {
					t.Fatalf("request %d: decision not marked degraded: %+v", i, d)
				}
				if tc.failClosed {
					if !errors.Is(err, ErrUnavailable) {
						t.Fatalf("request %d: err = %v, want ErrUnavailable", i, err)
					}
					if msg := err.Error(); !strings.Contains(msg, "connection refused") || !strings.Contains(msg, "fail-closed") {
						t.Fatalf("error %q should name the mode and the cause", msg)
					}
					if d.RetryAfter < time.Second {
						t.Fatalf("fail-closed RetryAfter = %s, want ≥ 1 s", d.RetryAfter)
					}
				} else if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if d.Allowed {
					admitted++
				}
			}
			if admitted != tc.wantAdmitted {
				t.Errorf("admitted %d, want %d", admitted, tc.wantAdmitted)
			}
			st := f.Stats()
			want := FallbackStats{
				Degraded: true, DegradedSince: t0, LastError: st.LastError, FailClosed: tc.failClosed,
				PrimaryErrors: 1, // the backoff keeps the other 999 requests off the dead primary
			}
			if tc.failClosed {
				want.FailClosedDenials = 1000
			} else {
				want.FallbackDecisions = 1000
			}
			if st != want {
				t.Errorf("Stats() = %+v, want %+v", st, want)
			}
			if !strings.Contains(st.LastError, "connection refused") {
				t.Errorf("LastError %q does not name the cause", st.LastError)
			}
			if n := strings.Count(logs.String(), "primary unavailable"); n != 1 {
				t.Errorf("logged the outage %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

func TestFallbackProbesWithBackoff(t *testing.T) {
	clk := clock.NewFake(t0)
	f := NewFallback(unreachableRedis(t), NewMemory(MemoryOptions{}), false, nil,
		WithClock(clk), WithBackoff(time.Second, 4*time.Second))
	steps := []struct {
		name        string
		advance     time.Duration
		wantProbes  uint64
		wantErrors  uint64
		wantNextGap time.Duration
	}{
		{"first failure starts the degraded state", 0, 0, 1, time.Second},
		{"before the first backoff: no probe", 999 * time.Millisecond, 0, 1, 0},
		{"at 1 s: one probe, fails, backoff doubles", time.Millisecond, 1, 2, 2 * time.Second},
		{"1 s later: still waiting", time.Second, 1, 2, 0},
		{"2 s after the probe: probe again, backoff 4 s", time.Second, 2, 3, 4 * time.Second},
		{"4 s later: probe, backoff stays at the 4 s cap", 4 * time.Second, 3, 4, 4 * time.Second},
		{"3.9 s later: capped backoff still respected", 3900 * time.Millisecond, 3, 4, 0},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clk.Advance(s.advance)
			for i := 0; i < 5; i++ { // several requests, at most one probe
				d, err := f.Allow(context.Background(), "k", PerMinute(100, "c"), clk.Now())
				if err != nil || !d.Degraded {
					t.Fatalf("%+v %v", d, err)
				}
			}
			st := f.Stats()
			if st.Probes != s.wantProbes || st.PrimaryErrors != s.wantErrors {
				t.Errorf("probes = %d, primary errors = %d; want %d, %d", st.Probes, st.PrimaryErrors, s.wantProbes, s.wantErrors)
			}
			if s.wantNextGap > 0 {
				if gap := time.Duration(f.nextProbe.Load() - clk.Now().UnixNano()); gap != s.wantNextGap {
					t.Errorf("next probe in %s, want %s", gap, s.wantNextGap)
				}
			}
		})
	}
}

// proxy is a TCP relay on loopback in front of the real Redis; stopping it
// is a real outage for the clients behind it (connections reset, dials
// refused), and starting it again on the same address is Redis coming back.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, conns: make(map[net.Conn]struct{})}
	p.start("127.0.0.1:0")
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
	p.wg.Wait()
}

func TestFallbackRecoversWhenRedisReturns(t *testing.T) {
	admin := requireRedis(t)
	prefix := uniquePrefix(t, admin)
	px := newProxy(t, redisAddr())
	o := &redis.Options{Addr: px.addr}
	TuneClientOptions(o)
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	clk := clock.NewFake(t0)
	var logs syncBuffer
	f := NewFallback(NewRedis(c, RedisOptions{Prefix: prefix, Time: CallerTime}), NewMemory(MemoryOptions{}), false,
		slog.New(slog.NewTextHandler(&logs, nil)), WithClock(clk), WithBackoff(time.Second, 10*time.Second))
	l := PerMinute(5, "c")

	steps := []struct {
		name         string
		do           func()
		requests     int
		wantAdmitted int
		wantDegraded bool
		wantStats    func(FallbackStats) bool
	}{
		{
			name: "Redis up: shared counter used", requests: 3, wantAdmitted: 3,
			wantStats: func(s FallbackStats) bool { return !s.Degraded && s.PrimaryErrors == 0 },
		},
		{
			name: "Redis goes away: the node's own counter decides (fresh, so a full burst)",
			do:   px.stop, requests: 10, wantAdmitted: 5, wantDegraded: true,
			wantStats: func(s FallbackStats) bool { return s.Degraded && s.PrimaryErrors == 1 && s.FallbackDecisions == 10 },
		},
		{
			name: "Redis back, backoff not yet elapsed: still degraded, not probed",
			do:   func() { px.start(px.addr) }, requests: 3, wantAdmitted: 0, wantDegraded: true,
			wantStats: func(s FallbackStats) bool { return s.Degraded && s.Probes == 0 },
		},
		{
			name: "after the backoff one probe succeeds and Redis's counter resumes (3 of 5 used)",
			do:   func() { clk.Advance(time.Second) }, requests: 5, wantAdmitted: 2,
			wantStats: func(s FallbackStats) bool { return !s.Degraded && s.Probes == 1 && s.Recoveries == 1 },
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.do != nil {
				s.do()
			}
			admitted := 0
			for i := 0; i < s.requests; i++ {
				d, err := f.Allow(context.Background(), "consumer:9", l, t0)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if d.Degraded != s.wantDegraded {
					t.Fatalf("request %d: Degraded = %v, want %v", i, d.Degraded, s.wantDegraded)
				}
				if d.Allowed {
					admitted++
				}
			}
			if admitted != s.wantAdmitted {
				t.Errorf("admitted %d, want %d", admitted, s.wantAdmitted)
			}
			if st := f.Stats(); !s.wantStats(st) {
				t.Errorf("unexpected stats %+v", st)
			}
		})
	}
	if !strings.Contains(logs.String(), "recovered") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

func TestFallbackCallerErrorsAreNotOutages(t *testing.T) {
	c := requireRedis(t)
	cases := []struct {
		name    string
		ctx     func() context.Context
		limit   Limit
		wantErr error
	}{
		{"invalid limit", context.Background, Limit{Limit: 0, Period: time.Minute}, ErrInvalidLimit},
		{"caller's context already cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, PerMinute(10, "c"), context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFallback(NewRedis(c, RedisOptions{Prefix: uniquePrefix(t, c)}), NewMemory(MemoryOptions{}), true, nil)
			_, err := f.Allow(tc.ctx(), "k", tc.limit, t0)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if st := f.Stats(); st.Degraded || st.PrimaryErrors != 0 {
				t.Errorf("a caller error degraded the limiter: %+v", st)
			}
		})
	}
}

func TestFallbackShareDividesLimitsAcrossNodes(t *testing.T) {
	cases := []struct {
		name  string
		nodes int
		limit Limit
		want  int
	}{
		{"one node keeps the full limit", 1, PerMinute(600, "c"), 600},
		{"three nodes: 600/min becomes 200/min each", 3, PerMinute(600, "c"), 200},
		{"rounds up so a small limit never becomes zero", 4, PerMinute(2, "c"), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFallback(unreachableRedis(t), NewMemory(MemoryOptions{}), false, nil,
				WithClock(clock.NewFake(t0)), WithFallbackShare(tc.nodes))
			n, last := burst(t, f, "k", tc.limit, t0, 1000)
			if n != tc.want || last.Limit.Limit != tc.want {
				t.Errorf("admitted %d under limit %d, want %d", n, last.Limit.Limit, tc.want)
			}
		})
	}
}

// Many goroutines hit a Fallback whose primary just died: every decision is
// degraded and the per-node counter still admits exactly the burst.
func TestFallbackConcurrentOutage(t *testing.T) {
	f := NewFallback(unreachableRedis(t), NewMemory(MemoryOptions{}), false, nil, WithClock(clock.NewFake(t0)))
	var admitted, notDegraded atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				d, err := f.Allow(context.Background(), "consumer:1", PerMinute(100, "c"), t0)
				if err != nil {
					t.Error(err)
					return
				}
				if !d.Degraded {
					notDegraded.Add(1)
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 100 || notDegraded.Load() != 0 {
		t.Errorf("admitted %d (want 100), %d decisions not marked degraded", admitted.Load(), notDegraded.Load())
	}
	if st := f.Stats(); st.PrimaryErrors > 16 || st.FallbackDecisions != 800 {
		t.Errorf("stats %+v: want ≤ 16 primary errors (one per goroutine racing the outage) and 800 fallback decisions", st)
	}
}
