package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

var k0 = time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)

func tp(d time.Duration) *time.Time { t := k0.Add(d); return &t }

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// keyData is a tenant, two consumers and keys of every shape.
func keyData() *store.Data {
	d := &store.Data{
		Version: 3,
		Tenants: []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Consumers: []domain.Consumer{
			{ID: "c1", TenantID: "t1", Name: "shop", Status: domain.StatusActive, Scopes: []string{"orders:read", "orders:write"}},
			{ID: "c2", TenantID: "t1", Name: "crm", Status: domain.StatusActive, IPAllow: []string{"10.0.0.0/8"}},
		},
	}
	add := func(k domain.APIKey) {
		if k.Hash == "" {
			k.Hash = hashOf("secret of " + k.ID)
		}
		if k.Environment == "" {
			k.Environment = domain.EnvLive
		}
		d.Keys = append(d.Keys, k)
	}
	add(domain.APIKey{ID: "plainKey0001", ConsumerID: "c1", Scopes: []string{"orders:read"}})
	add(domain.APIKey{ID: "noScopes0001", ConsumerID: "c1"})
	add(domain.APIKey{ID: "emptyScopes1", ConsumerID: "c1", Scopes: []string{}})
	add(domain.APIKey{ID: "expiring0001", ConsumerID: "c2", Scopes: []string{"crm:read"}, ExpiresAt: tp(time.Hour)})
	add(domain.APIKey{ID: "revoked00001", ConsumerID: "c1", RevokedAt: tp(-time.Hour), RevokedReason: "lost", ExpiresAt: tp(time.Hour)})
	add(domain.APIKey{ID: "rotated00001", ConsumerID: "c1", Successor: "plainKey0001", GraceUntil: tp(2 * time.Hour)})
	add(domain.APIKey{ID: "ipLimited001", ConsumerID: "c2", IPAllow: []string{"192.168.1.7", "10.1.0.0/16"}})
	add(domain.APIKey{ID: "testEnv00001", ConsumerID: "c2", Environment: domain.EnvTest})
	add(domain.APIKey{ID: "imported0001", ConsumerID: "c2", Imported: true, Hash: hashOf("legacy-key-0001")})
	add(domain.APIKey{ID: "key_odd", ConsumerID: "c1", Scopes: []string{"orders:read"}}) // not 12 characters
	return d
}

// wantKey is the view of k that the snapshot must give, computed the
// plain way from the domain types.
func wantKey(t *testing.T, s *Snapshot, k domain.APIKey) Key {
	t.Helper()
	c := s.Consumer(k.ConsumerID)
	sum, _ := hex.DecodeString(k.Hash)
	w := Key{ID: k.ID, ConsumerID: k.ConsumerID, Consumer: c, Environment: k.Environment, Imported: k.Imported,
		Scopes: k.Scopes, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, RevokedReason: k.RevokedReason,
		Successor: k.Successor, GraceUntil: k.GraceUntil, ipText: k.IPAllow}
	copy(w.Sum[:], sum)
	if len(w.Scopes) == 0 {
		w.Scopes = c.Scopes
	}
	w.ScopeHeader = strings.Join(w.Scopes, " ")
	for _, p := range k.IPAllow {
		if pr, err := netip.ParsePrefix(p); err == nil {
			w.IPAllow = append(w.IPAllow, pr.Masked())
		} else {
			a := netip.MustParseAddr(p)
			w.IPAllow = append(w.IPAllow, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return w
}

// sameKey compares a view with the expected one by value (pointers by
// what they point to).
func sameKey(t *testing.T, what string, got, want Key) {
	t.Helper()
	deref := func(p *time.Time) string {
		if p == nil {
			return "nil"
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	type flat struct {
		ID, ConsumerID, Consumer, Env, Scopes, Header, Exp, Rev, Reason, Succ, Grace, IPs, IPText string
		Imported                                                                                  bool
		Sum                                                                                       [32]byte
	}
	f := func(k Key) flat {
		cons := "nil"
		if k.Consumer != nil {
			cons = k.Consumer.ID + "/" + k.Consumer.Name + "/" + strings.Join(k.Consumer.Scopes, ",")
		}
		return flat{k.ID, k.ConsumerID, cons, k.Environment, fmt.Sprintf("%q", k.Scopes), k.ScopeHeader, deref(k.ExpiresAt),
			deref(k.RevokedAt), k.RevokedReason, k.Successor, deref(k.GraceUntil), fmt.Sprint(k.IPAllow), fmt.Sprint(k.ipText),
			k.Imported, k.Sum}
	}
	if g, w := f(got), f(want); g != w {
		t.Errorf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

func TestKeyLookup(t *testing.T) {
	d := keyData()
	s, err := Build(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Counts()["keys"]; got != len(d.Keys) {
		t.Errorf("Counts keys = %d, want %d", got, len(d.Keys))
	}
	for _, k := range d.Keys {
		t.Run(k.ID, func(t *testing.T) {
			var got Key
			if !s.LookupKey(k.ID, &got) {
				t.Fatalf("LookupKey(%q) found nothing", k.ID)
			}
			want := wantKey(t, s, k)
			sameKey(t, "LookupKey", got, want)
			if p := s.Key(k.ID); p == nil {
				t.Error("Key() = nil")
			} else {
				sameKey(t, "Key()", *p, want)
			}
			var imp Key
			found := s.LookupImportedKey(want.Sum, &imp)
			if found != k.Imported {
				t.Errorf("LookupImportedKey by its hash: found %v, want %v (imported keys only)", found, k.Imported)
			}
			if found {
				sameKey(t, "LookupImportedKey", imp, want)
			}
		})
	}
	t.Run("one view reused for every key", func(t *testing.T) {
		var got Key
		reversed := slices.Clone(d.Keys)
		slices.Reverse(reversed)
		for _, order := range [][]domain.APIKey{d.Keys, reversed} {
			for _, k := range order {
				if !s.LookupKey(k.ID, &got) {
					t.Fatalf("LookupKey(%q) found nothing", k.ID)
				}
				sameKey(t, "reused view, "+k.ID, got, wantKey(t, s, k))
			}
		}
	})
	cases := []struct {
		desc, id string
	}{
		{"unknown 12-character id", "unknownKey01"},
		{"unknown odd id", "nope"},
		{"empty id", ""},
		{"prefix of a known id", "plainKey000"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var k Key
			if s.LookupKey(tc.id, &k) || s.Key(tc.id) != nil {
				t.Errorf("LookupKey(%q) found a key", tc.id)
			}
		})
	}
	if !s.HasImportedKeys() {
		t.Error("HasImportedKeys = false with an imported key")
	}
	if s.LookupImportedKey(sha256.Sum256([]byte("not imported")), new(Key)) {
		t.Error("LookupImportedKey found an unknown hash")
	}
	noImp := keyData()
	noImp.Keys = slices.DeleteFunc(noImp.Keys, func(k domain.APIKey) bool { return k.Imported })
	if s2, _ := Build(noImp, Options{}); s2.HasImportedKeys() {
		t.Error("HasImportedKeys = true without imported keys")
	}
	rec := s.Key("rotated00001").APIKey()
	if rec.ID != "rotated00001" || rec.ConsumerID != "c1" || rec.Successor != "plainKey0001" || !rec.GraceUntil.Equal(*tp(2 * time.Hour)) {
		t.Errorf("APIKey() = %+v", rec)
	}
}

func TestBuildKeyErrors(t *testing.T) {
	cases := []struct {
		desc string
		key  domain.APIKey
		want string
	}{
		{"hash not hex", domain.APIKey{ID: "badHash00001", ConsumerID: "c1", Hash: strings.Repeat("z", 64)}, "badHash00001 has a malformed stored hash"},
		{"hash too short", domain.APIKey{ID: "badHash00002", ConsumerID: "c1", Hash: "abcd"}, "badHash00002 has a malformed stored hash"},
		{"missing consumer", domain.APIKey{ID: "orphan000001", ConsumerID: "c9", Hash: hashOf("x")}, "key orphan000001 refers to missing consumer c9"},
		{"bad allow-list", domain.APIKey{ID: "badIP0000001", ConsumerID: "c1", Hash: hashOf("y"), IPAllow: []string{"10.0.0.300"}}, "key badIP0000001: ip allow-list entry"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			d := keyData()
			d.Keys = append(d.Keys, tc.key)
			if _, err := Build(d, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	t.Run("a loader serves one build", func(t *testing.T) {
		l := NewKeyLoader(nil, true)
		if _, err := Build(keyData(), Options{Keys: l}); err != nil {
			t.Fatal(err)
		}
		if _, err := Build(keyData(), Options{Keys: l}); err == nil {
			t.Fatal("a second Build with the same loader succeeded")
		}
		if err := l.Put(&keyData().Keys[0]); err == nil {
			t.Fatal("Put after Build succeeded")
		}
	})
}

// world is a store's keys as a test changes them: the truth every
// snapshot, however built, must agree with.
type world struct {
	d       *store.Data
	version int64
	changed map[string]bool // key ids written since the last snapshot
}

func (w *world) put(k domain.APIKey) {
	w.changed[k.ID] = true
	for i := range w.d.Keys {
		if w.d.Keys[i].ID == k.ID {
			w.d.Keys[i] = k
			return
		}
	}
	w.d.Keys = append(w.d.Keys, k)
}

func (w *world) get(id string) domain.APIKey {
	for _, k := range w.d.Keys {
		if k.ID == id {
			return k
		}
	}
	panic("no key " + id)
}

// data returns the store's Data: without keys (they are streamed) or with
// every key.
func (w *world) data(withKeys bool) *store.Data {
	d := *w.d
	d.Version = w.version
	d.Consumers = slices.Clone(w.d.Consumers)
	d.Keys = nil
	if withKeys {
		d.Keys = slices.Clone(w.d.Keys)
	}
	return &d
}

// stream hands keys to l one by one through a reused value, as a store
// does, scribbling over it after each Put.
func stream(t *testing.T, l *KeyLoader, keys []domain.APIKey) {
	t.Helper()
	var row domain.APIKey
	for _, k := range keys {
		row = k
		row.ID, row.Hash = string([]byte(k.ID)), string([]byte(k.Hash))
		if err := l.Put(&row); err != nil {
			t.Fatal(err)
		}
		row = domain.APIKey{ID: "scribbled!!!", Hash: strings.Repeat("0", 64)}
	}
}

// views captures every key's view of s, by id.
func views(s *Snapshot, ids []string) map[string]Key {
	out := map[string]Key{}
	for _, id := range ids {
		var k Key
		if s.LookupKey(id, &k) {
			out[id] = k
		}
	}
	return out
}

// TestIncrementalMatchesFresh applies random admin-like changes and, after
// each, builds the next snapshot three ways: from the previous one with
// the changed keys only (what a node does on every change), from the
// previous one with every key streamed (the periodic full load), and from
// nothing. All three must answer every lookup alike, and the previous
// snapshots must not change.
func TestIncrementalMatchesFresh(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := &world{d: keyData(), changed: map[string]bool{}}
	prev, err := Build(w.data(true), Options{})
	if err != nil {
		t.Fatal(err)
	}
	prevFull := prev
	type frozen struct {
		s     *Snapshot
		views map[string]Key
	}
	var history []frozen
	allIDs := func() []string {
		var ids []string
		for _, k := range w.d.Keys {
			ids = append(ids, k.ID)
		}
		return append(ids, "unknownKey01", "gone")
	}
	everHashed := map[[32]byte]bool{}
	n := 0
	newKey := func(consumer string) domain.APIKey {
		n++
		id := fmt.Sprintf("new%09d", n)
		if n%7 == 0 {
			id = fmt.Sprintf("odd-%d", n)
		}
		return domain.APIKey{ID: id, ConsumerID: consumer, Environment: domain.EnvLive, Hash: hashOf("s" + id),
			Scopes: [][]string{nil, {"orders:read"}, {"a", "b"}}[n%3]}
	}
	changes := []struct {
		desc  string
		apply func()
	}{
		{"create a key", func() { w.put(newKey([]string{"c1", "c2"}[rng.IntN(2)])) }},
		{"create an imported key", func() { k := newKey("c1"); k.Imported = true; w.put(k) }},
		{"revoke a key", func() {
			k := w.d.Keys[rng.IntN(len(w.d.Keys))]
			k.RevokedAt, k.RevokedReason = tp(time.Duration(rng.IntN(100))*time.Minute), "revoked by test"
			w.put(k)
		}},
		{"rotate a key (two keys in one change)", func() {
			old := w.d.Keys[rng.IntN(len(w.d.Keys))]
			succ := newKey(old.ConsumerID)
			succ.Predecessor, succ.ExpiresAt = old.ID, tp(24*time.Hour)
			old.Successor, old.GraceUntil = succ.ID, tp(time.Hour)
			w.put(old)
			w.put(succ)
		}},
		{"set an expiry and an allow-list", func() {
			k := w.d.Keys[rng.IntN(len(w.d.Keys))]
			k.ExpiresAt, k.IPAllow = tp(time.Duration(rng.IntN(1000))*time.Minute), []string{"10.9.0.0/16"}
			w.put(k)
		}},
		{"clear a key's expiry, scopes and allow-list", func() {
			k := w.d.Keys[rng.IntN(len(w.d.Keys))]
			k.ExpiresAt, k.Scopes, k.IPAllow = nil, nil, nil
			w.put(k)
		}},
		{"un-import a key (hash and flag change)", func() {
			k := w.d.Keys[rng.IntN(len(w.d.Keys))]
			k.Imported, k.Hash = !k.Imported, hashOf("rehash "+k.ID+fmt.Sprint(rng.Int()))
			w.put(k)
		}},
		{"change a consumer's scopes (no key written)", func() {
			i := rng.IntN(len(w.d.Consumers))
			c := w.d.Consumers[i]
			c.Scopes = [][]string{{"x"}, {"orders:read", "y"}, nil}[rng.IntN(3)]
			w.d.Consumers[i] = c
		}},
		{"add a consumer and a key of it", func() {
			id := fmt.Sprintf("c%d", len(w.d.Consumers)+1)
			w.d.Consumers = append(w.d.Consumers, domain.Consumer{ID: id, TenantID: "t1", Name: id, Status: domain.StatusActive,
				Scopes: []string{"new:scope"}})
			w.put(newKey(id))
		}},
		{"nothing (a change of something else)", func() {}},
	}
	for step := range 300 {
		ch := changes[rng.IntN(len(changes))]
		ch.apply()
		w.version++
		var changedKeys []domain.APIKey
		for _, k := range w.d.Keys {
			if w.changed[k.ID] {
				changedKeys = append(changedKeys, k)
			}
		}
		w.changed = map[string]bool{}
		history = append(history, frozen{prev, views(prev, allIDs())})

		inc := NewKeyLoader(prev, false)
		stream(t, inc, changedKeys)
		next, err := Build(w.data(false), Options{Keys: inc})
		if err != nil {
			t.Fatalf("step %d (%s): incremental build: %v", step, ch.desc, err)
		}
		full := NewKeyLoader(prevFull, true)
		stream(t, full, w.d.Keys)
		nextFull, err := Build(w.data(false), Options{Keys: full})
		if err != nil {
			t.Fatalf("step %d (%s): full build over the previous one: %v", step, ch.desc, err)
		}
		fresh, err := Build(w.data(true), Options{})
		if err != nil {
			t.Fatalf("step %d (%s): fresh build: %v", step, ch.desc, err)
		}
		for _, s := range []*Snapshot{next, nextFull, fresh} {
			if got := s.Counts()["keys"]; got != len(w.d.Keys) {
				t.Fatalf("step %d (%s): %d keys, want %d", step, ch.desc, got, len(w.d.Keys))
			}
		}
		for _, k := range w.d.Keys {
			want := wantKey(t, fresh, k)
			for name, s := range map[string]*Snapshot{"incremental": next, "full over previous": nextFull, "fresh": fresh} {
				var got Key
				if !s.LookupKey(k.ID, &got) {
					t.Fatalf("step %d (%s): %s snapshot lost key %s", step, ch.desc, name, k.ID)
				}
				sameKey(t, fmt.Sprintf("step %d (%s): %s, key %s", step, ch.desc, name, k.ID), got, want)
				var imp Key
				if found := s.LookupImportedKey(want.Sum, &imp); found != k.Imported {
					t.Fatalf("step %d (%s): %s: imported lookup of %s = %v, want %v", step, ch.desc, name, k.ID, found, k.Imported)
				}
			}
		}
		// Every hash ever used: found by the imported index exactly when
		// a current imported key has it (a re-hashed or un-imported key
		// leaves nothing behind).
		imported := map[[32]byte]string{}
		for _, k := range w.d.Keys {
			if k.Imported {
				imported[wantKey(t, fresh, k).Sum] = k.ID
			}
			var sum [32]byte
			_, _ = hex.Decode(sum[:], []byte(k.Hash))
			everHashed[sum] = true
		}
		for sum := range everHashed {
			for name, s := range map[string]*Snapshot{"incremental": next, "full over previous": nextFull, "fresh": fresh} {
				var got Key
				found := s.LookupImportedKey(sum, &got)
				if id, want := imported[sum]; found != want || found && got.ID != id {
					t.Fatalf("step %d (%s): %s: imported lookup of hash %x = %v (%s), want %v (%s)", step, ch.desc, name, sum[:4], found, got.ID, want, id)
				}
				if s.HasImportedKeys() != (len(imported) > 0) {
					t.Fatalf("step %d (%s): %s: HasImportedKeys = %v with %d imported keys", step, ch.desc, name, s.HasImportedKeys(), len(imported))
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		prev, prevFull = next, nextFull
	}
	// No snapshot changed after it was built.
	for i, h := range history {
		if got := views(h.s, allIDs()); !reflect.DeepEqual(flatViews(got), flatViews(h.views)) {
			t.Fatalf("snapshot %d changed after later builds", i)
		}
	}
}

// flatViews renders views with pointed-to values (pointers differ between
// equal views of different snapshots, not within one).
func flatViews(m map[string]Key) map[string]string {
	out := map[string]string{}
	for id, k := range m {
		out[id] = fmt.Sprintf("%+v|%v|%v|%v|%s", k, k.ExpiresAt, k.RevokedAt, k.GraceUntil, k.Consumer.Name)
	}
	return out
}

// TestFullLoadDropsKeysGone: a full load over a previous snapshot drops
// the keys the store no longer streams (a row deleted by hand, a restored
// database), imported ones from the hash index too.
func TestFullLoadDropsKeysGone(t *testing.T) {
	d := keyData()
	prev, err := Build(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{"imported0001": true, "key_odd": true, "plainKey0001": true}
	kept := slices.DeleteFunc(slices.Clone(d.Keys), func(k domain.APIKey) bool { return gone[k.ID] })
	l := NewKeyLoader(prev, true)
	stream(t, l, kept)
	d2 := keyData()
	d2.Keys = nil
	next, err := Build(d2, Options{Keys: l})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range d.Keys {
		var v Key
		if found := next.LookupKey(k.ID, &v); found == gone[k.ID] {
			t.Errorf("key %s: found %v after the full load, want %v", k.ID, found, !gone[k.ID])
		}
		if !prev.LookupKey(k.ID, &v) {
			t.Errorf("the previous snapshot lost key %s", k.ID)
		}
	}
	if next.HasImportedKeys() || next.Counts()["keys"] != len(kept) {
		t.Errorf("HasImportedKeys %v, %d keys; want false, %d", next.HasImportedKeys(), next.Counts()["keys"], len(kept))
	}
}

// TestSingleKeyChangeCopiesOneShard: the next snapshot after one key
// change shares every shard but the key's with the previous one.
func TestSingleKeyChangeCopiesOneShard(t *testing.T) {
	d := manyKeys(t, 20_000)
	prev, err := Build(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc   string
		change func(k domain.APIKey) domain.APIKey
	}{
		{"revocation", func(k domain.APIKey) domain.APIKey { k.RevokedAt, k.RevokedReason = tp(0), "x"; return k }},
		{"new key", func(k domain.APIKey) domain.APIKey { k.ID, k.Hash = "brandNewKey1", hashOf("brand new"); return k }},
		{"unchanged key streamed again", func(k domain.APIKey) domain.APIKey { return k }},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			k := tc.change(d.Keys[123])
			l := NewKeyLoader(prev, false)
			stream(t, l, []domain.APIKey{k})
			rest := *d
			rest.Keys = nil
			next, err := Build(&rest, Options{Keys: l})
			if err != nil {
				t.Fatal(err)
			}
			copied := 0
			for i := range keyShards {
				if next.keys.shards[i] != prev.keys.shards[i] {
					copied++
				}
			}
			want := 1
			if tc.desc == "unchanged key streamed again" {
				want = 0
			}
			if copied != want {
				t.Errorf("%d of %d shards copied, want %d", copied, keyShards, want)
			}
			var v Key
			if !next.LookupKey(k.ID, &v) || (k.RevokedAt != nil) != (v.RevokedAt != nil) {
				t.Errorf("the change is not in the next snapshot: %+v", v)
			}
		})
	}
}

// TestConsumerChangesReachKeys: keys read their consumer (and, when they
// name no scopes, its scopes) through the snapshot's consumer table, so a
// consumer change needs no key streamed; a consumer that vanishes while a
// key refers to it fails the build.
func TestConsumerChangesReachKeys(t *testing.T) {
	d := keyData()
	prev, err := Build(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d2 := keyData()
	d2.Keys = nil
	d2.Consumers[0].Scopes, d2.Consumers[0].Name = []string{"renamed:scope"}, "shop-renamed"
	next, err := Build(d2, Options{Keys: NewKeyLoader(prev, false)})
	if err != nil {
		t.Fatal(err)
	}
	var k Key
	if !next.LookupKey("noScopes0001", &k) || k.Consumer.Name != "shop-renamed" || k.ScopeHeader != "renamed:scope" ||
		!slices.Equal(k.Scopes, []string{"renamed:scope"}) {
		t.Errorf("key without scopes after its consumer changed: consumer %q, scopes %q (%q)", k.Consumer.Name, k.Scopes, k.ScopeHeader)
	}
	if !next.LookupKey("plainKey0001", &k) || k.ScopeHeader != "orders:read" {
		t.Errorf("key with its own scopes: %q", k.ScopeHeader)
	}
	if !prev.LookupKey("noScopes0001", &k) || k.Consumer.Name != "shop" || k.ScopeHeader != "orders:read orders:write" {
		t.Errorf("the previous snapshot changed: consumer %q, scopes %q", k.Consumer.Name, k.ScopeHeader)
	}
	d3 := keyData()
	d3.Keys = nil
	d3.Consumers = d3.Consumers[1:] // c1 gone, its keys not
	if _, err := Build(d3, Options{Keys: NewKeyLoader(prev, false)}); err == nil || !strings.Contains(err.Error(), "refers to missing consumer c1") {
		t.Errorf("a vanished consumer with keys: err = %v", err)
	}
}

func TestLookupKeyDoesNotAllocate(t *testing.T) {
	s, err := Build(keyData(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var k Key
	sum := sha256.Sum256([]byte("legacy-key-0001"))
	cases := []struct {
		desc string
		fn   func() bool
	}{
		{"known id", func() bool { return s.LookupKey("revoked00001", &k) }},
		{"odd id", func() bool { return s.LookupKey("key_odd", &k) }},
		{"unknown id", func() bool { return !s.LookupKey("unknownKey01", &k) }},
		{"imported hash", func() bool { return s.LookupImportedKey(sum, &k) }},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if !tc.fn() {
				t.Fatal("wrong answer")
			}
			if n := testing.AllocsPerRun(1000, func() { tc.fn() }); n != 0 {
				t.Errorf("%v allocations per lookup", n)
			}
		})
	}
}

// manyKeys is n keys of 100 consumers in the shapes of bench/cmd/scale's
// mix (own scopes, some expiring, some revoked), ids as the admin API
// mints them.
func manyKeys(tb testing.TB, n int) *store.Data {
	tb.Helper()
	d := &store.Data{Version: 1, Tenants: []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}}}
	for i := range 100 {
		d.Consumers = append(d.Consumers, domain.Consumer{ID: fmt.Sprintf("con_%016d", i), TenantID: "t1", Name: fmt.Sprint(i),
			Status: domain.StatusActive, Scopes: []string{"orders:read", "orders:write"}})
	}
	gen := keyGen(1)
	d.Keys = make([]domain.APIKey, n)
	for i := range d.Keys {
		gen(&d.Keys[i], i, d.Consumers[i%100].ID)
		d.Keys[i].ID, d.Keys[i].Hash = strings.Clone(d.Keys[i].ID), strings.Clone(d.Keys[i].Hash)
		if d.Keys[i].ExpiresAt != nil {
			e := *d.Keys[i].ExpiresAt
			d.Keys[i].ExpiresAt = &e
		}
		if d.Keys[i].RevokedAt != nil {
			r := *d.Keys[i].RevokedAt
			d.Keys[i].RevokedAt = &r
		}
	}
	return d
}

// keyGen returns a generator that fills k as key i of consumer, reusing
// its buffers (ids, hashes and times are valid until the next call).
func keyGen(seed uint64) func(k *domain.APIKey, i int, consumer string) {
	rng := rand.New(rand.NewPCG(seed, 42))
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var id [12]byte
	var hash [64]byte
	var exp, rev time.Time
	scopes := []string{"orders:read", "orders:write"}
	return func(k *domain.APIKey, i int, consumer string) {
		for j := range id {
			id[j] = alphabet[rng.IntN(len(alphabet))]
		}
		sum := sha256.Sum256(id[:])
		hex.Encode(hash[:], sum[:])
		*k = domain.APIKey{ID: string(id[:]), ConsumerID: consumer, Environment: domain.EnvLive, Hash: string(hash[:]),
			Scopes: scopes, CreatedAt: k0}
		switch r := rng.IntN(100); {
		case r < 30:
			exp = k0.Add(time.Duration(rng.IntN(365*24)) * time.Hour)
			k.ExpiresAt = &exp
		case r < 35:
			rev = k0.Add(-time.Duration(rng.IntN(90*24)) * time.Hour)
			k.RevokedAt, k.RevokedReason = &rev, "compromised"
		}
	}
}

// benchKeys is GATEHOUSE_BENCH_KEYS, else def.
func benchKeys(def int) int {
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_KEYS")); err == nil && v > 0 {
		return v
	}
	return def
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkBuildKeys measures a first load of a million keys (issue 6's
// target; GATEHOUSE_BENCH_KEYS sets another count) streamed into a
// snapshot as a store streams them, and reports the live heap the
// snapshot holds per key (B/key) once the load's garbage is collected.
func BenchmarkBuildKeys(b *testing.B) {
	n := benchKeys(1_000_000)
	d := manyKeys(b, 0)
	b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
		var perKey float64
		for b.Loop() {
			b.StopTimer()
			before := heapInUse()
			b.StartTimer()
			l := NewKeyLoader(nil, true)
			l.Expect(n + n/20) // the PostgreSQL store's estimate has 5% headroom
			gen := keyGen(7)
			var k domain.APIKey
			for i := range n {
				gen(&k, i, d.Consumers[i%len(d.Consumers)].ID)
				if err := l.Put(&k); err != nil {
					b.Fatal(err)
				}
			}
			s, err := Build(d, Options{Keys: l})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			perKey = float64(heapInUse()-before) / float64(n)
			runtime.KeepAlive(s)
			b.StartTimer()
		}
		b.ReportMetric(perKey, "B/key")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
	})
}

// BenchmarkKeyChange measures the next snapshot after one key change on a
// snapshot of a million keys (what every admin change and every change
// feed notification costs a node, store reads aside).
func BenchmarkKeyChange(b *testing.B) {
	n := benchKeys(1_000_000)
	d := manyKeys(b, 0)
	l := NewKeyLoader(nil, true)
	gen := keyGen(7)
	var k domain.APIKey
	for i := range n {
		gen(&k, i, d.Consumers[i%len(d.Consumers)].ID)
		if err := l.Put(&k); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Build(d, Options{Keys: l})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		gen(&k, n+i, d.Consumers[i%len(d.Consumers)].ID)
		l := NewKeyLoader(s, false)
		if err := l.Put(&k); err != nil {
			b.Fatal(err)
		}
		if s, err = Build(d, Options{Keys: l}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupKey is the request path's lookup in a snapshot of a
// million keys.
func BenchmarkLookupKey(b *testing.B) {
	n := benchKeys(1_000_000)
	d := manyKeys(b, 0)
	l := NewKeyLoader(nil, true)
	gen := keyGen(7)
	ids := make([]string, 0, 1024)
	var k domain.APIKey
	for i := range n {
		gen(&k, i, d.Consumers[i%len(d.Consumers)].ID)
		if len(ids) < cap(ids) && i%(n/cap(ids)+1) == 0 {
			ids = append(ids, strings.Clone(k.ID))
		}
		if err := l.Put(&k); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Build(d, Options{Keys: l})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var v Key
	for i := 0; b.Loop(); i++ {
		if !s.LookupKey(ids[i%len(ids)], &v) {
			b.Fatal("not found")
		}
	}
}

// TestExpect: a size hint, right or wrong, changes nothing but memory, and
// the shards it sized but no key reached are not kept.
func TestExpect(t *testing.T) {
	d := keyData()
	for _, n := range []int{-1, 0, 3, len(d.Keys), 100_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			l := NewKeyLoader(nil, true)
			l.Expect(n)
			s, err := Build(d, Options{Keys: l})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range d.Keys {
				var got Key
				if !s.LookupKey(k.ID, &got) {
					t.Fatalf("key %s not found", k.ID)
				}
				sameKey(t, k.ID, got, wantKey(t, s, k))
			}
			used := 0
			for _, sh := range s.keys.shards {
				if sh != nil {
					used++
					if sh.len() == 0 {
						t.Error("an empty shard is kept")
					}
				}
			}
			if used == 0 || used > len(d.Keys) {
				t.Errorf("%d shards kept for %d keys", used, len(d.Keys))
			}
		})
	}
	t.Run("ignored with a base", func(t *testing.T) {
		prev, _ := Build(d, Options{})
		l := NewKeyLoader(prev, false)
		l.Expect(1_000_000)
		next, err := Build(&store.Data{Tenants: d.Tenants, Consumers: d.Consumers}, Options{Keys: l})
		if err != nil {
			t.Fatal(err)
		}
		if next.keys.shards != prev.keys.shards {
			t.Error("Expect on a loader with a base replaced its shards")
		}
	})
}
