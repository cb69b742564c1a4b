package basic

import (
	"hash/maphash"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// # Lockout
//
// argon2id makes each guess expensive for the gateway as much as for the
// guesser, so an unbounded stream of wrong passwords is both a brute-force
// attempt and a CPU drain. Failed checks are therefore counted per
// username and per client address; once a counter reaches its threshold
// within Window, that username or address is locked out for Duration:
// its Basic credentials are refused with basic.locked_out (429 with
// Retry-After) before the cache and before argon2id, the right password
// included.
//
// The lock is checked before the cache of recent successes on purpose: a
// cache hit that bypassed it would let a locked-out guesser keep trying
// at the speed of a map lookup and be told "yes" the moment it hits a
// password the real client used within the cache TTL.
//
// Disclosure: unknown usernames are counted exactly like known ones, and
// the caller's detail is the same for a locked username and a locked
// address, so a lockout says nothing about whether a username exists.
// Only the operator's trace says which counter locked and until when.
//
// Each attempt that reaches argon2id is charged to both counters before
// the hash runs (and refunded if it could not run), so a burst of
// concurrent guesses cannot overshoot the threshold while the first ones
// are still hashing: once the charged attempts reach the threshold,
// further ones are refused until those finish. Concurrent identical
// checks share one argon2id computation and so one charge.
//
// A success forgets the username's counter and refunds the address's
// charge (other usernames' failures from that address still count).
//
// # Memory, under a flood of random usernames
//
// Each counter table holds at most MaxTracked entries (default 100 000
// per table, about 100 bytes each). Entries are keyed by a 64-bit keyed
// hash (hash/maphash, seed random per Verifier), never by the username
// itself, so a 3 KiB username costs as much as a short one. A full shard
// evicts its least recently charged entry that is not locked out, which is
// reused in place: the table is an LRU ordered by the last attempt, and a
// lockout survives any flood of other usernames (see insert). An attacker
// who wants to evict a victim's failure count (below the threshold) must
// first make about MaxTracked failed attempts that each cost an argon2id
// computation (bounded by MaxConcurrentHashes), which takes longer than
// the window at any realistic hash rate; an address spraying usernames
// locks itself out much sooner. Two usernames whose hashes collide would share a counter;
// with a secret seed and 64 bits that is not something a caller can aim
// for.
//
// IPv4 addresses are counted one by one; IPv6 addresses by their /64,
// since a single host usually controls a whole /64 and could otherwise
// rotate past the counter.
//
// The tables are sharded (no global lock); the check on the success path
// takes one shared lock of one shard per table and allocates nothing, and
// an empty table costs one atomic load.

// Lockout configures the counting of failed Basic attempts.
type Lockout struct {
	// Off turns the lockout off: every attempt runs argon2id.
	Off bool
	// MaxUserFailures is how many failed attempts for one username within
	// Window lock that username (default 5; negative: usernames are not
	// counted).
	MaxUserFailures int
	// MaxIPFailures is how many failed attempts from one client address
	// (IPv6: one /64) within Window lock that address, whatever the
	// usernames (default 50; negative: addresses are not counted). Behind
	// a proxy that is not in trusted_proxies every client has the proxy's
	// address, and one lockout would then refuse them all.
	MaxIPFailures int
	// Window is how long failures are added up, from the first one
	// (default 15 minutes).
	Window time.Duration
	// Duration is how long a lockout lasts (default 15 minutes).
	Duration time.Duration
	// MaxTracked bounds the usernames, and separately the addresses,
	// whose failures are remembered (default 100 000 each).
	MaxTracked int
}

// Lockout defaults.
const (
	DefaultMaxUserFailures = 5
	DefaultMaxIPFailures   = 50
	DefaultLockoutWindow   = 15 * time.Minute
	DefaultLockoutDuration = 15 * time.Minute
	DefaultMaxTracked      = 100000
)

// lockout holds the two counter tables; a nil table is not counted.
type lockout struct {
	users, ips *counters
	window     time.Duration
	// policy is the RateLimit-Policy member of a lockout's 429: one
	// policy whichever counter locked (naming the counter would tell the
	// caller whether the username exists), with the username threshold
	// when usernames are counted.
	policy string
}

func newLockout(o Lockout) *lockout {
	if o.Off {
		return nil
	}
	if o.MaxUserFailures == 0 {
		o.MaxUserFailures = DefaultMaxUserFailures
	}
	if o.MaxIPFailures == 0 {
		o.MaxIPFailures = DefaultMaxIPFailures
	}
	if o.Window <= 0 {
		o.Window = DefaultLockoutWindow
	}
	if o.Duration <= 0 {
		o.Duration = DefaultLockoutDuration
	}
	if o.MaxTracked <= 0 {
		o.MaxTracked = DefaultMaxTracked
	}
	l := &lockout{window: o.Window}
	if o.MaxUserFailures > 0 {
		l.users = newCounters(o.MaxUserFailures, o.Window, o.Duration, o.MaxTracked)
	}
	if o.MaxIPFailures > 0 {
		l.ips = newCounters(o.MaxIPFailures, o.Window, o.Duration, o.MaxTracked)
	}
	if l.users == nil && l.ips == nil {
		return nil
	}
	q := o.MaxUserFailures
	if l.users == nil {
		q = o.MaxIPFailures
	}
	l.policy = `"basic-lockout";q=` + strconv.Itoa(q) + ";w=" + strconv.Itoa(int((o.Window+time.Second-1)/time.Second))
	return l
}

// lockKeys are one request's keys into the two tables.
type lockKeys struct {
	user, ip       uint64
	hasUser, hasIP bool
	// userFound: the username had an entry when checked (so a success
	// has something to forget).
	userFound bool
}

// keys hashes the username and the address (the zero Addr: the pipeline
// could not tell the address, which is then not counted).
func (l *lockout) keys(user []byte, ip netip.Addr) lockKeys {
	var k lockKeys
	if l.users != nil {
		k.user, k.hasUser = maphash.Bytes(l.users.seed, user), true
	}
	if l.ips != nil && ip.IsValid() {
		b := ipKey(ip).As16()
		k.ip, k.hasIP = maphash.Bytes(l.ips.seed, b[:]), true
	}
	return k
}

// ipKey is the address as counted: IPv4 itself, IPv6 its /64.
func ipKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// ipLabel names the counted address for the operator.
func ipLabel(ip netip.Addr) string {
	k := ipKey(ip)
	if k.Is6() {
		return k.String() + "/64"
	}
	return k.String()
}

// Which counter refused an attempt.
const (
	lockedNone = iota
	lockedUser
	lockedIP
)

// refusal says why an attempt was not checked: which counter, and until
// when (0: attempts that reach the threshold are still being checked).
type refusal struct {
	which int
	until int64 // unix nanoseconds
}

// empty reports whether neither table holds anything, the common case,
// which then costs two atomic loads and no hashing.
func (l *lockout) empty() bool {
	return (l.users == nil || l.users.live.Load() == 0) && (l.ips == nil || l.ips.live.Load() == 0)
}

// locked is the read-only check made before the cache. It sets
// k.userFound.
func (l *lockout) locked(k *lockKeys, now int64) refusal {
	if k.hasIP {
		if until, _ := l.ips.lockedUntil(k.ip, now); until != 0 {
			return refusal{lockedIP, until}
		}
	}
	if k.hasUser {
		until, found := l.users.lockedUntil(k.user, now)
		k.userFound = found
		if until != 0 {
			return refusal{lockedUser, until}
		}
	}
	return refusal{}
}

// charge counts an attempt in advance against both counters, or refuses
// it without charging either.
func (l *lockout) charge(k lockKeys, now int64) refusal {
	if k.hasIP {
		if until, refused := l.ips.charge(k.ip, now); refused {
			return refusal{lockedIP, until}
		}
	}
	if k.hasUser {
		if until, refused := l.users.charge(k.user, now); refused {
			if k.hasIP {
				l.ips.refund(k.ip)
			}
			return refusal{lockedUser, until}
		}
	}
	return refusal{}
}

// failed turns the charged attempt into a failure; it returns the end of
// each lockout it started (0: none).
func (l *lockout) failed(k lockKeys, now int64) (userUntil, ipUntil int64) {
	if k.hasIP {
		ipUntil = l.ips.fail(k.ip, now)
	}
	if k.hasUser {
		userUntil = l.users.fail(k.user, now)
	}
	return userUntil, ipUntil
}

// succeeded forgets the username's failures and refunds the address's
// charge.
func (l *lockout) succeeded(k lockKeys) {
	if k.hasIP {
		l.ips.refund(k.ip)
	}
	if k.hasUser {
		l.users.reset(k.user)
	}
}

// uncharged refunds an attempt that was charged but never checked (no
// argon2id slot).
func (l *lockout) uncharged(k lockKeys) {
	if k.hasIP {
		l.ips.refund(k.ip)
	}
	if k.hasUser {
		l.users.refund(k.user)
	}
}

// lockShards splits each table so that concurrent requests rarely contend
// for one lock.
const lockShards = 32

// counters is one table of failure counters.
type counters struct {
	seed     maphash.Seed
	max      int
	window   int64 // nanoseconds
	duration int64 // nanoseconds
	// live counts the entries, so that an empty table is skipped without
	// hashing or locking.
	live   atomic.Int64
	shards [lockShards]counterShard
}

type counterShard struct {
	mu   sync.RWMutex
	m    map[uint64]*counter
	head counter // sentinel: head.next is the most recently charged
	max  int
}

// counter is the state of one username or address; guarded by its
// shard's lock.
type counter struct {
	key        uint64
	failures   int   // charged attempts in the current window (in flight included)
	start      int64 // start of the window, unix nanoseconds
	until      int64 // locked until, unix nanoseconds (0: not locked)
	prev, next *counter
}

func newCounters(threshold int, window, duration time.Duration, size int) *counters {
	c := &counters{seed: maphash.MakeSeed(), max: threshold, window: int64(window), duration: int64(duration)}
	per := max((size+lockShards-1)/lockShards, 1)
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[uint64]*counter)
		s.head.next, s.head.prev = &s.head, &s.head
		s.max = per
	}
	return c
}

// shard uses the top bits; the map uses the whole key.
func (c *counters) shard(key uint64) *counterShard { return &c.shards[key>>59%lockShards] }

// lockedUntil returns the end of the key's lockout (0: not locked) and
// whether the key has an entry at all.
func (c *counters) lockedUntil(key uint64, now int64) (until int64, found bool) {
	if c.live.Load() == 0 {
		return 0, false
	}
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[key]
	if e != nil {
		found = true
		if e.until > now {
			until = e.until
		}
	}
	s.mu.RUnlock()
	return until, found
}

// charge counts one attempt ahead of its check. refused with until 0
// means the attempts already charged reach the threshold and are still
// being checked.
func (c *counters) charge(key uint64, now int64) (until int64, refused bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		e = c.insert(s, key, now)
	}
	switch {
	case e.until > now:
		return e.until, true
	case e.until != 0 || now-e.start >= c.window:
		// A lockout that ended, or a window that passed: start afresh.
		e.failures, e.start, e.until = 0, now, 0
	}
	if e.failures >= c.max {
		return 0, true
	}
	e.failures++
	if s.head.next != e {
		e.unlink()
		s.pushFront(e)
	}
	return 0, false
}

// fail records that the charged attempt failed and locks the key when
// that reaches the threshold; it returns the end of the lockout it
// started (0: none).
func (c *counters) fail(key uint64, now int64) int64 {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil || e.until != 0 || e.failures < c.max {
		return 0 // evicted meanwhile, already locked, or below the threshold
	}
	e.until = now + c.duration
	return e.until
}

// refund takes back one charge (a success from an address, or an attempt
// that was never checked).
func (c *counters) refund(key uint64) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil || e.until != 0 {
		return
	}
	if e.failures--; e.failures <= 0 {
		c.remove(s, e)
	}
}

// reset forgets the key (a username whose password was just proven).
func (c *counters) reset(key uint64) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[key]; e != nil {
		c.remove(s, e)
	}
}

// evictScan is how many entries from the least recently charged end a full
// shard looks at for one that is not locked out.
const evictScan = 64

// insert adds a zero entry for key, reusing the least recently charged
// entry that is not locked out when the shard is full. A locked entry is
// never charged again until its lockout ends, so locked entries drift to
// the old end of the list: evicting plainly by age would let a flood of
// other usernames end a lockout early (and hand the attacker fresh
// guesses). Only when the evictScan oldest entries are all locked is one
// of them given up: the one whose lockout ends first.
func (c *counters) insert(s *counterShard, key uint64, now int64) *counter {
	var e *counter
	if len(s.m) >= s.max {
		victim := s.head.prev
		for cand, i := s.head.prev, 0; cand != &s.head && i < evictScan; cand, i = cand.prev, i+1 {
			if cand.until <= now {
				victim = cand
				break
			}
			if cand.until < victim.until {
				victim = cand
			}
		}
		e = victim
		e.unlink()
		delete(s.m, e.key)
		*e = counter{}
	} else {
		e = &counter{}
		c.live.Add(1)
	}
	e.key = key
	s.m[key] = e
	s.pushFront(e)
	return e
}

func (c *counters) remove(s *counterShard, e *counter) {
	e.unlink()
	delete(s.m, e.key)
	c.live.Add(-1)
}

// Len counts the entries (for tests).
func (c *counters) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

func (s *counterShard) pushFront(e *counter) {
	e.prev = &s.head
	e.next = s.head.next
	s.head.next.prev = e
	s.head.next = e
}

func (e *counter) unlink() {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}
