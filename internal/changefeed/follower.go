package changefeed

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/store"
)

// FollowerConfig configures a Follower. Feed, Current and Apply are
// required; zero durations take the defaults.
type FollowerConfig struct {
	// Feed announces versions (a Listener).
	Feed Feed
	// Current reads the store's version cheaply (store.Store.Version).
	Current func(ctx context.Context) (int64, error)
	// Apply loads the store and publishes a new snapshot, returning the
	// version it loaded (the server's Reload, then its snapshot's Version).
	Apply func(ctx context.Context) (int64, error)
	// Applied, if set, reports the version of the snapshot the node
	// serves right now. The server reloads by itself after its own admin
	// changes; reading its snapshot's version here keeps the follower from
	// loading the same change a second time. Without it the follower
	// tracks what Apply returned (starting from 0).
	Applied func() int64
	// CheckEvery is how often Current is compared with the applied
	// version, to catch a change whose notification was lost (default 5s).
	CheckEvery time.Duration
	// ResyncEvery is how often the snapshot is reloaded regardless, the
	// last safety net (e.g. rows edited by hand without a version bump);
	// default 10m, negative disables.
	ResyncEvery time.Duration
	// Clock stamps Status (default clock.Real).
	Clock clock.Clock
	// Ticker makes the periodic ticks (default time.NewTicker); tests pass
	// channels they drive themselves.
	Ticker func(d time.Duration) (<-chan time.Time, func())
	// Logger receives apply failures (default slog.Default()).
	Logger *slog.Logger
}

// Follower is a node's change loop: it applies a new snapshot when the
// feed announces a version newer than the applied one, when the periodic
// check finds the store's version moved, and on every full resync. A
// failed apply (store down) leaves the node on its snapshot; the next
// announcement or check retries.
type Follower struct {
	cfg FollowerConfig

	mu sync.Mutex
	st FollowerStatus
	// failingSince is when the store stopped answering (unix nanoseconds;
	// 0 while it answers): read on the request path, so lock-free.
	failingSince atomic.Int64
}

// FollowerStatus is what /readyz and metrics show about propagation.
type FollowerStatus struct {
	// Applied is the version of the snapshot in use, AppliedAt when it
	// was applied.
	Applied   int64     `json:"applied"`
	AppliedAt time.Time `json:"applied_at"`
	// Seen is the newest version the feed or a check reported; Seen >
	// Applied means the node is behind (reloading, or failing to).
	Seen int64 `json:"seen"`
	// Applies counts successful applies, Failures failed applies and
	// checks (the store did not answer); LastError is the last failure's
	// text ("" after a successful apply).
	Applies   int64  `json:"applies"`
	Failures  int64  `json:"failures"`
	LastError string `json:"last_error"`
}

// NewFollower checks cfg and returns a Follower; Run starts it.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	switch {
	case cfg.Feed == nil:
		return nil, errors.New("changefeed: FollowerConfig.Feed is required")
	case cfg.Current == nil:
		return nil, errors.New("changefeed: FollowerConfig.Current is required")
	case cfg.Apply == nil:
		return nil, errors.New("changefeed: FollowerConfig.Apply is required")
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = 5 * time.Second
	}
	if cfg.ResyncEvery == 0 {
		cfg.ResyncEvery = 10 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Ticker == nil {
		cfg.Ticker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f := &Follower{cfg: cfg}
	if cfg.Applied != nil {
		f.st.Applied = cfg.Applied()
	}
	f.st.Seen, f.st.AppliedAt = f.st.Applied, cfg.Clock.Now()
	return f, nil
}

// Unreachable reports whether the store has not answered the follower's
// last check or apply, and since when: the node's snapshot may then miss
// changes made on other nodes. Lock-free, for the request path.
func (f *Follower) Unreachable() (since time.Time, down bool) {
	if n := f.failingSince.Load(); n != 0 {
		return time.Unix(0, n), true
	}
	return time.Time{}, false
}

// Status returns a copy of the follower's state.
func (f *Follower) Status() FollowerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh()
	return f.st
}

// refresh takes the serving snapshot's version when the node reports it
// (it may have reloaded on its own). Called with mu held.
func (f *Follower) refresh() {
	if f.cfg.Applied == nil {
		return
	}
	if v := f.cfg.Applied(); v != f.st.Applied {
		f.st.Applied, f.st.AppliedAt = v, f.cfg.Clock.Now()
	}
}

// Run follows the feed until ctx ends (then it returns nil) or the feed
// closes its channel early (then it returns an error).
func (f *Follower) Run(ctx context.Context) error {
	versions, err := f.cfg.Feed.Subscribe(ctx)
	if err != nil {
		return err
	}
	check, stopCheck := f.cfg.Ticker(f.cfg.CheckEvery)
	defer stopCheck()
	var resync <-chan time.Time
	if f.cfg.ResyncEvery > 0 {
		c, stop := f.cfg.Ticker(f.cfg.ResyncEvery)
		defer stop()
		resync = c
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case v, ok := <-versions:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("changefeed: feed closed")
			}
			if f.saw(v) {
				f.apply(ctx, "notified")
			}
		case <-check:
			v, err := f.cfg.Current(ctx)
			if err != nil {
				f.failed(ctx, "check", err)
				continue
			}
			if f.moved(v) {
				f.apply(ctx, "check") // clears failingSince once the snapshot holds the changes
			} else {
				f.failingSince.Store(0) // the store answers and nothing was missed
			}
		case <-resync:
			f.apply(ctx, "resync")
		}
	}
}

// saw records an announced version; true when it is newer than the
// applied one.
func (f *Follower) saw(v int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh()
	f.st.Seen = max(f.st.Seen, v)
	return v > f.st.Applied
}

// moved records a checked version; true when it differs from the applied
// one (a restored database can move back).
func (f *Follower) moved(v int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh()
	f.st.Seen = max(f.st.Seen, v)
	return v != f.st.Applied
}

func (f *Follower) apply(ctx context.Context, why string) {
	v, err := f.cfg.Apply(ctx)
	if err != nil {
		f.failed(ctx, why, err)
		return
	}
	f.failingSince.Store(0)
	f.mu.Lock()
	f.st.Applied, f.st.AppliedAt, f.st.LastError = v, f.cfg.Clock.Now(), ""
	f.st.Seen = max(f.st.Seen, v)
	f.st.Applies++
	f.mu.Unlock()
}

func (f *Follower) failed(ctx context.Context, why string, err error) {
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, store.ErrUnavailable) {
		// Only an unreachable store: a snapshot this node cannot build
		// (the store answered) is not an outage to tell callers about.
		f.failingSince.CompareAndSwap(0, f.cfg.Clock.Now().UnixNano())
	}
	f.mu.Lock()
	f.st.Failures++
	f.st.LastError = err.Error()
	f.mu.Unlock()
	f.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "snapshot not refreshed; serving the previous one",
		slog.String("trigger", why), slog.String("error", err.Error()))
}
