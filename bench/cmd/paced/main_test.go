package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	cases := []struct {
		desc   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"single", ms(7), 50, 7 * time.Millisecond},
		{"median of 4 is the 2nd (nearest rank)", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(seq(100)...), 99, 99 * time.Millisecond},
		{"p99 of 10 is the max", ms(seq(10)...), 99, 10 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(p%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestRunOffersTheRateAndCounts(t *testing.T) {
	var seenAuth atomic.Value
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenAuth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte("ok"))
	}))
	defer ok.Close()
	reject := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer reject.Close()
	// A port that was listening and is now closed: every dial is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/"
	ln.Close()

	cases := []struct {
		desc             string
		url              string
		wantStatusErrors bool
		wantConnErrors   bool
	}{
		{"2xx server: all requests counted, none as errors", ok.URL, false, false},
		{"401 server: every response is a status error", reject.URL, true, false},
		{"nothing listening: every request is a connect error", closedURL, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			res, err := run(context.Background(), config{
				url: tc.url, bearer: "k", rate: 400, conns: 4,
				duration: 250 * time.Millisecond, warmup: 50 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			// 400/s for 250 ms is 100 slots; the warm-up's 20 are not counted.
			if res.requests < 95 || res.requests > 101 {
				t.Errorf("requests = %d, want ~100 (the schedule, not the server, sets the count)", res.requests)
			}
			if got := res.statusErrors == res.requests; got != tc.wantStatusErrors {
				t.Errorf("status errors %d of %d", res.statusErrors, res.requests)
			}
			if got := res.connErrors == res.requests; got != tc.wantConnErrors {
				t.Errorf("connect errors %d of %d", res.connErrors, res.requests)
			}
			if res.ioErrors != 0 {
				t.Errorf("io errors %d", res.ioErrors)
			}
		})
	}
	if got, _ := seenAuth.Load().(string); got != "Bearer k" {
		t.Errorf("server saw Authorization %q, want the bearer", got)
	}
}

// stallingServer answers "ok" at once, except its 20th request, which it
// holds for stall first.
func stallingServer(t *testing.T, stall time.Duration) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 20 {
			time.Sleep(stall)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStallCountsAgainstDelayedRequests is the point of an open-loop
// generator: one 200 ms stall on a single connection must push p99 up by
// about the stall, because the requests scheduled during it are timed from
// when they were due, not from when they could finally be sent.
func TestStallCountsAgainstDelayedRequests(t *testing.T) {
	srv := stallingServer(t, 200*time.Millisecond)
	res, err := run(context.Background(), config{url: srv.URL, rate: 200, conns: 1, duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// With one connection at 200/s (a slot every 5 ms), the stall delays ~40
	// slots out of ~100: p50 stays low-ish but p99 must include the stall.
	if res.p99 < 150*time.Millisecond {
		t.Errorf("p99 = %v, want >= 150ms: the stall was not charged to the requests it delayed", res.p99)
	}
}

// TestSlowLogListsTheStalledRequests: -slow-log names the requests a stall
// delayed, in due order, after the window's wall-clock start.
func TestSlowLogListsTheStalledRequests(t *testing.T) {
	srv := stallingServer(t, 100*time.Millisecond)
	path := filepath.Join(t.TempDir(), "slow.txt")
	if _, err := run(context.Background(), config{url: srv.URL, rate: 200, conns: 1, duration: 500 * time.Millisecond,
		slowLog: path, slow: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if !strings.HasPrefix(lines[0], "# start_unix_ns ") {
		t.Fatalf("first line %q, want the window's start", lines[0])
	}
	// The 100 ms stall at the 20th request delays ~20 slots (5 ms apart)
	// by 20 ms or more; nothing else is that slow on loopback.
	if n := len(lines) - 1; n < 10 || n > 30 {
		t.Fatalf("%d slow requests logged, want the ~20 the stall delayed:\n%s", n, data)
	}
	prev := -1.0
	for _, l := range lines[1:] {
		var due, lat float64
		if _, err := fmt.Sscanf(l, "%f %f", &due, &lat); err != nil || due < prev || lat < 20 {
			t.Fatalf("line %q: not 'due latency' in due order at or above 20 ms (%v)", l, err)
		}
		prev = due
	}
}
