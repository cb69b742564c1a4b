package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/clock"
	"gatehouse/internal/cluster"
)

// redisWatch pings Redis (and writes a key) in the background so health and metrics say
// whether it answers now, not as of the last request that happened to
// need it (the rate limiter's fallback notices an outage, and its end,
// only on traffic: an idle node kept reporting Redis down for as long as
// nobody called a limited route).
type redisWatch struct {
	c     redis.UniversalClient
	every time.Duration
	clock clock.Clock // the server's: the counters date their failures with it
	log   *slog.Logger
	// downSince is when the pings began failing (unix nanoseconds), 0
	// while they succeed; checked is set after the first ping.
	downSince atomic.Int64
	checked   atomic.Bool
	// lastOK is when a ping last succeeded (unix nanoseconds).
	lastOK atomic.Int64
}

// run pings until ctx ends.
func (w *redisWatch) run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.ping(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// healthKey is what the watch writes: a write, not a PING, because a
// Redis that answers PING may still refuse the counters' writes (a
// read-only replica after a failover, out of memory with noeviction).
const healthKey = "gatehouse:health"

func (w *redisWatch) ping(ctx context.Context) {
	err := cluster.Ping(ctx, w.c, w.every)
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, w.every)
		err = w.c.Set(wctx, healthKey, w.clock.Now().UnixNano(), time.Minute).Err()
		cancel()
	}
	if ctx.Err() != nil {
		return
	}
	switch {
	case err == nil:
		w.lastOK.Store(w.clock.Now().UnixNano())
		if w.downSince.Swap(0) != 0 {
			w.log.Info("redis answers again")
		}
	case w.downSince.CompareAndSwap(0, w.clock.Now().UnixNano()):
		w.log.Warn("redis does not answer: counters fall back per node until it does", "err", err)
	}
	w.checked.Store(true)
}

// down reports whether the last ping failed, and since when.
func (w *redisWatch) down() (since time.Time, down bool) {
	if n := w.downSince.Load(); n != 0 {
		return time.Unix(0, n), true
	}
	return time.Time{}, false
}
