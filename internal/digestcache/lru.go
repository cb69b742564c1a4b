// Package digestcache holds the two small concurrency tools the
// credential verifiers share: a sharded LRU keyed by a 32-byte digest, and
// a coalescer of identical concurrent work. One copy, used by basic,
// introspect and mtls.
package digestcache

import "sync"

// lruShards splits the cache so that concurrent requests rarely contend
// for one lock.
const lruShards = 16

// LRU is a bounded least-recently-used map from a 32-byte digest to an
// immutable entry. It knows nothing of time: an entry carries its own
// validity, which the reader checks against the request's clock, so
// tests need no sleeps and a stale entry costs one comparison.
type LRU[V any] struct {
	shards [lruShards]lruShard[V]
}

type lruShard[V any] struct {
	mu   sync.Mutex
	m    map[[32]byte]*lruNode[V]
	head lruNode[V] // sentinel: head.next is the most recently used
	max  int
}

type lruNode[V any] struct {
	key        [32]byte
	v          V
	prev, next *lruNode[V]
}

// NewLRU returns a cache holding about size entries (at least one per
// shard).
func NewLRU[V any](size int) *LRU[V] {
	c := &LRU[V]{}
	per := max((size+lruShards-1)/lruShards, 1)
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[[32]byte]*lruNode[V])
		s.head.next, s.head.prev = &s.head, &s.head
		s.max = per
	}
	return c
}

func (c *LRU[V]) shard(k *[32]byte) *lruShard[V] { return &c.shards[k[0]%lruShards] }

// get returns the entry and marks it recently used.
func (c *LRU[V]) Get(k [32]byte) (V, bool) {
	s := c.shard(&k)
	s.mu.Lock()
	n := s.m[k]
	if n == nil {
		s.mu.Unlock()
		var zero V
		return zero, false
	}
	if s.head.next != n {
		n.unlink()
		s.pushFront(n)
	}
	v := n.v
	s.mu.Unlock()
	return v, true
}

// put adds or replaces an entry, evicting the least recently used one
// when the shard is full.
func (c *LRU[V]) Put(k [32]byte, v V) {
	s := c.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.m[k]; n != nil {
		n.v = v
		n.unlink()
		s.pushFront(n)
		return
	}
	if len(s.m) >= s.max {
		old := s.head.prev
		old.unlink()
		delete(s.m, old.key)
	}
	n := &lruNode[V]{key: k, v: v}
	s.m[k] = n
	s.pushFront(n)
}

// remove drops an entry.
func (c *LRU[V]) Remove(k [32]byte) {
	s := c.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.m[k]; n != nil {
		n.unlink()
		delete(s.m, k)
	}
}

// len counts the entries (for tests and metrics).
func (c *LRU[V]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (s *lruShard[V]) pushFront(n *lruNode[V]) {
	n.prev = &s.head
	n.next = s.head.next
	s.head.next.prev = n
	s.head.next = n
}

func (n *lruNode[V]) unlink() {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
}
