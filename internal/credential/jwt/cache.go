package jwt

import (
	"crypto/sha256"
	"sync"
	"unsafe"
)

// DefaultCacheSize is how many verified tokens are remembered.
const DefaultCacheSize = 10000

const cacheShards = 16

// tokenCache remembers verified tokens by the SHA-256 of the token, so a
// token seen again costs a hash and a map lookup instead of a signature
// verification. It is a bounded LRU split into shards to keep lock
// contention low under concurrent requests. Entries are immutable; expiry
// is checked by the reader against the request's clock.
type tokenCache struct {
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu   sync.Mutex
	m    map[[32]byte]*cacheNode
	head cacheNode // sentinel: head.next is the most recent
	max  int
}

type cacheNode struct {
	key        [32]byte
	v          *verified
	prev, next *cacheNode
}

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{}
	per := (size + cacheShards - 1) / cacheShards
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[[32]byte]*cacheNode)
		s.head.next, s.head.prev = &s.head, &s.head
		s.max = per
	}
	return c
}

// hashToken hashes the token without copying it: the byte view of the
// string is only read.
func hashToken(tok string) [32]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
}

func (c *tokenCache) shard(k *[32]byte) *cacheShard { return &c.shards[k[0]%cacheShards] }

func (c *tokenCache) get(k [32]byte) *verified {
	s := c.shard(&k)
	s.mu.Lock()
	n := s.m[k]
	if n == nil {
		s.mu.Unlock()
		return nil
	}
	if s.head.next != n {
		n.unlink()
		s.pushFront(n)
	}
	v := n.v
	s.mu.Unlock()
	return v
}

func (c *tokenCache) put(k [32]byte, v *verified) {
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
	n := &cacheNode{key: k, v: v}
	s.m[k] = n
	s.pushFront(n)
}

func (c *tokenCache) remove(k [32]byte) {
	s := c.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.m[k]; n != nil {
		n.unlink()
		delete(s.m, k)
	}
}

func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (s *cacheShard) pushFront(n *cacheNode) {
	n.prev = &s.head
	n.next = s.head.next
	s.head.next.prev = n
	s.head.next = n
}

func (n *cacheNode) unlink() {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
}
