package snapshot

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"maps"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// The API keys of a snapshot are its bulk: a million in issue 6's target,
// against thousands of everything else. They are held in a compact index
// rather than as one struct per key:
//
//   - a key is a fixed-size record without pointers (keyRec, 64 bytes):
//     its id and SHA-256 as byte arrays, small integers for its consumer,
//     scope set and environment, slots for the rare parts. The garbage
//     collector never scans the records, and a million of them take 64 MB;
//   - records are found through an open-addressing table of 4-byte record
//     numbers per shard (about 8 bytes a key), not a Go map (a
//     map[[12]byte]uint32 costs about 40 bytes an entry);
//   - repeated values are stored once per lineage (below): consumer ids,
//     scope lists with their header, environments; a record names them by
//     number. The consumer itself is looked up through the snapshot's
//     consumer table (Snapshot.cons), so a changed consumer needs no key
//     rewritten;
//   - the rare parts live beside the records, in the same shard: the
//     expiry (a time.Time, so Identity.ExpiresAt can point at it) and the
//     lifecycle extras of revoked, rotated and IP-restricted keys;
//   - the index is split into keyShards shards by a hash of the key id.
//     A snapshot never changes; the next one shares every shard its
//     changes did not touch and copies the others (copy-on-write), so a
//     single key change costs a few thousand entries, not a million.
//
// A lineage is the chain of snapshots built from one another (Build with
// a KeyLoader based on the previous snapshot). It holds the append-only
// tables the records index into. Appending never moves an element an
// older snapshot can see: each snapshot keeps its own slice headers, and
// only reads below their length.

// keyShards is the number of shards of the key index (a power of two).
// With a million keys a shard holds about 4 000, which a change copies in
// tens of microseconds.
const keyShards = 256

// idLen is the length of every key id the admin API issues or imports
// (internal/keys.IDLength). Ids of other lengths (rows written outside the
// API) are indexed too, by string.
const idLen = 12

type keyID [idLen]byte

// Record flags.
const (
	recImported uint8 = 1 << iota
	// recOdd: the id is not idLen bytes long; the shard's odd map, not
	// its table, indexes the record, and id is zero.
	recOdd
	// recDead: dropped by a complete load; in no index.
	recDead
)

// keyRec is one API key in the index.
type keyRec struct {
	sum [32]byte
	id  keyID
	// con is the consumer's slot in the lineage (Snapshot.cons).
	con uint32
	// scopes is the key's own scope set's slot + 1; 0 means the key
	// names none and takes its consumer's.
	scopes uint32
	// exp and extra are slot + 1 in the shard's exps and extras (0: none).
	exp, extra uint32
	// env is the environment's slot in the lineage's strs.
	env   uint16
	flags uint8
}

// keyExtra holds what only some keys have. Times are values, so a Key view
// can point at them.
type keyExtra struct {
	revokedAt, graceUntil time.Time
	revoked, graced       bool
	revokedReason         string
	successor             string
	ipAllow               []netip.Prefix
	ipText                []string
}

func (e *keyExtra) equal(o *keyExtra) bool {
	return e.revoked == o.revoked && e.revokedAt.Equal(o.revokedAt) && e.graced == o.graced &&
		e.graceUntil.Equal(o.graceUntil) && e.revokedReason == o.revokedReason && e.successor == o.successor &&
		slices.Equal(e.ipText, o.ipText)
}

// keyShard is one shard: the id index and the records it points to.
// Published shards are never modified.
type keyShard struct {
	// slots is an open-addressing table (linear probing; its length a
	// power of two, at most 3/4 full) of record number + 1, 0 when empty,
	// for the records of idLen-byte ids. odd maps any other id to its
	// record number (nil when there is none).
	slots  []uint32
	odd    map[string]uint32
	recs   []keyRec
	exps   []time.Time
	extras []keyExtra
	// live counts the records in the index.
	live int
}

// find returns the number of the record with id (k is id as a keyID when
// it is idLen bytes long), whose hash is h.
func (sh *keyShard) find(id string, k *keyID, h uint64) (uint32, bool) {
	if sh == nil {
		return 0, false
	}
	if len(id) != idLen {
		i, ok := sh.odd[id]
		return i, ok
	}
	if len(sh.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(sh.slots) - 1)
	for p := h >> 8 & mask; ; p = (p + 1) & mask {
		v := sh.slots[p]
		if v == 0 {
			return 0, false
		}
		if sh.recs[v-1].id == *k {
			return v - 1, true
		}
	}
}

// index adds record i, of id with hash h, to the index.
func (sh *keyShard) index(id string, h uint64, i uint32, kh *keyHash) {
	sh.live++
	if len(id) != idLen {
		if sh.odd == nil {
			sh.odd = map[string]uint32{}
		}
		sh.odd[strings.Clone(id)] = i
		return
	}
	if sh.live*4 > len(sh.slots)*3 {
		sh.reindex(kh, max(8, 2*len(sh.slots)))
		return // reindex placed record i too
	}
	sh.place(h, i)
}

func (sh *keyShard) place(h uint64, i uint32) {
	mask := uint64(len(sh.slots) - 1)
	p := h >> 8 & mask
	for sh.slots[p] != 0 {
		p = (p + 1) & mask
	}
	sh.slots[p] = i + 1
}

// reindex rebuilds the table with size slots from the live records.
func (sh *keyShard) reindex(kh *keyHash, size int) {
	sh.slots = make([]uint32, size)
	for i := range sh.recs {
		if r := &sh.recs[i]; r.flags&(recOdd|recDead) == 0 {
			sh.place(kh.id(&r.id), uint32(i))
		}
	}
}

// drop removes record i, of id, from the index (the table is rebuilt by
// the caller, once, after its drops).
func (sh *keyShard) drop(id string, i uint32) {
	sh.recs[i].flags |= recDead
	sh.live--
	if len(id) != idLen {
		delete(sh.odd, id)
	}
}

// each calls fn with the id and number of every indexed record.
func (sh *keyShard) each(fn func(id string, i uint32)) {
	for i := range sh.recs {
		if r := &sh.recs[i]; r.flags&(recOdd|recDead) == 0 {
			fn(string(r.id[:]), uint32(i))
		}
	}
	for id, i := range sh.odd {
		fn(id, i)
	}
}

func (sh *keyShard) clone() *keyShard {
	if sh == nil {
		return &keyShard{}
	}
	c := &keyShard{slots: slices.Clone(sh.slots), recs: slices.Clone(sh.recs), exps: slices.Clone(sh.exps),
		extras: slices.Clone(sh.extras), live: sh.live}
	if sh.odd != nil {
		c.odd = maps.Clone(sh.odd)
	}
	return c
}

func (sh *keyShard) len() int { return sh.live }

// scopeSet is an interned scope list and its header form.
type scopeSet struct {
	list   []string
	header string
}

// lineage holds the append-only tables of a chain of snapshots. Its mutex
// serialises builders, never readers: readers use the slice headers
// captured in their snapshot's keyIndex.
type lineage struct {
	hash keyHash

	mu       sync.Mutex
	conIDs   []string
	conSlot  map[string]uint32
	scopes   []scopeSet
	scopeIdx map[string]uint32
	strs     []string
}

func newLineage() *lineage {
	return &lineage{hash: newKeyHash(), conSlot: map[string]uint32{}, scopeIdx: map[string]uint32{}}
}

func (l *lineage) consumerSlot(id string) uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.conSlot[id]; ok {
		return i
	}
	i := uint32(len(l.conIDs))
	l.conIDs = append(l.conIDs, id)
	l.conSlot[id] = i
	return i
}

// scopeSlot interns a non-empty scope list; key is its NUL-joined form.
func (l *lineage) scopeSlot(key string, list []string) uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.scopeIdx[key]; ok {
		return i
	}
	l.scopes = append(l.scopes, scopeSet{list: slices.Clone(list), header: strings.Join(list, " ")})
	i := uint32(len(l.scopes)) // slot + 1
	l.scopeIdx[strings.Clone(key)] = i
	return i
}

func (l *lineage) strSlot(s string) (uint16, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.Index(l.strs, s); i >= 0 {
		return uint16(i), nil
	}
	if len(l.strs) == 1<<16-1 {
		return 0, fmt.Errorf("more than %d distinct key environments", 1<<16-1)
	}
	l.strs = append(l.strs, strings.Clone(s))
	return uint16(len(l.strs) - 1), nil
}

// tables captures the lineage's tables as they are now.
func (l *lineage) tables() (conIDs []string, scopes []scopeSet, strs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conIDs, l.scopes, l.strs
}

// keyIndex is a snapshot's keys. Immutable once published.
type keyIndex struct {
	lin    *lineage
	shards [keyShards]*keyShard
	// imported maps an imported key's SHA-256 to its id, sharded by the
	// first byte of the digest.
	imported [keyShards]map[[32]byte]string
	n, nImp  int
	scopes   []scopeSet
	strs     []string
}

func (x *keyIndex) count() int {
	if x == nil {
		return 0
	}
	return x.n
}

// keyHash hashes key ids: the low 8 bits of a hash choose the shard, the
// rest the slot in the shard's table. Ids of idLen bytes (all the gateway
// issues) take a seeded multiply-mix of their two words, a few nanoseconds
// on the request path; other ids go through hash/maphash. The ids in the
// index are random (crypto/rand) or written by an operator, and a lookup
// probes only what the index holds, so a caller choosing the ids it
// presents cannot lengthen the probes.
type keyHash struct {
	seed       maphash.Seed
	k0, k1, k2 uint64
}

func newKeyHash() keyHash {
	seed := maphash.MakeSeed()
	return keyHash{seed: seed, k0: maphash.String(seed, "k0"), k1: maphash.String(seed, "k1"), k2: maphash.String(seed, "k2")}
}

func (kh *keyHash) id(k *keyID) uint64 {
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(k[:8])^kh.k0, uint64(binary.LittleEndian.Uint32(k[8:]))^kh.k1)
	hi, lo = bits.Mul64(hi^lo^kh.k2, 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// locate returns id as a keyID (when it is idLen bytes long) and its hash.
func (x *keyIndex) locate(id string) (k keyID, h uint64) {
	if len(id) == idLen {
		copy(k[:], id)
		return k, x.lin.hash.id(&k)
	}
	return k, maphash.String(x.lin.hash.seed, id)
}

// KeyLoader collects a snapshot's API keys, one Put per key as the store
// streams them (store.LoadOptions.Key), into the compact index Build
// publishes (Options.Keys). It is used by one goroutine, for one Build.
type KeyLoader struct {
	x        keyIndex
	base     *keyIndex
	baseCons []*Consumer
	complete bool
	owned    [keyShards]bool
	impOwned [keyShards]bool
	// seen marks, in a complete load over a base, the base's records that
	// were streamed again (the others are gone from the store).
	seen [keyShards][]uint64
	// refd lists the consumer slots the Puts referred to, checked by Build.
	refd map[uint32]string
	// Per-load caches, so a row costs no lineage lock.
	conCache   map[string]uint32
	scopeCache map[string]uint32
	envCache   map[string]uint16
	scopeKey   []byte
	used       bool
}

// NewKeyLoader starts the keys of a new snapshot.
//
// With base nil the loader starts empty and the store must stream every
// key (a first load). With base set it starts from base's keys, in base's
// lineage:
//
//   - complete false: the store streams only the keys written since
//     base.Version (store.LoadOptions.KeysSince); each replaces or adds one
//     key, and everything else is shared with base;
//   - complete true: the store streams every key; unchanged keys stay
//     shared with base (no copy), changed ones are replaced, and base's
//     keys that are not streamed are dropped (a periodic resync, or a
//     store restored to an older state).
func NewKeyLoader(base *Snapshot, complete bool) *KeyLoader {
	l := &KeyLoader{complete: complete || base == nil, refd: map[uint32]string{},
		conCache: map[string]uint32{}, scopeCache: map[string]uint32{}, envCache: map[string]uint16{}}
	if base == nil || base.keys == nil {
		l.x.lin = newLineage()
		l.complete = true
		return l
	}
	l.base, l.baseCons = base.keys, base.cons
	l.x = *base.keys
	return l
}

// Expect sizes an empty loader's index for about n keys
// (store.LoadOptions.Expect), so a first load of a million keys does not
// grow it a few thousand times; a loader with a base ignores it.
func (l *KeyLoader) Expect(n int) {
	if l.base != nil || n <= 0 {
		return
	}
	per := n/keyShards + 16 // stores' estimates have headroom already
	slots := 8
	for slots*3 < per*4 {
		slots *= 2
	}
	for si := range l.x.shards {
		if l.x.shards[si] == nil {
			l.x.shards[si] = &keyShard{recs: make([]keyRec, 0, per), slots: make([]uint32, slots)}
			l.owned[si] = true
		}
	}
}

// Put adds k, or replaces the key with its id. It only reads k: the
// store may reuse k and its strings once Put returns (store.LoadOptions).
func (l *KeyLoader) Put(k *domain.APIKey) error {
	if l.used {
		return fmt.Errorf("snapshot: KeyLoader.Put after Build")
	}
	var r keyRec
	if len(k.Hash) != 64 {
		return fmt.Errorf("snapshot: key %s has a malformed stored hash", k.ID)
	}
	if _, err := hex.Decode(r.sum[:], []byte(k.Hash)); err != nil {
		return fmt.Errorf("snapshot: key %s has a malformed stored hash", k.ID)
	}
	var extra keyExtra
	hasExtra := false
	if len(k.IPAllow) > 0 {
		prefixes, err := parsePrefixes(k.IPAllow)
		if err != nil {
			return fmt.Errorf("snapshot: key %s: %w", k.ID, err)
		}
		extra.ipAllow, extra.ipText, hasExtra = prefixes, slices.Clone(k.IPAllow), true
	}
	if k.RevokedAt != nil {
		extra.revoked, extra.revokedAt, hasExtra = true, *k.RevokedAt, true
	}
	if k.GraceUntil != nil {
		extra.graced, extra.graceUntil, hasExtra = true, *k.GraceUntil, true
	}
	if k.RevokedReason != "" || k.Successor != "" {
		extra.revokedReason, extra.successor, hasExtra = k.RevokedReason, k.Successor, true
	}
	con, ok := l.conCache[k.ConsumerID]
	if !ok {
		con = l.x.lin.consumerSlot(k.ConsumerID)
		l.conCache[strings.Clone(k.ConsumerID)] = con
	}
	r.con = con
	if _, ok := l.refd[con]; !ok {
		l.refd[con] = strings.Clone(k.ID)
	}
	if len(k.Scopes) > 0 {
		l.scopeKey = l.scopeKey[:0]
		for i, s := range k.Scopes {
			if i > 0 {
				l.scopeKey = append(l.scopeKey, 0)
			}
			l.scopeKey = append(l.scopeKey, s...)
		}
		slot, ok := l.scopeCache[string(l.scopeKey)] // no allocation for the lookup
		if !ok {
			slot = l.x.lin.scopeSlot(string(l.scopeKey), k.Scopes)
			l.scopeCache[string(l.scopeKey)] = slot
		}
		r.scopes = slot
	}
	env, ok := l.envCache[k.Environment]
	if !ok {
		var err error
		if env, err = l.x.lin.strSlot(k.Environment); err != nil {
			return fmt.Errorf("snapshot: key %s: %w", k.ID, err)
		}
		l.envCache[strings.Clone(k.Environment)] = env
	}
	r.env = env
	if k.Imported {
		r.flags |= recImported
	}

	kid, h := l.x.locate(k.ID)
	si := int(h & (keyShards - 1))
	sh := l.x.shards[si]
	old, exists := sh.find(k.ID, &kid, h)
	if exists {
		if l.complete {
			l.markSeen(si, old)
		}
		if l.same(sh, old, &r, k.ExpiresAt, hasExtra, &extra) {
			return nil // unchanged: the shard stays shared
		}
	}
	if !l.owned[si] {
		sh = sh.clone()
		l.x.shards[si], l.owned[si] = sh, true
	}
	if exists {
		prev := sh.recs[old]
		// Reuse the old key's slots; a slot it no longer needs stays
		// unreferenced until the lineage is rebuilt.
		r.exp, r.extra = prev.exp, prev.extra
		if prev.flags&recImported != 0 {
			l.dropImported(prev.sum)
		}
	}
	if k.ExpiresAt != nil {
		if r.exp == 0 {
			sh.exps = append(sh.exps, time.Time{})
			r.exp = uint32(len(sh.exps))
		}
		sh.exps[r.exp-1] = *k.ExpiresAt
	} else {
		r.exp = 0
	}
	if hasExtra {
		if r.extra == 0 {
			sh.extras = append(sh.extras, keyExtra{})
			r.extra = uint32(len(sh.extras))
		}
		sh.extras[r.extra-1] = extra
	} else {
		r.extra = 0
	}
	if len(k.ID) == idLen {
		copy(r.id[:], k.ID)
	} else {
		r.flags |= recOdd
	}
	if exists {
		sh.recs[old] = r
	} else {
		sh.recs = append(sh.recs, r)
		sh.index(k.ID, h, uint32(len(sh.recs)-1), &l.x.lin.hash)
	}
	if k.Imported {
		l.putImported(r.sum, k.ID)
	}
	return nil
}

// same reports whether record i of sh says what r, exp and extra say.
func (l *KeyLoader) same(sh *keyShard, i uint32, r *keyRec, exp *time.Time, hasExtra bool, extra *keyExtra) bool {
	o := &sh.recs[i]
	if o.sum != r.sum || o.con != r.con || o.scopes != r.scopes || o.env != r.env || o.flags != r.flags ||
		(o.exp != 0) != (exp != nil) || (o.extra != 0) != hasExtra {
		return false
	}
	if exp != nil && !sh.exps[o.exp-1].Equal(*exp) {
		return false
	}
	return !hasExtra || sh.extras[o.extra-1].equal(extra)
}

func (l *KeyLoader) markSeen(si int, i uint32) {
	if l.base == nil {
		return
	}
	base := l.base.shards[si]
	if base == nil || int(i) >= len(base.recs) {
		return
	}
	if l.seen[si] == nil {
		l.seen[si] = make([]uint64, (len(base.recs)+63)/64)
	}
	l.seen[si][i/64] |= 1 << (i % 64)
}

func (l *KeyLoader) ownImported(si int) map[[32]byte]string {
	if !l.impOwned[si] {
		m := map[[32]byte]string{}
		if l.x.imported[si] != nil {
			m = maps.Clone(l.x.imported[si])
		}
		l.x.imported[si], l.impOwned[si] = m, true
	}
	return l.x.imported[si]
}

func (l *KeyLoader) putImported(sum [32]byte, id string) {
	l.ownImported(int(sum[0]))[sum] = strings.Clone(id)
}

func (l *KeyLoader) dropImported(sum [32]byte) {
	if l.x.imported[sum[0]] == nil {
		return
	}
	delete(l.ownImported(int(sum[0])), sum)
}

// finish drops, in a complete load over a base, the base's keys that were
// not streamed, and captures the lineage's tables.
func (l *KeyLoader) finish() *keyIndex {
	l.used = true
	if l.complete && l.base != nil {
		for si, base := range l.base.shards {
			if base == nil {
				continue
			}
			type goner struct {
				id string
				i  uint32
			}
			var gone []goner
			base.each(func(id string, i uint32) {
				if w := l.seen[si]; w == nil || w[i/64]&(1<<(i%64)) == 0 {
					gone = append(gone, goner{id, i})
				}
			})
			if len(gone) == 0 {
				continue
			}
			if !l.owned[si] {
				l.x.shards[si], l.owned[si] = base.clone(), true
			}
			sh := l.x.shards[si]
			for _, g := range gone {
				// Records keep their numbers in a clone: g.i is the key's.
				if r := sh.recs[g.i]; r.flags&recImported != 0 {
					l.dropImported(r.sum)
				}
				sh.drop(g.id, g.i)
			}
			sh.reindex(&l.x.lin.hash, len(sh.slots))
		}
	}
	l.x.n, l.x.nImp = 0, 0
	for si, sh := range l.x.shards {
		if sh == nil {
			continue
		}
		if l.owned[si] && sh.len() == 0 {
			l.x.shards[si] = nil
			continue
		}
		if l.owned[si] && l.base == nil {
			// A first load grew the slices by appending; trim the slack.
			sh.recs, sh.exps, sh.extras = trim(sh.recs), trim(sh.exps), trim(sh.extras)
		}
		l.x.n += sh.len()
	}
	for si, m := range l.x.imported {
		if l.impOwned[si] && len(m) == 0 {
			l.x.imported[si] = nil
		}
		l.x.nImp += len(l.x.imported[si])
	}
	_, l.x.scopes, l.x.strs = l.x.lin.tables()
	x := l.x
	return &x
}

// trim returns s without spare capacity beyond 1/8 of its length.
func trim[T any](s []T) []T {
	if cap(s)-len(s) <= len(s)/8 {
		return s
	}
	return slices.Clip(slices.Clone(s))
}

// buildKeys publishes the keys of l (a new loader when nil) and d.Keys,
// and the consumer table they index into.
func (s *Snapshot) buildKeys(d *store.Data, l *KeyLoader) error {
	if l == nil {
		l = NewKeyLoader(nil, true)
	}
	if l.used {
		return fmt.Errorf("snapshot: a KeyLoader serves one Build")
	}
	for i := range d.Keys {
		if err := l.Put(&d.Keys[i]); err != nil {
			l.used = true
			return err
		}
	}
	x := l.finish()
	s.cons = l.consumers(s.consumers)
	if err := l.check(x, s.cons, l.baseCons); err != nil {
		return err
	}
	s.keys = x
	return nil
}

// consumers returns the consumer table of a snapshot in l's lineage: slot
// → consumer, from the snapshot's consumers by id.
func (l *KeyLoader) consumers(byID map[string]*Consumer) []*Consumer {
	lin := l.x.lin
	lin.mu.Lock()
	defer lin.mu.Unlock()
	for id := range byID {
		if _, ok := lin.conSlot[id]; !ok {
			lin.conSlot[id] = uint32(len(lin.conIDs))
			lin.conIDs = append(lin.conIDs, id)
		}
	}
	cons := make([]*Consumer, len(lin.conIDs))
	for i, id := range lin.conIDs {
		cons[i] = byID[id]
	}
	return cons
}

// check fails when a key refers to a consumer the snapshot does not have:
// the keys put in this load, and, when base had a consumer this snapshot
// lacks, every key of the index.
func (l *KeyLoader) check(x *keyIndex, cons []*Consumer, base []*Consumer) error {
	ids, _, _ := x.lin.tables()
	missing := func(slot uint32) bool { return int(slot) >= len(cons) || cons[slot] == nil }
	for slot, keyID := range l.refd {
		if missing(slot) {
			return fmt.Errorf("snapshot: key %s refers to missing consumer %s", keyID, ids[slot])
		}
	}
	vanished := false
	for i, c := range base {
		if c != nil && missing(uint32(i)) {
			vanished = true
			break
		}
	}
	if !vanished {
		return nil
	}
	for _, sh := range x.shards {
		if sh == nil {
			continue
		}
		var err error
		sh.each(func(id string, i uint32) {
			if c := sh.recs[i].con; err == nil && missing(c) {
				err = fmt.Errorf("snapshot: key %s refers to missing consumer %s", id, ids[c])
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Key is an API key as the request path sees it, with its owner resolved:
// a view of the snapshot's compact record, filled by LookupKey without
// allocating. Its pointers and slices point into the immutable snapshot.
// The snapshot keeps what verifying and admitting a call needs; a key's
// name, last4, predecessor and timestamps other than expiry, revocation
// and grace are in the store only.
type Key struct {
	ID          string
	ConsumerID  string
	Consumer    *Consumer
	Environment string
	Imported    bool
	// Sum is the SHA-256 of the full key.
	Sum [32]byte
	// Scopes are the effective scopes: the key's own, or the consumer's
	// grants when the key names none; ScopeHeader is their space-joined
	// form, sent upstream.
	Scopes      []string
	ScopeHeader string
	ExpiresAt   *time.Time
	// IPAllow is the key's own parsed allow-list (empty: any address).
	IPAllow       []netip.Prefix
	RevokedAt     *time.Time
	RevokedReason string
	// Successor and GraceUntil are set on a rotated key.
	Successor  string
	GraceUntil *time.Time
	// ipText is the allow-list as stored.
	ipText []string
}

// APIKey returns the key as a domain.APIKey with the fields the snapshot
// keeps (see Key; Scopes are the effective scopes).
func (k *Key) APIKey() domain.APIKey {
	return domain.APIKey{ID: k.ID, ConsumerID: k.ConsumerID, Environment: k.Environment, Imported: k.Imported,
		Scopes: k.Scopes, IPAllow: k.ipText, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt,
		RevokedReason: k.RevokedReason, Successor: k.Successor, GraceUntil: k.GraceUntil}
}

// LookupKey fills k with the key whose public id is id and reports
// whether there is one. It does not allocate: the request path's lookup.
func (s *Snapshot) LookupKey(id string, k *Key) bool {
	x := s.keys
	if x == nil || x.n == 0 {
		return false
	}
	kid, h := x.locate(id)
	sh := x.shards[h&(keyShards-1)]
	i, ok := sh.find(id, &kid, h)
	if !ok {
		return false
	}
	s.view(sh, i, id, k)
	return true
}

// LookupImportedKey fills k with the imported key whose SHA-256 is sum and
// reports whether there is one.
func (s *Snapshot) LookupImportedKey(sum [32]byte, k *Key) bool {
	x := s.keys
	if x == nil || x.nImp == 0 {
		return false
	}
	id, ok := x.imported[sum[0]][sum]
	if !ok {
		return false
	}
	return s.LookupKey(id, k)
}

// Key returns the key with the public id, or nil. Unlike LookupKey it
// allocates; for callers off the request path.
func (s *Snapshot) Key(id string) *Key {
	k := new(Key)
	if !s.LookupKey(id, k) {
		return nil
	}
	return k
}

// HasImportedKeys reports whether any imported (opaque) key exists.
func (s *Snapshot) HasImportedKeys() bool { return s.keys != nil && s.keys.nImp > 0 }

func (s *Snapshot) view(sh *keyShard, i uint32, id string, k *Key) {
	x := s.keys
	r := &sh.recs[i]
	c := s.cons[r.con]
	// Field by field: a composite literal would be built aside and copied.
	k.ID, k.ConsumerID, k.Consumer, k.Environment, k.Imported = id, c.ID, c, x.strs[r.env], r.flags&recImported != 0
	k.Sum = r.sum
	k.Scopes, k.ScopeHeader = c.Scopes, c.ScopeHeader
	if r.scopes != 0 {
		set := &x.scopes[r.scopes-1]
		k.Scopes, k.ScopeHeader = set.list, set.header
	}
	k.ExpiresAt = nil
	if r.exp != 0 {
		k.ExpiresAt = &sh.exps[r.exp-1]
	}
	if r.extra == 0 {
		k.RevokedAt, k.GraceUntil, k.RevokedReason, k.Successor, k.IPAllow, k.ipText = nil, nil, "", "", nil, nil
		return
	}
	e := &sh.extras[r.extra-1]
	k.RevokedAt, k.GraceUntil = nil, nil
	if e.revoked {
		k.RevokedAt = &e.revokedAt
	}
	if e.graced {
		k.GraceUntil = &e.graceUntil
	}
	k.RevokedReason, k.Successor, k.IPAllow, k.ipText = e.revokedReason, e.successor, e.ipAllow, e.ipText
}
