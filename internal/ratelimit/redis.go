package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Why a script of our own rather than github.com/go-redis/redis_rate/v10
// (which §14 lists and which implements the same GCRA in Lua):
//
//   - redis_rate always reads the Redis server clock. Gatehouse needs the
//     choice (TimeSource): server time in production, the caller's injected
//     time in tests, which is what makes "exactly 100 of 1 000" and "600 ± 1%
//     through three nodes" exact, sleep-free assertions.
//   - redis_rate computes in floating-point seconds and rounds Remaining to
//     nearest; this script uses the integer microsecond arithmetic of gcra()
//     so Redis, the in-memory limiter and the per-node fallback return
//     identical decisions for the same history.
//   - redis_rate allocates a *Result and parses two floats per call; this
//     script returns four integers, and it is 25 lines.
//
// The script is loaded once and run with EVALSHA (go-redis falls back to EVAL
// on NOSCRIPT, e.g. after a Redis restart). It touches one key, so it is
// valid on Redis Cluster too. Redis ≥ 5 replicates scripts by effects, which
// makes calling TIME before a write legal.
const gcraLua = `
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now < 0 then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call("GET", key) or 0)
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
local reset_after = new_tat - now
-- %d: tostring() would print a 16-digit microsecond timestamp as 1.78e+15.
redis.call("SET", key, string.format("%d", new_tat), "PX", math.ceil(reset_after / 1000))
return {1, math.floor((now - allow_at) / interval), 0, reset_after}
`

// quotaLua counts one request against a calendar quota: KEYS[1] is the key
// of this window (the window's start is part of it), ARGV[1] the quota,
// ARGV[2] when the key may be dropped (Unix ms, the window's end plus a
// grace for nodes whose clocks lag). A denied request is not counted.
const quotaLua = `
local n = tonumber(redis.call("GET", KEYS[1]) or 0)
if n >= tonumber(ARGV[1]) then
  return {0, n}
end
n = redis.call("INCR", KEYS[1])
if n == 1 then
  redis.call("PEXPIREAT", KEYS[1], ARGV[2])
end
return {1, n}
`

// quotaGrace keeps a finished window's counter a little past its end, so a
// node whose clock lags still finds it instead of recreating it from zero.
const quotaGrace = time.Hour

// TimeSource selects whose clock a Redis limiter decides with.
//
// The trade-off: with ServerTime every node's request is timed by the one
// Redis clock, so clock skew between gateway nodes cannot distort the shared
// limit — but the passed now is ignored, so tests cannot fix the time. With
// CallerTime each node's own clock is used; a node whose clock runs s ahead
// of the others can admit up to about s/T extra requests (T = Period/Limit)
// and pushes the shared TAT forward for everyone. With NTP (skew of a few
// milliseconds) that is negligible for per-minute limits (T = 100 ms at
// 600/min) but not for per-second limits in the thousands (T = 1 ms). Hence
// ServerTime is the default and CallerTime is for tests and single-clock
// setups. All nodes sharing a key prefix must use the same TimeSource.
//
// Calendar quotas (Day, Month) always use the caller's clock to pick the
// window, since the calendar arithmetic (time zones, month lengths) lives in
// Go; skew then matters only for the few requests within the skew of
// midnight, which may be counted in the neighbouring window.
type TimeSource int

const (
	// ServerTime uses the Redis server's TIME (the default).
	ServerTime TimeSource = iota
	// CallerTime uses the now passed to Allow.
	CallerTime
)

// RedisOptions configure a Redis limiter; the zero value is usable.
type RedisOptions struct {
	// Prefix is prepended to every key; default "gatehouse:rl:". Tests use
	// a unique prefix each so they can run in parallel and clean up.
	Prefix string
	// Time selects the clock; default ServerTime.
	Time TimeSource
	// Timeout bounds one decision when the caller's context has no earlier
	// deadline; default 100 ms. A slow Redis then counts as down and the
	// Fallback decides, instead of every request waiting on it.
	Timeout time.Duration
}

// Redis is a GCRA limiter whose state lives in Redis, shared by every node
// that uses the same Redis and key prefix; each decision is one atomic script
// run, so concurrent nodes never double-spend a token.
type Redis struct {
	client  redis.UniversalClient
	script  *redis.Script
	quota   *redis.Script
	prefix  string
	time    TimeSource
	timeout time.Duration
}

// NewRedis returns a limiter on client. It does not contact Redis; the first
// Allow loads the script. Configure the client with TuneClientOptions (or
// equivalent settings) when it sits behind a Fallback.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Prefix == "" {
		opts.Prefix = "gatehouse:rl:"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 100 * time.Millisecond
	}
	return &Redis{
		client:  client,
		script:  redis.NewScript(gcraLua),
		quota:   redis.NewScript(quotaLua),
		prefix:  opts.Prefix,
		time:    opts.Time,
		timeout: opts.Timeout,
	}
}

// TuneClientOptions adjusts go-redis options for a limiter behind a Fallback:
// a dead Redis must fail fast with its real cause ("connection refused")
// rather than spend the whole decision timeout in go-redis's own dial
// retries (five attempts 100 ms apart by default), since the Fallback already
// retries, with backoff, and decides per node meanwhile.
func TuneClientOptions(o *redis.Options) {
	o.DialerRetries = 1
	o.MaxRetries = -1 // a command is not retried on a fresh connection
	if o.DialTimeout <= 0 || o.DialTimeout > 250*time.Millisecond {
		o.DialTimeout = 250 * time.Millisecond
	}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, l Limit, now time.Time) (Decision, error) {
	l, p, err := normalize(l)
	if err != nil {
		return Decision{Limit: l}, err
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > r.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	if l.Window != Rolling {
		return r.allowQuota(ctx, key, l, now)
	}
	nowUS := int64(-1) // the script reads TIME
	if r.time == CallerTime {
		nowUS = now.UnixMicro()
	}
	v, err := r.script.Run(ctx, r.client, []string{r.prefix + key}, p.interval, p.tolerance, nowUS).Int64Slice()
	if err != nil {
		return Decision{Limit: l}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(v) != 4 {
		return Decision{Limit: l}, fmt.Errorf("ratelimit: redis: script returned %d values, want 4", len(v))
	}
	o := outcome{allowed: v[0] == 1, remaining: v[1], retryAfter: v[2], resetAfter: v[3]}
	return o.decision(l), nil
}

// allowQuota counts one request against a calendar quota.
func (r *Redis) allowQuota(ctx context.Context, key string, l Limit, now time.Time) (Decision, error) {
	start, end := window(l, now)
	k := r.prefix + key + ":q" + strconv.FormatInt(start.Unix(), 10)
	v, err := r.quota.Run(ctx, r.client, []string{k}, l.Limit, end.Add(quotaGrace).UnixMilli()).Int64Slice()
	if err != nil {
		return Decision{Limit: l}, fmt.Errorf("ratelimit: redis quota: %w", err)
	}
	if len(v) != 2 {
		return Decision{Limit: l}, fmt.Errorf("ratelimit: redis quota: script returned %d values, want 2", len(v))
	}
	return quotaDecision(l, v[0] == 1, v[1], start, end, now), nil
}
