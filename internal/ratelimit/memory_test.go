package ratelimit

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"
)

// hammer runs goroutines × perG Allow calls for keyOf(i) at now and returns
// the admissions per key.
func hammer(t *testing.T, lim Limiter, l Limit, now time.Time, goroutines, perG int, keyOf func(g, i int) string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := make(map[string]int)
	var failed firstError
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			local := make(map[string]int)
			for i := 0; i < perG; i++ {
				key := keyOf(g, i)
				d, err := lim.Allow(context.Background(), key, l, now)
				if err != nil {
					failed.set(err)
					return
				}
				if d.Allowed {
					local[key]++
				} else if _, ok := local[key]; !ok {
					local[key] = 0
				}
			}
			mu.Lock()
			for k, n := range local {
				counts[k] += n
			}
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if err := failed.get(); err != nil {
		t.Fatalf("Allow: %v", err)
	}
	return counts
}

func TestMemoryConcurrentExactAdmissions(t *testing.T) {
	cases := []struct {
		name       string
		limit      Limit
		goroutines int
		perG       int
		keys       int
		want       int // per key
	}{
		{"one key, 64 goroutines, 100/min", PerMinute(100, "c"), 64, 50, 1, 100},
		{"one key, 1000/min burst from 32 goroutines", PerMinute(1000, "c"), 32, 100, 1, 1000},
		{"eight keys shared by all goroutines, each limited on its own", PerMinute(100, "c"), 32, 200, 8, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemory(MemoryOptions{})
			counts := hammer(t, m, tc.limit, t0, tc.goroutines, tc.perG, func(g, i int) string {
				return "consumer:" + strconv.Itoa((g+i)%tc.keys)
			})
			if len(counts) != tc.keys {
				t.Fatalf("saw %d keys, want %d", len(counts), tc.keys)
			}
			for k, n := range counts {
				if n != tc.want {
					t.Errorf("%s admitted %d, want exactly %d", k, n, tc.want)
				}
			}
		})
	}
}

func TestMemoryBoundedAndExpiry(t *testing.T) {
	l := PerMinute(10, "c")
	cases := []struct {
		name          string
		opts          MemoryOptions
		keys          int
		spacing       time.Duration // between successive new keys
		wantMaxKeys   int
		wantEvictions bool
		wantExpired   bool
	}{
		{
			name: "flood of distinct busy keys stays within MaxKeys by evicting",
			opts: MemoryOptions{Shards: 4, MaxKeys: 64}, keys: 1000,
			wantMaxKeys: 64, wantEvictions: true,
		},
		{
			name: "keys that went idle are dropped instead of busy ones",
			opts: MemoryOptions{Shards: 4, MaxKeys: 64}, keys: 1000, spacing: 7 * time.Second,
			// one request per key every 7 s: a key is idle 6 s after its request
			wantMaxKeys: 64, wantEvictions: false, wantExpired: true,
		},
		{
			name: "periodic sweep drops idle keys when a new key arrives",
			opts: MemoryOptions{Shards: 1, MaxKeys: 1 << 20, SweepInterval: time.Second}, keys: 100, spacing: 7 * time.Second,
			wantMaxKeys: 2, wantExpired: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemory(tc.opts)
			for i := 0; i < tc.keys; i++ {
				now := t0.Add(time.Duration(i) * tc.spacing)
				d, err := m.Allow(context.Background(), "k"+strconv.Itoa(i), l, now)
				if err != nil || !d.Allowed {
					t.Fatalf("new key %d: %+v %v", i, d, err)
				}
			}
			st := m.Stats()
			if st.Keys > tc.wantMaxKeys {
				t.Errorf("holds %d keys, want ≤ %d", st.Keys, tc.wantMaxKeys)
			}
			if (st.Evictions > 0) != tc.wantEvictions {
				t.Errorf("evictions = %d, want evictions: %v", st.Evictions, tc.wantEvictions)
			}
			if (st.Expired > 0) != tc.wantExpired {
				t.Errorf("expired = %d, want expiries: %v", st.Expired, tc.wantExpired)
			}
		})
	}
}

func TestMemorySweep(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	l := PerMinute(60, "c") // T = 1 s
	for i := 0; i < 10; i++ {
		// key i used i+1 times: idle (back at full burst) i+1 seconds later.
		if n, _ := burst(t, m, "k"+strconv.Itoa(i), l, t0, i+1); n != i+1 {
			t.Fatalf("key %d admitted %d", i, n)
		}
	}
	cases := []struct {
		name     string
		at       time.Duration
		wantGone int
		wantLeft int
	}{
		{"nothing idle yet", 500 * time.Millisecond, 0, 10},
		{"keys idle after ≤ 3 s dropped", 3 * time.Second, 3, 7},
		{"all idle after 10 s", 10 * time.Second, 7, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.Sweep(t0.Add(tc.at)); got != tc.wantGone {
				t.Errorf("Sweep dropped %d, want %d", got, tc.wantGone)
			}
			if got := m.Stats().Keys; got != tc.wantLeft {
				t.Errorf("%d keys left, want %d", got, tc.wantLeft)
			}
		})
	}
	// A dropped key behaves exactly like one never seen: full burst.
	if n, _ := burst(t, m, "k9", l, t0.Add(10*time.Second), 100); n != 60 {
		t.Errorf("after sweep, k9 admitted %d, want 60", n)
	}
}

func TestMemoryShardsRoundedToPowerOfTwo(t *testing.T) {
	cases := []struct {
		name string
		in   int
		want int
	}{
		{"default", 0, 64},
		{"one", 1, 1},
		{"not a power of two", 100, 128},
		{"power of two", 32, 32},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemory(MemoryOptions{Shards: tc.in})
			if len(m.shards) != tc.want || m.mask != uint64(tc.want-1) {
				t.Errorf("shards = %d mask = %d, want %d", len(m.shards), m.mask, tc.want)
			}
		})
	}
}

// The hot path (an existing key) must not allocate: it runs on every request.
func TestMemoryAllowDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	m := NewMemory(MemoryOptions{})
	l := PerMinute(1_000_000, "c")
	ctx := context.Background()
	now := t0
	if _, err := m.Allow(ctx, "consumer:42", l, now); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		if _, err := m.Allow(ctx, "consumer:42", l, now); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Allow on an existing key allocates %.1f times, want 0", allocs)
	}
}
