package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/clock"
)

// Fallback puts a primary limiter (Redis, shared by all nodes) in front of a
// per-node fallback (Memory). While the primary answers, it decides. When it
// fails, the Fallback marks itself degraded and either lets the fallback
// decide (Decision.Degraded = true) or, if failClosed, denies every request
// with ErrUnavailable. While degraded it does not call the primary on every
// request — that would add a timeout to each request and hammer a recovering
// Redis — but lets one real request through to it after an exponentially
// growing backoff; the first success ends the degraded state.
//
// The fallback starts counting from nothing: a rolling limit loses at most
// one burst of history, but a calendar quota is counted per node from zero
// for the rest of the outage (fail closed where overspending a quota costs
// more than refusing calls). When Redis returns, its counters resume where
// they were; what the nodes admitted meanwhile is not added to them.
type Fallback struct {
	primary    Limiter
	fallback   Limiter
	failClosed bool
	log        *slog.Logger
	clock      clock.Clock
	minBackoff time.Duration
	maxBackoff time.Duration
	share      int

	down      atomic.Bool
	probing   atomic.Bool
	nextProbe atomic.Int64 // Unix ns, by clock

	mu        sync.Mutex // guards the fields below and state transitions
	backoff   time.Duration
	downSince time.Time
	lastErr   string

	primaryErrors     atomic.Uint64
	fallbackDecisions atomic.Uint64
	failClosedDenials atomic.Uint64
	probes            atomic.Uint64
	recoveries        atomic.Uint64
}

// FallbackOption adjusts a Fallback.
type FallbackOption func(*Fallback)

// WithClock sets the clock that times the probe backoff (default the real
// clock); tests pass a clock.Fake to step through backoffs without sleeping.
func WithClock(c clock.Clock) FallbackOption { return func(f *Fallback) { f.clock = c } }

// WithBackoff sets the first and the largest wait between probes of a failed
// primary (defaults 500 ms and 15 s); each failed probe doubles the wait.
func WithBackoff(first, max time.Duration) FallbackOption {
	return func(f *Fallback) {
		if first > 0 {
			f.minBackoff = first
		}
		if max >= f.minBackoff {
			f.maxBackoff = max
		}
	}
}

// WithFallbackShare divides every limit by nodes (rounding up) while the
// fallback decides, so N nodes each counting on their own admit about the
// configured total rather than N times it. Use the cluster's node count;
// the default 1 keeps limits unchanged (each node enforces the full limit).
func WithFallbackShare(nodes int) FallbackOption {
	return func(f *Fallback) {
		if nodes > 1 {
			f.share = nodes
		}
	}
}

// NewFallback returns a Fallback that asks primary first and falls back to
// fallback (or, if failClosed, denies) while primary is failing. logger gets
// one line per state change, never one per request; nil discards.
func NewFallback(primary, fallback Limiter, failClosed bool, logger *slog.Logger, opts ...FallbackOption) *Fallback {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &Fallback{
		primary:    primary,
		fallback:   fallback,
		failClosed: failClosed,
		log:        logger,
		clock:      clock.Real{},
		minBackoff: 500 * time.Millisecond,
		maxBackoff: 15 * time.Second,
		share:      1,
	}
	for _, o := range opts {
		o(f)
	}
	f.backoff = f.minBackoff
	return f
}

// Allow implements Limiter.
func (f *Fallback) Allow(ctx context.Context, key string, l Limit, now time.Time) (Decision, error) {
	if !f.down.Load() {
		d, err := f.primary.Allow(ctx, key, l, now)
		if err == nil || !f.isPrimaryFailure(ctx, err) {
			return d, err
		}
		f.markDown(err, false)
		return f.degraded(ctx, key, l, now, err)
	}
	if f.clock.Now().UnixNano() >= f.nextProbe.Load() && f.probing.CompareAndSwap(false, true) {
		defer f.probing.Store(false)
		f.probes.Add(1)
		d, err := f.primary.Allow(ctx, key, l, now)
		if err == nil {
			f.markUp()
			return d, nil
		}
		if !f.isPrimaryFailure(ctx, err) {
			return d, err
		}
		f.markDown(err, true)
		return f.degraded(ctx, key, l, now, err)
	}
	return f.degraded(ctx, key, l, now, nil)
}

// isPrimaryFailure tells a failing primary from an error that is the
// caller's: an invalid limit, or the caller's own context ending.
func (f *Fallback) isPrimaryFailure(ctx context.Context, err error) bool {
	if errors.Is(err, ErrInvalidLimit) || ctx.Err() != nil {
		return false
	}
	f.primaryErrors.Add(1)
	return true
}

// degraded decides without the primary; cause is the primary's error, or nil
// for "the one recorded when it went down" (read only when failing closed, so
// the per-node path does not allocate).
func (f *Fallback) degraded(ctx context.Context, key string, l Limit, now time.Time, cause error) (Decision, error) {
	nl, _, err := normalize(l)
	if err != nil {
		return Decision{Limit: nl}, err
	}
	if f.failClosed {
		f.failClosedDenials.Add(1)
		if cause == nil {
			f.mu.Lock()
			cause = errors.New(f.lastErr)
			f.mu.Unlock()
		}
		retry := time.Duration(f.nextProbe.Load() - f.clock.Now().UnixNano())
		if retry < time.Second {
			retry = time.Second
		}
		return Decision{Limit: nl, RetryAfter: retry, Degraded: true},
			fmt.Errorf("%w (fail-closed: requests are denied until it answers): %w", ErrUnavailable, cause)
	}
	if f.share > 1 {
		nl.Limit = (nl.Limit + f.share - 1) / f.share
		nl.Burst = (nl.Burst + f.share - 1) / f.share
		// The prepared RateLimit-Policy field names the whole limit; the
		// client is told the share this node applies.
		nl.policyField = nil
	}
	d, err := f.fallback.Allow(ctx, key, nl, now)
	d.Degraded = true
	if err != nil {
		return d, fmt.Errorf("ratelimit: fallback limiter: %w", err)
	}
	f.fallbackDecisions.Add(1)
	return d, nil
}

// markDown records a primary failure; probe says whether it was the answer
// to a probe (which doubles the backoff) or a failure noticed in normal
// operation (which starts the degraded state, or is a straggler of it).
func (f *Fallback) markDown(err error, probe bool) {
	now := f.clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastErr = err.Error()
	switch {
	case !f.down.Load():
		f.backoff = f.minBackoff
		f.downSince = now
		f.log.Warn("rate limiter primary unavailable; limits degraded",
			"mode", f.mode(), "retry_in", f.backoff, "err", err)
	case probe:
		f.backoff = min(f.backoff*2, f.maxBackoff)
		f.log.Info("rate limiter primary still unavailable",
			"mode", f.mode(), "down_for", now.Sub(f.downSince), "retry_in", f.backoff, "err", err)
	default:
		return // another request already marked it down and scheduled the probe
	}
	f.nextProbe.Store(now.Add(f.backoff).UnixNano())
	f.down.Store(true)
}

// markUp ends the degraded state after a successful probe.
func (f *Fallback) markUp() {
	now := f.clock.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.down.Load() {
		return
	}
	f.down.Store(false)
	f.backoff = f.minBackoff
	f.recoveries.Add(1)
	f.log.Info("rate limiter primary recovered; shared limits restored",
		"down_for", now.Sub(f.downSince))
}

func (f *Fallback) mode() string {
	if f.failClosed {
		return "fail-closed"
	}
	return "per-node fallback"
}

// FallbackStats is the Fallback's state for health, metrics and traces.
type FallbackStats struct {
	// Degraded is true while the primary is considered down.
	Degraded bool `json:"degraded"`
	// DegradedSince is when the current (or last) degraded spell began.
	DegradedSince time.Time `json:"degraded_since"`
	// LastError is the primary's last error (it names the failure, e.g.
	// "connection refused"; it never holds credentials).
	LastError string `json:"last_error"`
	// FailClosed reports the configured mode.
	FailClosed bool `json:"fail_closed"`
	// PrimaryErrors counts primary calls that failed.
	PrimaryErrors uint64 `json:"primary_errors"`
	// FallbackDecisions counts decisions made by the fallback limiter.
	FallbackDecisions uint64 `json:"fallback_decisions"`
	// FailClosedDenials counts requests denied because the primary was down.
	FailClosedDenials uint64 `json:"fail_closed_denials"`
	// Probes counts calls to the primary while degraded.
	Probes uint64 `json:"probes"`
	// Recoveries counts ends of degraded spells.
	Recoveries uint64 `json:"recoveries"`
}

// Stats returns the current state and counters.
func (f *Fallback) Stats() FallbackStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FallbackStats{
		Degraded:          f.down.Load(),
		DegradedSince:     f.downSince,
		LastError:         f.lastErr,
		FailClosed:        f.failClosed,
		PrimaryErrors:     f.primaryErrors.Load(),
		FallbackDecisions: f.fallbackDecisions.Load(),
		FailClosedDenials: f.failClosedDenials.Load(),
		Probes:            f.probes.Load(),
		Recoveries:        f.recoveries.Load(),
	}
}
