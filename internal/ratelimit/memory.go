package ratelimit

import (
	"context"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configure a Memory limiter; the zero value is usable.
type MemoryOptions struct {
	// Shards is the number of independently locked maps, rounded up to a
	// power of two; default 64. More shards mean less lock contention
	// between goroutines limiting different keys.
	Shards int
	// MaxKeys bounds the number of keys held (spread evenly over the
	// shards); default 1 << 20. When a shard is full, idle keys are dropped
	// first, then the key closest to being idle among a small sample — so a
	// flood of distinct keys cannot grow memory without bound, at the price
	// of possibly forgetting a busy key (which then restarts with a full
	// burst, or a quota with a zero count; Stats().Evictions counts this).
	// Quota keys stay live until their window ends, so rate-limit keys,
	// which go idle within a period, are the usual victims.
	MaxKeys int
	// SweepInterval is how often, at most, a shard is scanned for idle keys
	// when a new key is inserted; default one minute.
	SweepInterval time.Duration
}

// evictionSample is how many entries a full shard looks at to find one to
// evict: enough to usually find an idle or nearly idle key, few enough that
// a flood of new keys costs O(1) per insert rather than a full scan.
const evictionSample = 16

// Memory is an in-process GCRA limiter for embedded mode and for the per-node
// fallback in cluster mode. Keys are spread over shards by hash, each with
// its own mutex, so there is no global lock; Allow for an existing key does
// not allocate.
type Memory struct {
	seed          maphash.Seed
	mask          uint64
	perShard      int
	sweepInterval int64 // µs
	shards        []memShard
	evictions     atomic.Uint64
	expired       atomic.Uint64
}

// memShard is one lock and map; padded so neighbouring shards' mutexes do not
// share a cache line.
type memShard struct {
	mu        sync.Mutex
	entries   map[string]entry
	nextSweep int64 // µs
	_         [40]byte
}

// entry is one key's state. at is when the key becomes idle, in Unix µs: the
// TAT for a rolling limit, the window's end for a calendar quota; n is the
// quota's count in that window (unused for rolling limits).
type entry struct {
	at int64
	n  int64
}

// NewMemory returns an empty in-memory limiter.
func NewMemory(opts MemoryOptions) *Memory {
	n := opts.Shards
	if n <= 0 {
		n = 64
	}
	n = 1 << bits.Len(uint(n-1)) // round up to a power of two
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 {
		maxKeys = 1 << 20
	}
	perShard := (maxKeys + n - 1) / n
	sweep := opts.SweepInterval
	if sweep <= 0 {
		sweep = time.Minute
	}
	m := &Memory{
		seed:          maphash.MakeSeed(),
		mask:          uint64(n - 1),
		perShard:      perShard,
		sweepInterval: sweep.Microseconds(),
		shards:        make([]memShard, n),
	}
	for i := range m.shards {
		m.shards[i].entries = make(map[string]entry)
	}
	return m
}

// Allow implements Limiter. ctx is unused: the decision never blocks.
func (m *Memory) Allow(_ context.Context, key string, l Limit, now time.Time) (Decision, error) {
	l, p, err := normalize(l)
	if err != nil {
		return Decision{Limit: l}, err
	}
	nowUS := now.UnixMicro()
	s := &m.shards[maphash.String(m.seed, key)&m.mask]
	if l.Window != Rolling {
		return m.allowQuota(s, key, l, now, nowUS), nil
	}
	s.mu.Lock()
	e, ok := s.entries[key]
	o := gcra(e.at, nowUS, p)
	if o.allowed {
		if !ok {
			m.makeRoom(s, nowUS)
		}
		s.entries[key] = entry{at: o.newTAT}
	}
	s.mu.Unlock()
	return o.decision(l), nil
}

// allowQuota counts one request against a calendar quota.
func (m *Memory) allowQuota(s *memShard, key string, l Limit, now time.Time, nowUS int64) Decision {
	start, end := window(l, now)
	endUS := end.UnixMicro()
	s.mu.Lock()
	e, ok := s.entries[key]
	if !ok || e.at != endUS { // never seen, or counted in an earlier window
		e = entry{at: endUS}
	}
	allowed := e.n < int64(l.Limit)
	if allowed {
		e.n++
		if !ok {
			m.makeRoom(s, nowUS)
		}
		s.entries[key] = e
	}
	s.mu.Unlock()
	return quotaDecision(l, allowed, e.n, start, end, now)
}

// makeRoom runs before a new key is inserted into s (locked): a periodic
// sweep of idle keys, and if the shard is still full, eviction from a sample.
func (m *Memory) makeRoom(s *memShard, now int64) {
	if now >= s.nextSweep {
		s.nextSweep = now + m.sweepInterval
		var n uint64
		for k, e := range s.entries {
			if e.at <= now {
				delete(s.entries, k)
				n++
			}
		}
		m.expired.Add(n)
	}
	if len(s.entries) < m.perShard {
		return
	}
	// Map iteration starts at a random position, so this is a random sample.
	var victim string
	victimTAT := int64(1<<63 - 1)
	i := 0
	for k, e := range s.entries {
		if e.at <= now { // idle: dropping it changes no decision
			delete(s.entries, k)
			m.expired.Add(1)
			return
		}
		if e.at < victimTAT {
			victim, victimTAT = k, e.at
		}
		if i++; i >= evictionSample {
			break
		}
	}
	delete(s.entries, victim)
	m.evictions.Add(1)
}

// MemoryStats describe a Memory limiter's occupancy.
type MemoryStats struct {
	// Keys is the number of keys currently held.
	Keys int
	// Expired counts idle keys dropped (harmless: they were at full burst).
	Expired uint64
	// Evictions counts busy keys dropped because MaxKeys was reached; each
	// such key restarted with a full burst. Non-zero means MaxKeys is too
	// small for the traffic (or a flood of distinct keys).
	Evictions uint64
}

// Stats returns the current occupancy; it locks each shard briefly.
func (m *Memory) Stats() MemoryStats {
	st := MemoryStats{Expired: m.expired.Load(), Evictions: m.evictions.Load()}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		st.Keys += len(s.entries)
		s.mu.Unlock()
	}
	return st
}

// Sweep drops every idle key (TAT ≤ now) in all shards and returns how many
// it dropped. Allow sweeps lazily; call this from a periodic task to return
// memory after a traffic spike even when no new keys arrive.
func (m *Memory) Sweep(now time.Time) int {
	nowUS := now.UnixMicro()
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, e := range s.entries {
			if e.at <= nowUS {
				delete(s.entries, k)
				n++
			}
		}
		s.nextSweep = nowUS + m.sweepInterval
		s.mu.Unlock()
	}
	m.expired.Add(uint64(n))
	return n
}
