// Package ratelimit decides whether a request fits a rate limit, with the
// Generic Cell Rate Algorithm (GCRA), in memory (embedded mode, one node) or
// atomically in Redis (cluster mode, shared by every node), and renders the
// decision as IETF RateLimit headers.
//
// GCRA keeps one number per key: the theoretical arrival time (TAT) of the
// next request if the client sent at exactly the configured rate. A request
// is admitted when, after adding one emission interval T = Period/Limit to
// the TAT, the TAT is no more than Burst·T ahead of now. This gives the same
// admissions as a token bucket of Burst tokens refilled at Limit per Period,
// but needs a single value per key, no background refill, and an idle key
// whose TAT lies in the past is indistinguishable from a key never seen —
// so idle keys can be dropped at any time without changing a decision.
//
// Both implementations use the same integer arithmetic in microseconds
// (gcra below), so a limit behaves identically in memory and in Redis, and
// the per-node fallback used while Redis is down decides like Redis would.
//
// Quotas (issue 5: "quotas per day/month") are the same Limiter with a
// calendar Window: a plain counter per key and calendar day or month, reset
// all at once at the window's end, so "10 000 per month" means the calendar
// month, as billing does, rather than a rolling 30 days.
//
// Keys are opaque: callers namespace them by what is limited and by which
// policy ("consumer:<id>:plan-gold"), because the stored state does not
// include the limit it was computed with; a rate limit and a quota must not
// share a key.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limit is a rate-limit policy: Limit requests per Period, with bursts of up
// to Burst requests at once — or, with a calendar Window, a quota of Limit
// requests per calendar day or month.
type Limit struct {
	// Limit is the number of requests admitted per Period at a steady rate.
	Limit int
	// Period is the window Limit refers to (e.g. time.Minute).
	Period time.Duration
	// Burst is how many requests may arrive at the same instant after an
	// idle spell; 0 means Burst = Limit, which admits exactly Limit requests
	// in any burst and is what "100 requests per minute" usually means.
	Burst int
	// Name is the policy name shown to clients in the RateLimit-Policy and
	// RateLimit headers; empty means "default".
	Name string
	// Window is Rolling (the default: GCRA over Period) or a calendar
	// window (Day, Month) for quotas. For calendar windows Period and Burst
	// are ignored on input; decisions report the current window's length as
	// Period.
	Window Window
	// Location is the time zone whose midnight starts a calendar window;
	// nil means UTC. Unused for Rolling limits.
	Location *time.Location

	// policyField is the RateLimit-Policy member of a Rolling limit,
	// rendered once by Prepared; nil means Headers renders it per call. A
	// pointer keeps Limit comparable.
	policyField *[1]string
}

// Prepared returns l with its RateLimit-Policy field value rendered once.
// A limit that lives long (a route's, held by the snapshot) should be
// prepared: Headers then adds the shared value instead of formatting and
// allocating it on every request. Calendar windows are not prepared: their
// policy names the current window's length, which changes.
func (l Limit) Prepared() Limit {
	l.policyField = nil
	if l.Window == Rolling && l.Limit > 0 && l.Period > 0 {
		l.policyField = &[1]string{string(appendPolicy(nil, l))}
	}
	return l
}

// Window is the kind of window a Limit counts in.
type Window int

const (
	// Rolling is GCRA: Limit per Period at a steady rate, Burst at once.
	Rolling Window = iota
	// Day is a quota per calendar day, reset at midnight in Location.
	Day
	// Month is a quota per calendar month, reset at midnight on the first.
	Month
)

// PerDay is a convenience for a quota of n requests per calendar day (UTC).
func PerDay(n int, name string) Limit { return Limit{Limit: n, Window: Day, Name: name} }

// PerMonth is a convenience for a quota of n requests per calendar month (UTC).
func PerMonth(n int, name string) Limit { return Limit{Limit: n, Window: Month, Name: name} }

// window returns the calendar window of l containing now.
func window(l Limit, now time.Time) (start, end time.Time) {
	loc := l.Location
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	if l.Window == Day {
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 0, 1)
	}
	start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	return start, start.AddDate(0, 1, 0)
}

// quotaDecision builds the Decision for a calendar quota whose window ends at
// end, after count requests were counted in it (including this one if
// allowed).
func quotaDecision(l Limit, allowed bool, count int64, start, end, now time.Time) Decision {
	l.Period = end.Sub(start)
	l.Burst = l.Limit
	d := Decision{
		Allowed:    allowed,
		Remaining:  int(max(int64(l.Limit)-count, 0)),
		ResetAfter: end.Sub(now),
		Limit:      l,
	}
	if !allowed {
		d.RetryAfter = d.ResetAfter
	}
	return d
}

// PerMinute is a convenience for n requests per minute with Burst = n.
func PerMinute(n int, name string) Limit {
	return Limit{Limit: n, Period: time.Minute, Name: name}
}

// PerSecond is a convenience for n requests per second with Burst = n.
func PerSecond(n int, name string) Limit {
	return Limit{Limit: n, Period: time.Second, Name: name}
}

// Decision is the outcome of one Allow call.
type Decision struct {
	// Allowed reports whether the request fits the limit (and was counted).
	Allowed bool
	// Remaining is how many more requests would be admitted right now.
	Remaining int
	// RetryAfter is, on a denial, how long until one request is admitted
	// again; zero when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to its full burst (as if
	// it had never been seen).
	ResetAfter time.Duration
	// Limit is the policy the decision was made with, Burst filled in.
	Limit Limit
	// Degraded is true when the decision was made by a fallback limiter (or
	// refused by a fail-closed one) because the primary was unavailable.
	Degraded bool
}

// Limiter decides whether one request for key fits l at time now. A request
// that is admitted is counted; a denied one is not. Implementations are safe
// for concurrent use.
//
// now is the caller's clock (injected, so tests need no sleeps); a Redis
// limiter configured with ServerTime uses the Redis server's clock instead,
// see TimeSource.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit, now time.Time) (Decision, error)
}

// ErrInvalidLimit is returned for a Limit no limiter can enforce: a
// non-positive Limit or Period, a negative Burst, or a rate above one
// request per microsecond.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// ErrUnavailable is returned (wrapped, with the cause) by a fail-closed
// Fallback while its primary limiter is unreachable: the request is denied
// because nobody could count it, not because the caller exceeded its limit.
var ErrUnavailable = errors.New("ratelimit: limiter unavailable")

// params are a Limit's GCRA constants in microseconds.
type params struct {
	interval  int64 // emission interval T = Period / Limit
	tolerance int64 // burst offset τ = T · Burst
}

// normalize validates l, fills in the default Burst and computes the GCRA
// constants.
func normalize(l Limit) (Limit, params, error) {
	switch l.Window {
	case Rolling:
	case Day, Month:
		if l.Limit <= 0 {
			return l, params{}, fmt.Errorf("%w: quota of %d per window", ErrInvalidLimit, l.Limit)
		}
		return l, params{}, nil
	default:
		return l, params{}, fmt.Errorf("%w: unknown window %d", ErrInvalidLimit, l.Window)
	}
	if l.Limit <= 0 || l.Period <= 0 || l.Burst < 0 {
		return l, params{}, fmt.Errorf("%w: limit=%d period=%s burst=%d", ErrInvalidLimit, l.Limit, l.Period, l.Burst)
	}
	if l.Burst == 0 {
		l.Burst = l.Limit
	}
	interval := l.Period.Microseconds() / int64(l.Limit)
	if interval <= 0 {
		return l, params{}, fmt.Errorf("%w: %d per %s is finer than one request per microsecond", ErrInvalidLimit, l.Limit, l.Period)
	}
	return l, params{interval: interval, tolerance: interval * int64(l.Burst)}, nil
}

// outcome is the result of one GCRA step, all times in microseconds.
type outcome struct {
	allowed    bool
	newTAT     int64 // TAT to store when allowed
	remaining  int64
	retryAfter int64
	resetAfter int64
}

// gcra is one GCRA step for a key whose stored TAT is tat (0 or anything
// ≤ now for a new or idle key) at time now. The Redis Lua script in redis.go
// is a line-by-line transcription; keep them in step.
func gcra(tat, now int64, p params) outcome {
	if tat < now {
		tat = now
	}
	newTAT := tat + p.interval
	allowAt := newTAT - p.tolerance
	if now < allowAt {
		return outcome{retryAfter: allowAt - now, resetAfter: tat - now}
	}
	return outcome{
		allowed:    true,
		newTAT:     newTAT,
		remaining:  (now - allowAt) / p.interval,
		resetAfter: newTAT - now,
	}
}

// decision converts an outcome into a Decision.
func (o outcome) decision(l Limit) Decision {
	return Decision{
		Allowed:    o.allowed,
		Remaining:  int(o.remaining),
		RetryAfter: time.Duration(o.retryAfter) * time.Microsecond,
		ResetAfter: time.Duration(o.resetAfter) * time.Microsecond,
		Limit:      l,
	}
}
