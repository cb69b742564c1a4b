package changefeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres"
	"gatehouse/internal/store/postgres/pgtest"
)

// quiet drops the packages' log lines in tests (reconnections are
// asserted through OnState instead).
var quiet = slog.New(slog.DiscardHandler)

// deadline bounds every wait for an event; reaching it is a failure, not
// a timing measurement.
const deadline = 15 * time.Second

// openStore opens a store in a fresh schema.
func openStore(t testing.TB) (*postgres.Store, string) {
	t.Helper()
	url := pgtest.Schema(t)
	s, err := postgres.OpenWith(t.Context(), url, postgres.Options{Logger: quiet})
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, url
}

// bump commits one admin change and returns the version it committed.
func bump(t testing.TB, s *postgres.Store, i int) int64 {
	t.Helper()
	id := fmt.Sprintf("ten_%d", i)
	err := s.Update(t.Context(), func(tx store.Tx) error {
		return tx.PutTenant(t.Context(), domain.Tenant{ID: id, Slug: id, Status: domain.StatusActive})
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	v, err := s.Version(t.Context())
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	return v
}

// states collects a listener's OnState calls.
type states struct {
	ch chan error // nil error: connected
}

func newStates() *states { return &states{ch: make(chan error, 64)} }

func (s *states) on(connected bool, err error) {
	if connected {
		err = nil
	} else if err == nil {
		err = errors.New("disconnected")
	}
	s.ch <- err
}

// wait returns the next state change (nil: connected).
func (s *states) wait(t *testing.T, want string) error {
	t.Helper()
	select {
	case err := <-s.ch:
		return err
	case <-time.After(deadline):
		t.Fatalf("no state change (%s) within %s", want, deadline)
		return nil
	}
}

func listener(t testing.TB, s *postgres.Store, cc *pgx.ConnConfig, st *states, tune func(*ListenerConfig)) *Listener {
	t.Helper()
	cfg := ListenerConfig{ConnConfig: cc, Channel: s.Channel(), Current: s.Version,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quiet}
	if st != nil {
		cfg.OnState = st.on
	}
	if tune != nil {
		tune(&cfg)
	}
	l, err := NewListener(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// until reads versions until one is at least want.
func until(t testing.TB, ch <-chan int64, want int64) int64 {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatalf("feed closed while waiting for version %d", want)
			}
			if v >= want {
				return v
			}
		case <-timeout:
			t.Fatalf("version %d not announced within %s", want, deadline)
		}
	}
}

func TestNewListenerValidates(t *testing.T) {
	cc, err := pgx.ParseConfig(pgtest.DefaultURL)
	if err != nil {
		t.Fatal(err)
	}
	cur := func(context.Context) (int64, error) { return 0, nil }
	cases := []struct {
		desc string
		cfg  ListenerConfig
		want string
	}{
		{"no connection config", ListenerConfig{Channel: "c", Current: cur}, "ConnConfig"},
		{"no channel", ListenerConfig{ConnConfig: cc, Current: cur}, "Channel"},
		{"no version reader", ListenerConfig{ConnConfig: cc, Channel: "c"}, "Current"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := NewListener(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewListener: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestListenerAnnouncesCommittedVersions(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	v0 := bump(t, s, 0)
	ch, err := listener(t, s, s.ConnConfig(), nil, nil).Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the current version comes first", func(t *testing.T) {
		if got := until(t, ch, 0); got != v0 {
			t.Errorf("first announcement %d, want the current version %d", got, v0)
		}
	})
	t.Run("every committed change is announced with its version", func(t *testing.T) {
		for i := 1; i <= 5; i++ {
			v := bump(t, s, i)
			if got := until(t, ch, v); got != v {
				t.Errorf("announced %d, want %d", got, v)
			}
		}
	})
	t.Run("a failed Update announces nothing; the next change is announced", func(t *testing.T) {
		errBoom := errors.New("boom")
		err := s.Update(t.Context(), func(tx store.Tx) error { return errBoom })
		if !errors.Is(err, errBoom) {
			t.Fatalf("Update: %v", err)
		}
		v := bump(t, s, 100)
		if got := until(t, ch, 0); got != v {
			t.Errorf("next announcement %d, want %d (the committed change)", got, v)
		}
	})
	t.Run("a NOTIFY in a rolled-back transaction is never delivered", func(t *testing.T) {
		conn, err := pgx.ConnectConfig(t.Context(), s.ConnConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		tx, err := conn.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(t.Context(), `SELECT pg_notify($1, '999999')`, s.Channel()); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(t.Context()); err != nil {
			t.Fatal(err)
		}
		v := bump(t, s, 101)
		if got := until(t, ch, 0); got != v {
			t.Errorf("next announcement %d, want %d: the rolled-back notification leaked", got, v)
		}
	})
}

func TestListenerSchemasAreIsolated(t *testing.T) {
	t.Parallel()
	a, _ := openStore(t)
	b, _ := openStore(t)
	if a.Channel() == b.Channel() {
		t.Fatalf("two schemas share channel %q", a.Channel())
	}
	ch, err := listener(t, a, a.ConnConfig(), nil, nil).Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	until(t, ch, 0)
	bump(t, b, 1)
	bump(t, b, 2)
	va := bump(t, a, 1)
	if got := until(t, ch, 0); got != va {
		t.Errorf("announced %d, want %d: another schema's change reached this feed", got, va)
	}
}

func TestListenerReconnectsAndResyncs(t *testing.T) {
	t.Parallel()
	s, url := openStore(t)
	relay := pgtest.NewRelay(t, pgtest.Target(t))
	cc, err := pgx.ParseConfig(pgtest.WithHost(t, url, relay.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc    string
		tune    func(*ListenerConfig)
		outage  func()
		wantErr string
	}{
		{"the connection is cut", nil, relay.Cut, "wait for notification"},
		{"the network goes silent", func(c *ListenerConfig) {
			c.PingInterval, c.Timeout = 100*time.Millisecond, 300*time.Millisecond
		}, relay.Silence, "ping"},
	}
	for i, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			relay.Restore()
			st := newStates()
			l := listener(t, s, cc, st, tc.tune)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ch, err := l.Subscribe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.wait(t, "connect"); err != nil {
				t.Fatalf("first state: %v, want connected", err)
			}
			until(t, ch, 0)
			if !l.Connected() {
				t.Error("Connected() false while listening")
			}
			tc.outage()
			err = st.wait(t, "disconnect")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("state after the outage: %v, want a disconnection naming %q", err, tc.wantErr)
			}
			if l.Connected() {
				t.Error("Connected() true while cut off")
			}
			// A change nobody can hear of while the feed is down.
			missed := bump(t, s, 10+i)
			relay.Restore()
			for {
				if err := st.wait(t, "reconnect"); err == nil {
					break
				}
			}
			if got := until(t, ch, missed); got != missed {
				t.Errorf("after reconnecting the feed announced %d, want the missed version %d", got, missed)
			}
			if !l.Connected() {
				t.Error("Connected() false after reconnecting")
			}
			next := bump(t, s, 20+i)
			if got := until(t, ch, next); got != next {
				t.Errorf("after reconnecting: announced %d, want %d", got, next)
			}
		})
	}
}

// TestListenerRetriesAnUnreadableVersion: LISTEN works but the store
// cannot say its version yet; the listener retries until it can and only
// then announces.
func TestListenerRetriesAnUnreadableVersion(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	v := bump(t, s, 1)
	var failures atomic.Int32
	failures.Store(2)
	st := newStates()
	l := listener(t, s, s.ConnConfig(), st, func(c *ListenerConfig) {
		c.Current = func(ctx context.Context) (int64, error) {
			if failures.Add(-1) >= 0 {
				return 0, errors.New("postgres: read version: database unavailable")
			}
			return s.Version(ctx)
		}
	})
	ch, err := l.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := st.wait(t, "a failed version read"); err == nil || !strings.Contains(err.Error(), "read current version") {
			t.Fatalf("state %v, want a disconnection naming the version read", err)
		}
	}
	if err := st.wait(t, "connect"); err != nil {
		t.Fatalf("state %v, want connected", err)
	}
	if got := until(t, ch, 0); got != v {
		t.Errorf("announced %d, want %d", got, v)
	}
}

// propagation measures, for n changes through s, the delay from Update's
// return (the commit) to each feed's announcement of that version or a
// newer one.
func propagation(t testing.TB, s *postgres.Store, feeds []<-chan int64, n int) []time.Duration {
	t.Helper()
	var mu sync.Mutex
	committed := map[int64]time.Time{}
	var delays []time.Duration
	var wg sync.WaitGroup
	base, err := s.Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	last := base + int64(n)
	for _, ch := range feeds {
		wg.Go(func() {
			seen := base
			timeout := time.After(deadline + time.Duration(n)*100*time.Millisecond)
			for seen < last {
				select {
				case v := <-ch:
					at := time.Now()
					mu.Lock()
					for w := seen + 1; w <= v; w++ {
						if c, ok := committed[w]; ok {
							delays = append(delays, at.Sub(c))
						} else {
							// Announced before Update returned to its
							// caller: no delay after the commit.
							delays = append(delays, 0)
						}
					}
					mu.Unlock()
					seen = max(seen, v)
				case <-timeout:
					t.Errorf("feed stopped at version %d of %d", seen, last)
					return
				}
			}
		})
	}
	for i := range n {
		// Updates are serialized on the version row and nothing else
		// writes: this one commits base+i+1.
		id := fmt.Sprintf("ten_p%d", i)
		if err := s.Update(context.Background(), func(tx store.Tx) error {
			return tx.PutTenant(context.Background(), domain.Tenant{ID: id, Slug: id, Status: domain.StatusActive})
		}); err != nil {
			t.Fatalf("Update: %v", err)
		}
		at := time.Now()
		mu.Lock()
		committed[base+int64(i)+1] = at
		mu.Unlock()
	}
	wg.Wait()
	slices.Sort(delays)
	return delays
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// subscribeAll starts n listeners on s and waits for each to announce the
// current version.
func subscribeAll(t testing.TB, s *postgres.Store, n int) []<-chan int64 {
	t.Helper()
	var feeds []<-chan int64
	for range n {
		ch, err := listener(t, s, s.ConnConfig(), nil, nil).Subscribe(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		until(t, ch, 0)
		feeds = append(feeds, ch)
	}
	return feeds
}

// TestPropagation checks that two nodes hear of every one of 50 changes,
// each within the contract's outer bound (1 s); the distribution is
// logged here and reported by BenchmarkPropagation.
func TestPropagation(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	const n = 50
	delays := propagation(t, s, subscribeAll(t, s, 2), n)
	if len(delays) != 2*n {
		t.Fatalf("%d announcements measured, want %d", len(delays), 2*n)
	}
	t.Logf("propagation over %d changes × 2 feeds: p50 %v, p99 %v, max %v",
		n, quantile(delays, 0.50), quantile(delays, 0.99), delays[len(delays)-1])
	if worst := delays[len(delays)-1]; worst > time.Second {
		t.Errorf("slowest propagation %v, bound 1s", worst)
	}
}

// BenchmarkPropagation reports commit-to-announcement delay on two feeds:
// p50 and p99 in milliseconds per change.
func BenchmarkPropagation(b *testing.B) {
	s, _ := openStore(b)
	feeds := subscribeAll(b, s, 2)
	b.ReportAllocs()
	b.ResetTimer()
	delays := propagation(b, s, feeds, b.N)
	b.StopTimer()
	b.ReportMetric(float64(quantile(delays, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(quantile(delays, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(delays[len(delays)-1].Microseconds())/1000, "max-ms")
}
