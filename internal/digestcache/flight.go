package digestcache

import "sync"

// Flights coalesces concurrent identical work: the first caller for a key
// runs it, later callers for the same key wait for that result instead of
// repeating it.
//
// It does what golang.org/x/sync/singleflight does, keyed by a digest
// rather than a string (no allocation per lookup) and with a count of the
// callers that joined a flight, which tests read to prove a burst was
// coalesced without relying on timing.
type Flights[V any] struct {
	mu sync.Mutex
	m  map[[32]byte]*flight[V]
}

type flight[V any] struct {
	done   chan struct{}
	v      V
	joined int // callers beyond the first; guarded by flights.mu
}

// Do runs fn for key unless a call for key is in flight, in which case it
// waits for that call's result. shared reports whether the result was (or
// will be) given to more than one caller.
func (f *Flights[V]) Do(key [32]byte, fn func() V) (v V, shared bool) {
	f.mu.Lock()
	if f.m == nil {
		f.m = make(map[[32]byte]*flight[V])
	}
	if c := f.m[key]; c != nil {
		c.joined++
		f.mu.Unlock()
		<-c.done
		return c.v, true
	}
	c := &flight[V]{done: make(chan struct{})}
	f.m[key] = c
	f.mu.Unlock()

	defer func() {
		f.mu.Lock()
		delete(f.m, key)
		shared = c.joined > 0
		f.mu.Unlock()
		close(c.done)
	}()
	c.v = fn()
	return c.v, false
}

// Joined returns how many callers are waiting on the flight for key (0
// when none is in flight).
func (f *Flights[V]) Joined(key [32]byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.m[key]; c != nil {
		return c.joined
	}
	return 0
}
