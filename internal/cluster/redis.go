// Package cluster holds what several gateway nodes share besides the
// store: the Redis connection used for shared counters (rate limits,
// quotas, budgets) and the RFC 9421 nonce cache.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/ratelimit"
)

// OpenRedis parses a redis:// URL and returns a client tuned to fail fast
// (one dial attempt, no command retries, short dial timeout): a slow or
// absent Redis must turn into a quick per-node fallback, not into requests
// waiting on it. It does not contact Redis.
func OpenRedis(url string) (*redis.Client, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w (use redis://host:6379/0)", err)
	}
	ratelimit.TuneClientOptions(o)
	return redis.NewClient(o), nil
}

// Nonces is an RFC 9421 replay cache in Redis, shared by every node: a
// nonce is recorded with SET NX and an expiry, so exactly one node sees it
// first. It implements httpsig.NonceStore.
type Nonces struct {
	Client  redis.UniversalClient
	Prefix  string // default "gatehouse:nonce:"
	Timeout time.Duration
}

// Seen records (keyID, nonce) for ttl and reports whether it was already
// recorded. An error (Redis down) makes the verifier answer
// auth.backend_unavailable: accepting a possibly replayed request would be
// worse than refusing.
func (n *Nonces) Seen(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error) {
	prefix := n.Prefix
	if prefix == "" {
		prefix = "gatehouse:nonce:"
	}
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = 200 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok, err := n.Client.SetNX(ctx, prefix+keyID+"\x00"+nonce, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis nonce cache: %w", err)
	}
	return !ok, nil
}

// ErrNoRedis is returned by Ping when Redis does not answer.
var ErrNoRedis = errors.New("redis does not answer")

// Ping checks Redis answers within timeout.
func Ping(ctx context.Context, c redis.UniversalClient, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrNoRedis, err)
	}
	return nil
}
