package httpsig

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"gatehouse/internal/clock"
)

// NonceStore remembers which (keyid, nonce) pairs were seen, so that a
// signed request cannot be replayed within its validity window. Seen
// records the pair for ttl and reports whether it was already recorded
// (and not yet expired), atomically. The in-memory store serves one
// node; a shared store (Redis, SET NX PX) serves a cluster.
type NonceStore interface {
	Seen(ctx context.Context, keyID, nonce string, ttl time.Duration) (bool, error)
}

// ErrNonceStoreFull is returned when the in-memory store holds as many
// unexpired nonces as it may. Refusing (the gateway answers
// auth.backend_unavailable) is safer than evicting a live nonce, which
// would make its request replayable.
var ErrNonceStoreFull = errors.New("nonce store full")

// nonceShards spreads the hot path over independent locks: one request
// takes one shard's lock for a map lookup and insert, never a global one.
const nonceShards = 64

// sweepEvery is how often a shard drops expired entries.
const sweepEvery = 10 * time.Second

// MemoryNonces is a bounded, sharded, TTL-expiring NonceStore.
type MemoryNonces struct {
	clock    clock.Clock
	seed1    maphash.Seed
	seed2    maphash.Seed
	perShard int
	shards   [nonceShards]nonceShard
}

type nonceShard struct {
	mu sync.Mutex
	// m maps a 128-bit keyed hash of (keyid, nonce) to the expiry in Unix
	// nanoseconds. Keyed hashing (random seeds per process) keeps keys
	// fixed-size and allocation-free; a caller cannot aim for collisions,
	// and a chance collision (about n/2^128) only rejects one request.
	m         map[[2]uint64]int64
	nextSweep int64
	lastFull  int64
	_         [32]byte // keep neighbouring shards' locks off one cache line
}

// NewMemoryNonces returns a store holding at most max unexpired nonces
// (0: 1 000 000, about 40 MB at worst). c tells the time (nil: the
// system clock).
func NewMemoryNonces(max int, c clock.Clock) *MemoryNonces {
	if max <= 0 {
		max = 1_000_000
	}
	if c == nil {
		c = clock.Real{}
	}
	s := &MemoryNonces{clock: c, seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(),
		perShard: max/nonceShards + 1}
	for i := range s.shards {
		s.shards[i].m = make(map[[2]uint64]int64)
	}
	return s
}

func (s *MemoryNonces) key(keyID, nonce string) [2]uint64 {
	var h1, h2 maphash.Hash
	h1.SetSeed(s.seed1)
	h2.SetSeed(s.seed2)
	h1.WriteString(keyID)
	h1.WriteByte(0)
	h1.WriteString(nonce)
	h2.WriteString(keyID)
	h2.WriteByte(0)
	h2.WriteString(nonce)
	return [2]uint64{h1.Sum64(), h2.Sum64()}
}

// Seen implements NonceStore.
func (s *MemoryNonces) Seen(_ context.Context, keyID, nonce string, ttl time.Duration) (bool, error) {
	k := s.key(keyID, nonce)
	now := s.clock.Now().UnixNano()
	sh := &s.shards[k[0]%nonceShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if exp, ok := sh.m[k]; ok && exp > now {
		return true, nil
	}
	if now >= sh.nextSweep {
		sh.sweep(now)
	}
	if len(sh.m) >= s.perShard {
		// Full: drop a few expired entries at random (map iteration
		// starts at a random place), then, at most every 100 ms, all.
		n := 0
		for k, exp := range sh.m {
			if exp <= now {
				delete(sh.m, k)
			}
			if n++; n == 128 {
				break
			}
		}
		if len(sh.m) >= s.perShard && now >= sh.lastFull+int64(100*time.Millisecond) {
			sh.lastFull = now
			sh.sweep(now)
		}
		if len(sh.m) >= s.perShard {
			return false, ErrNonceStoreFull
		}
	}
	sh.m[k] = now + int64(ttl)
	return false, nil
}

// sweep drops every expired entry. It runs every sweepEvery, so memory
// follows the live set, at a cost spread over time (one shard's map walk).
func (sh *nonceShard) sweep(now int64) {
	for k, exp := range sh.m {
		if exp <= now {
			delete(sh.m, k)
		}
	}
	sh.nextSweep = now + int64(sweepEvery)
}

// Len returns the number of entries held (expired ones not yet swept
// included), for metrics and tests.
func (s *MemoryNonces) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
