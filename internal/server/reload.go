package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
)

// How the snapshot follows the store. A node holding a million keys cannot
// read them all on every admin change: that takes seconds, and a
// revocation must reach every node within 100 ms (§10). So, with a store
// that streams keys (store.KeyStreamer, both stores do):
//
//   - the first load reads every key, streamed straight into the
//     snapshot's compact index (no intermediate []domain.APIKey);
//   - every later reload reads everything except the keys in full (a few
//     thousand rows), plus only the keys written since the snapshot's
//     version, and builds the next snapshot from the previous one: the
//     key shards the changes touch are copied, the others shared;
//   - every fullLoadEvery, and when the store's version went backwards (a
//     restored database), a reload streams every key again and keeps what
//     did not change (the safety net for rows edited by hand, and for
//     deletions, which an incremental load cannot see).
const fullLoadEvery = 10 * time.Minute

// freeAfterKeys: a full load of at least this many keys leaves hundreds
// of megabytes of short-lived garbage (rows as they were read); the node
// returns it to the operating system at once rather than holding it until
// the scavenger gets to it, so its resident memory is its snapshot's.
const freeAfterKeys = 50_000

// loadState is what Reload remembers between loads.
type loadState struct {
	mu       sync.Mutex
	lastFull time.Time
}

// loadKind names a reload in logs.
type loadKind string

const (
	loadFirst       loadKind = "first"       // no snapshot yet: every key
	loadIncremental loadKind = "incremental" // keys written since the snapshot
	loadFull        loadKind = "full"        // every key, diffed against the snapshot
	loadFresh       loadKind = "fresh"       // every key, a new index (after a failed build)
)

// Reload rebuilds the snapshot from the store and publishes it. The admin
// API calls it after every committed change, before answering, so a change
// is effective on the next request; the change feed calls it when another
// node committed one.
func (s *Server) Reload(ctx context.Context) error { return s.loadSnapshot(ctx, true) }

// loadSnapshot is Reload. With checkVersion false it skips the store's version
// read before an incremental load: the change feed's follower calls it
// only when it already knows the store moved past the snapshot (a
// notification or its periodic check reported a newer version), or for
// its periodic resync, which must reload regardless. That read is a round
// trip of its own, and under CPU pressure each round trip to PostgreSQL
// can stall for hundreds of milliseconds (README, "Cluster mode").
func (s *Server) loadSnapshot(ctx context.Context, checkVersion bool) error {
	s.loads.mu.Lock()
	defer s.loads.mu.Unlock()
	ks, ok := s.store.(store.KeyStreamer)
	if !ok {
		// A store without streaming (a test's wrapper): everything, as Data.
		d, err := s.store.Load(ctx)
		if err != nil {
			return fmt.Errorf("load snapshot: %w", err)
		}
		return s.publish(d, nil)
	}
	prev := s.snaps.Load()
	kind := loadIncremental
	switch {
	case prev == nil:
		kind = loadFirst
	case s.opts.Clock.Now().Sub(s.loads.lastFull) >= fullLoadEvery:
		kind = loadFull
	case !checkVersion:
	default:
		// Every change bumps the version: an unchanged one means this
		// snapshot is current. It spares the node that made a change a
		// second reload when its own notification comes back through the
		// change feed.
		v, err := s.store.Version(ctx)
		if err != nil {
			return fmt.Errorf("load snapshot: %w", err)
		}
		if v == prev.Version {
			return nil
		}
	}
	err := s.reload(ctx, ks, prev, kind)
	if errors.Is(err, errStoreBehind) {
		err = s.reload(ctx, ks, prev, loadFull)
	}
	var be *buildError
	if errors.As(err, &be) && kind != loadFirst {
		// A snapshot built from the previous one failed: build one from
		// nothing, which reports the data's own error if there is one.
		s.log.Warn("snapshot: an update of the previous snapshot failed; loading every key again", "err", be.err)
		err = s.reload(ctx, ks, nil, loadFresh)
	}
	if errors.As(err, &be) {
		return be.err
	}
	return err
}

// errStoreBehind: the store's version is older than the snapshot's.
var errStoreBehind = errors.New("store version went backwards")

// buildError marks an error of snapshot.Build (the data), as opposed to
// one of reading the store.
type buildError struct{ err error }

func (e *buildError) Error() string { return e.err.Error() }
func (e *buildError) Unwrap() error { return e.err }

// reload runs one load of the given kind from base (nil for first and
// fresh) and publishes the snapshot.
func (s *Server) reload(ctx context.Context, ks store.KeyStreamer, base *snapshot.Snapshot, kind loadKind) error {
	start := time.Now()
	incremental := kind == loadIncremental
	l := snapshot.NewKeyLoader(base, !incremental)
	streamed := 0
	opts := store.LoadOptions{Key: func(k *domain.APIKey) error { streamed++; return l.Put(k) }, Expect: l.Expect}
	if incremental {
		opts.KeysSince = base.Version
	}
	d, err := ks.LoadStream(ctx, opts)
	if err != nil {
		return fmt.Errorf("load snapshot: %w", err)
	}
	if incremental && d.Version < base.Version {
		return errStoreBehind
	}
	if err := s.publish(d, l); err != nil {
		return &buildError{err}
	}
	snap := s.snaps.Load()
	level := slog.LevelDebug
	if kind != loadIncremental {
		s.loads.lastFull = s.opts.Clock.Now()
		level = slog.LevelInfo
	}
	keys := snap.Counts()["keys"]
	s.log.Log(ctx, level, "snapshot loaded", "kind", string(kind), "version", snap.Version, "keys", keys,
		"keys_read", streamed, "duration", time.Since(start).Round(time.Microsecond))
	if kind != loadIncremental && streamed >= freeAfterKeys {
		debug.FreeOSMemory()
	}
	return nil
}

// publish builds the snapshot from d (and the keys l holds, when set) and
// makes it current.
func (s *Server) publish(d *store.Data, l *snapshot.KeyLoader) error {
	snap, err := snapshot.Build(d, snapshot.Options{Upstreams: s.ups, Now: s.opts.Clock.Now(), Extend: s.creds.extend, Keys: l})
	if err != nil {
		return err
	}
	s.jwks.Sync(jwtBindingsOf(snap).(*jwtBindings).all)
	// The identity keys come from the same read as the snapshot: a
	// rotation on any node reaches this one with the change feed.
	s.identity.Sync(d.IdentityKeys)
	s.snaps.Store(snap)
	return nil
}
