package changefeed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/store"
)

// chanFeed is a Feed whose announcements the test sends itself. Its
// channel is unbuffered, so a send returns only once the follower has
// taken it, i.e. finished with everything before it.
type chanFeed struct {
	ch chan int64
}

func (f *chanFeed) Subscribe(context.Context) (<-chan int64, error) { return f.ch, nil }

// node plays a gateway node: the store's version, the version of the
// snapshot it serves, and how it loads.
type node struct {
	mu       sync.Mutex
	store    int64 // the store's current version
	serving  int64 // the snapshot's version
	applyErr error
	checkErr error
	loads    int
}

func (n *node) current(context.Context) (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.store, n.checkErr
}

func (n *node) apply(context.Context) (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.applyErr != nil {
		return 0, n.applyErr
	}
	n.loads++
	n.serving = n.store
	return n.serving, nil
}

func (n *node) applied() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.serving
}

func (n *node) set(fn func(n *node)) {
	n.mu.Lock()
	fn(n)
	n.mu.Unlock()
}

func (n *node) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.loads
}

func TestFollower(t *testing.T) {
	feed := &chanFeed{ch: make(chan int64)}
	check, resync := make(chan time.Time), make(chan time.Time)
	ticks := map[time.Duration]chan time.Time{time.Second: check, time.Hour: resync}
	n := &node{store: 3, serving: 3}
	fake := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	f, err := NewFollower(FollowerConfig{Feed: feed, Current: n.current, Apply: n.apply, Applied: n.applied,
		Logger: quiet, CheckEvery: time.Second, ResyncEvery: time.Hour, Clock: fake,
		Ticker: func(d time.Duration) (<-chan time.Time, func()) { return ticks[d], func() {} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	// barrier returns once every earlier event is fully handled: version 0
	// is never newer than the applied one.
	barrier := func() { feed.ch <- 0 }
	steps := []struct {
		desc      string
		setup     func(n *node)
		event     func()
		loads     int
		serving   int64
		failures  int64
		lastError string
	}{
		{"a newer announced version is applied", func(n *node) { n.store = 4 }, func() { feed.ch <- 4 }, 1, 4, 0, ""},
		{"an announced version already applied is not loaded again", nil, func() { feed.ch <- 4 }, 1, 4, 0, ""},
		{"a change the node applied itself (its own admin call) is not loaded twice",
			func(n *node) { n.store, n.serving = 5, 5 }, func() { feed.ch <- 5 }, 1, 5, 0, ""},
		{"a check that finds the store moved applies (a lost notification)", func(n *node) { n.store = 6 },
			func() { check <- time.Time{} }, 2, 6, 0, ""},
		{"a check that finds nothing new does nothing", nil, func() { check <- time.Time{} }, 2, 6, 0, ""},
		{"a failed apply keeps the snapshot and is reported",
			func(n *node) { n.store, n.applyErr = 7, fmt.Errorf("postgres: load: %w", store.ErrUnavailable) },
			func() { feed.ch <- 7 }, 2, 6, 1, "database unavailable"},
		{"the next check retries and clears the error", func(n *node) { n.applyErr = nil },
			func() { check <- time.Time{} }, 3, 7, 1, ""},
		{"a failed check is reported", func(n *node) { n.checkErr = errors.New("postgres: read version: timeout") },
			func() { check <- time.Time{} }, 3, 7, 2, "read version"},
		{"a full resync loads even with nothing new", func(n *node) { n.checkErr = nil },
			func() { resync <- time.Time{} }, 4, 7, 2, ""},
		{"a store that moved back (restored) is followed on check", func(n *node) { n.store = 2 },
			func() { check <- time.Time{} }, 5, 2, 2, ""},
		{"a snapshot the node cannot build is a failure, not an unreachable store",
			func(n *node) { n.store, n.applyErr = 3, errors.New("snapshot: route rte_1 names a missing service") },
			func() { feed.ch <- 3 }, 5, 2, 3, "missing service"},
	}
	// Unreachable (what callers are told, lock-free) is set by an
	// unreachable store only, and cleared by the next successful check.
	unreachable := map[string]bool{"a failed apply keeps the snapshot and is reported": true}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			if st.setup != nil {
				n.set(st.setup)
			}
			fake.Advance(time.Minute)
			st.event()
			barrier()
			got := f.Status()
			if n.count() != st.loads || n.applied() != st.serving {
				t.Errorf("loads %d, serving %d; want %d, %d", n.count(), n.applied(), st.loads, st.serving)
			}
			if got.Applied != st.serving || got.Failures != st.failures {
				t.Errorf("status applied %d failures %d; want %d, %d", got.Applied, got.Failures, st.serving, st.failures)
			}
			if (st.lastError == "") != (got.LastError == "") || !strings.Contains(got.LastError, st.lastError) {
				t.Errorf("status last error %q, want %q", got.LastError, st.lastError)
			}
			if _, down := f.Unreachable(); down != unreachable[st.desc] {
				t.Errorf("Unreachable() = %v, want %v", down, unreachable[st.desc])
			}
		})
	}
	n.set(func(n *node) { n.applyErr = nil })
	t.Run("status reports the newest version seen and when the snapshot was applied", func(t *testing.T) {
		check <- time.Time{} // the last step's failure repaired: version 3 applied now
		barrier()
		lastApply := fake.Now()
		fake.Advance(time.Minute)
		n.set(func(n *node) { n.applyErr = errors.New("down") })
		feed.ch <- 9
		barrier()
		got := f.Status()
		if got.Seen != 9 || got.Applied != 3 {
			t.Errorf("seen %d applied %d, want 9 behind 3", got.Seen, got.Applied)
		}
		if !got.AppliedAt.Equal(lastApply) {
			t.Errorf("applied at %v, want the last successful apply's %v", got.AppliedAt, lastApply)
		}
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

func TestFollowerFeedClosing(t *testing.T) {
	feed := &chanFeed{ch: make(chan int64)}
	n := &node{}
	f, err := NewFollower(FollowerConfig{Feed: feed, Current: n.current, Apply: n.apply,
		Ticker: func(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }})
	if err != nil {
		t.Fatal(err)
	}
	close(feed.ch)
	if err := f.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "feed closed") {
		t.Errorf("Run with a closed feed: %v, want an error", err)
	}
}

func TestNewFollowerValidates(t *testing.T) {
	n := &node{}
	feed := &chanFeed{}
	cases := []struct {
		desc string
		cfg  FollowerConfig
		want string
	}{
		{"no feed", FollowerConfig{Current: n.current, Apply: n.apply}, "Feed"},
		{"no version reader", FollowerConfig{Feed: feed, Apply: n.apply}, "Current"},
		{"no apply", FollowerConfig{Feed: feed, Current: n.current}, "Apply"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := NewFollower(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewFollower: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestFollowerOnPostgres wires a Follower to a Listener and a real store,
// as a node does: a change committed elsewhere is loaded, and the node's
// snapshot version follows the store's.
func TestFollowerOnPostgres(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	var serving atomic.Int64
	loaded := make(chan int64, 16)
	l := listener(t, s, s.ConnConfig(), nil, nil)
	f := startFollower(t, FollowerConfig{Feed: l, Current: s.Version, Applied: serving.Load,
		Apply: func(ctx context.Context) (int64, error) {
			d, err := s.Load(ctx)
			if err != nil {
				return 0, err
			}
			serving.Store(d.Version)
			loaded <- d.Version
			return d.Version, nil
		}})
	for i := range 3 {
		v := bump(t, s, i)
		awaitVersion(t, loaded, v, "loaded")
		if got := f.Status(); got.Applied < v {
			t.Errorf("status applied %d, want at least %d", got.Applied, v)
		}
	}
}

// relayFeed passes a Feed's announcements through and tells the test of
// each one as it arrives, so a test can order a commit's notification
// against what the follower is doing.
type relayFeed struct {
	inner Feed
	heard chan int64
}

func (r *relayFeed) Subscribe(ctx context.Context) (<-chan int64, error) {
	in, err := r.inner.Subscribe(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan int64, 1)
	go func() {
		defer close(out)
		for v := range in {
			offer(out, v)
			r.heard <- v
		}
	}()
	return out, nil
}

// TestFollowerAppliesAChangeNotifiedDuringAnApply: a change committed
// while the node is still busy applying the previous one (its load has
// already read the store, so it misses the change) is applied as soon as
// that apply returns, from its notification alone: the periodic check is
// an hour away and the resync is off. This is the interleaving a slow
// apply under load produces in the cluster revocation test; the
// notification must not be absorbed by the apply in progress.
func TestFollowerAppliesAChangeNotifiedDuringAnApply(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t)
	var serving atomic.Int64
	loaded := make(chan int64, 16)
	var hold atomic.Bool
	entered, release := make(chan int64, 1), make(chan struct{})
	feed := &relayFeed{inner: listener(t, s, s.ConnConfig(), nil, nil), heard: make(chan int64, 64)}
	f := startFollower(t, FollowerConfig{Feed: feed, Current: s.Version, Applied: serving.Load,
		CheckEvery: time.Hour, ResyncEvery: -1, Logger: quiet,
		Apply: func(ctx context.Context) (int64, error) {
			d, err := s.Load(ctx)
			if err != nil {
				return 0, err
			}
			if hold.CompareAndSwap(true, false) {
				// The load has read the store; the node has not yet
				// published what it read.
				entered <- d.Version
				<-release
			}
			serving.Store(d.Version)
			loaded <- d.Version
			return d.Version, nil
		}})
	heard := func(want int64) { t.Helper(); awaitVersion(t, feed.heard, want, "announced") }
	heard(0) // listening

	hold.Store(true)
	first := bump(t, s, 1)
	var inApply int64
	select {
	case inApply = <-entered:
	case <-time.After(deadline):
		t.Fatalf("version %d never applied", first)
	}
	second := bump(t, s, 2)
	heard(second) // its notification is waiting while the apply holds
	close(release)

	timeout := time.After(deadline)
	for {
		select {
		case v := <-loaded:
			if v >= second {
				if got := f.Status(); got.Applied < second {
					t.Errorf("status applied %d, want %d", got.Applied, second)
				}
				return
			}
			if v != inApply {
				t.Errorf("loaded %d, want the held apply's %d or %d", v, inApply, second)
			}
		case <-timeout:
			t.Fatalf("version %d, notified during the apply of %d, not applied within %s (no check runs)", second, inApply, deadline)
		}
	}
}

// startFollower makes a Follower of cfg and runs it until the test ends.
func startFollower(t *testing.T, cfg FollowerConfig) *Follower {
	t.Helper()
	f, err := NewFollower(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go func() { _ = f.Run(ctx) }()
	return f
}

// awaitVersion reads versions from ch until one reaches want, and fails
// the test after deadline (what: "loaded", "announced").
func awaitVersion(t *testing.T, ch <-chan int64, want int64, what string) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case v := <-ch:
			if v >= want {
				return
			}
		case <-timeout:
			t.Fatalf("version %d not %s within %s", want, what, deadline)
		}
	}
}
