package calllog

import (
	"math/rand/v2"
	"runtime"
	"sync"
)

// stripedQueue is the bounded multi-producer, single-consumer queue between
// the request path and the writer goroutine.
//
// Why stripes rather than one buffered channel: a channel is one mutex that
// every proxied request and the writer all take, once per record. Here each
// producer picks a stripe at random (math/rand/v2's per-thread source, no
// shared state) and takes only that stripe's lock, with TryLock so that a
// busy stripe makes it move on rather than wait; the writer takes each
// stripe's lock once per drain and moves up to a whole batch out of it.
// Measured with BenchmarkQueue (queue_test.go: 2 parallel producers building
// a fresh record per op, one consumer draining in batches, every record
// delivered), go test -bench Queue -cpu 2, on the 2-core shared development
// VM at load average ~3, median of 6 runs:
//
//	channel of *domain.Call        ~440 ns/op  1 alloc/op (320 B, the caller's)
//	channel of domain.Call         ~260 ns/op  0 allocs/op
//	striped ring of *domain.Call   ~310 ns/op  1 alloc/op (320 B, the caller's)
//	striped ring of domain.Call    ~120 ns/op  0 allocs/op   <- chosen
//
// (With the VM overloaded, load average 10+, every variant degraded to
// 400-1900 ns/op and channel-of-value came out ahead of the striped ring,
// medians ~450-600 vs ~720-780 ns: the figures are scheduling-bound there. The
// choice also rests on two things that do not depend on load: the writer
// takes a stripe's lock once per drain rather than once per record, and a
// closed stripe refuses under the same lock that guards the push, so no
// record can slip in after the final drain at Close — with a channel that
// needs an extra shared counter or RWMutex on every send.)
//
// The bound is global and exact: a record is refused only when every stripe
// is full (or the queue is closed), so the number of accepted records never
// exceeds the configured size and every refusal is reported to the caller.
type stripedQueue[T any] struct {
	stripes []stripe[T]
	mask    uint32
	// kickAt is the stripe depth at which a producer wakes the writer early,
	// so a full batch is written without waiting for the flush interval:
	// stripes fill evenly, so one stripe at BatchSize/len(stripes) means
	// about a batch in total.
	kickAt int
	kick   chan struct{}
}

// stripe is one lock and one ring buffer. The padding keeps neighbouring
// stripes' locks off one cache line, so producers on different cores do not
// contend through false sharing.
type stripe[T any] struct {
	mu     sync.Mutex
	buf    []T // ring; grows by doubling up to limit
	head   int // index of the oldest element
	n      int // number of elements
	limit  int // this stripe's share of the queue bound
	closed bool
	_      [64]byte
}

// newStripedQueue returns a queue holding at most size elements in total.
func newStripedQueue[T any](size, batchSize int) *stripedQueue[T] {
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) && n < 64 {
		n <<= 1
	}
	for n > 1 && size/n < 1 {
		n >>= 1
	}
	q := &stripedQueue[T]{
		stripes: make([]stripe[T], n),
		mask:    uint32(n - 1),
		kickAt:  max(1, batchSize/n),
		kick:    make(chan struct{}, 1),
	}
	// Split size exactly: the first size%n stripes hold one more.
	per, extra := size/n, size%n
	for i := range q.stripes {
		c := per
		if i < extra {
			c++
		}
		// Rings start at a few batches' worth and grow only under a
		// backlog: a full-size ring of records would be ~20 MB of
		// pointer-holding memory that the GC scans on every cycle even when
		// the queue is idle.
		q.stripes[i].limit = c
		q.stripes[i].buf = make([]T, min(c, initialStripeCap(q.kickAt)))
	}
	return q
}

// initialStripeCap is 4× the wake-up depth (so a stripe absorbs the records
// that arrive while the writer is busy with a batch without growing), and at
// least 16.
func initialStripeCap(kickAt int) int { return max(16, 4*kickAt) }

// grow doubles s's full ring (up to its limit), unrolling it to start at 0.
// It allocates, but only when the backlog reaches a new high, so
// steady-state pushes do not.
func (s *stripe[T]) grow() {
	nb := make([]T, min(s.limit, 2*len(s.buf)))
	k := copy(nb, s.buf[s.head:])
	copy(nb[k:], s.buf[:s.head])
	s.buf, s.head = nb, 0
}

// pushResult tells a producer what happened to its element.
type pushResult uint8

const (
	pushed pushResult = iota
	full
	closed
)

// push copies *v into the queue. It never blocks on a busy stripe during the
// first pass; only the stripes that were busy then (and so not yet seen
// full) are locked and tried in a second pass, so "full" is decided against
// the whole bound: a refusal means every stripe was seen full when looked at.
func (q *stripedQueue[T]) push(v *T) pushResult {
	start := rand.Uint32()
	var busy uint64 // bit k: stripe (start+k)&mask was locked by someone else
	for i := uint32(0); i <= q.mask; i++ {
		s := &q.stripes[(start+i)&q.mask]
		if !s.mu.TryLock() {
			busy |= 1 << i
			continue
		}
		if r, ok := q.tryPush(s, v); ok {
			return r
		}
	}
	for i := uint32(0); busy != 0; i++ {
		if busy&(1<<i) == 0 {
			continue
		}
		busy &^= 1 << i
		s := &q.stripes[(start+i)&q.mask]
		s.mu.Lock()
		if r, ok := q.tryPush(s, v); ok {
			return r
		}
	}
	return full
}

// tryPush is called with s locked and unlocks it. ok is false when the
// stripe is full and the caller should try another.
func (q *stripedQueue[T]) tryPush(s *stripe[T], v *T) (pushResult, bool) {
	if s.closed {
		s.mu.Unlock()
		return closed, true
	}
	if s.n == len(s.buf) {
		if s.n == s.limit {
			s.mu.Unlock()
			return full, false
		}
		s.grow()
	}
	c := len(s.buf)
	i := s.head + s.n
	if i >= c {
		i -= c
	}
	s.buf[i] = *v
	s.n++
	wake := s.n == q.kickAt
	s.mu.Unlock()
	if wake {
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
	return pushed, true
}

// drain moves up to max elements into dst through conv, starting at stripe
// from (the writer rotates it so no stripe is favoured), and zeroes the
// vacated slots so the queue keeps no references to written records.
func (q *stripedQueue[T]) drain(dst []T, limit int, from uint32) []T {
	var zero T
	for i := uint32(0); i <= q.mask && len(dst) < limit; i++ {
		s := &q.stripes[(from+i)&q.mask]
		s.mu.Lock()
		c := len(s.buf)
		for s.n > 0 && len(dst) < limit {
			dst = append(dst, s.buf[s.head])
			s.buf[s.head] = zero
			s.head++
			if s.head == c {
				s.head = 0
			}
			s.n--
		}
		if s.n == 0 {
			s.head = 0
		}
		s.mu.Unlock()
	}
	return dst
}

// len is the number of queued elements (a sum over stripes, each read under
// its lock; the total is not one atomic snapshot).
func (q *stripedQueue[T]) len() int {
	total := 0
	for i := range q.stripes {
		s := &q.stripes[i]
		s.mu.Lock()
		total += s.n
		s.mu.Unlock()
	}
	return total
}

// close makes every later push fail with closed. Elements already queued
// stay for drain: once close returns, no push can add anything, so a drain
// that finds the queue empty after close has seen every accepted element.
func (q *stripedQueue[T]) close() {
	for i := range q.stripes {
		s := &q.stripes[i]
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
}
