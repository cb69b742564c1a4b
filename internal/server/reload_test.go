package server

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// streamingStore is the real SQLite store, recording every LoadStream
// (what it asked for, how many keys came) and able to play a store that
// went back in time or streams a bad key.
type streamingStore struct {
	*sqlite.Store
	mu    sync.Mutex
	loads []streamed
	// versionBehind makes the next incremental LoadStream report a version
	// older than asked for (a restored database).
	versionBehind bool
	// dropConsumers makes the next incremental LoadStream answer without
	// the consumers (which the keys of the snapshot refer to).
	dropConsumers bool
}

type streamed struct {
	since int64
	keys  int
}

func (s *streamingStore) LoadStream(ctx context.Context, opts store.LoadOptions) (*store.Data, error) {
	n := 0
	key := opts.Key
	opts.Key = func(k *domain.APIKey) error { n++; return key(k) }
	s.mu.Lock()
	behind, drop := s.versionBehind && opts.KeysSince > 0, s.dropConsumers && opts.KeysSince > 0
	if behind {
		s.versionBehind = false
	}
	if drop {
		s.dropConsumers = false
	}
	s.mu.Unlock()
	d, err := s.Store.LoadStream(ctx, opts)
	if err == nil && drop {
		d.Consumers = nil
	}
	if err == nil && behind {
		d.Version = opts.KeysSince - 1
	}
	s.mu.Lock()
	s.loads = append(s.loads, streamed{opts.KeysSince, n})
	s.mu.Unlock()
	return d, err
}

// take returns the loads since the last take.
func (s *streamingStore) take() []streamed {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.loads
	s.loads = nil
	return out
}

// newStreamingHarness runs a server on a streamingStore; path is its
// database file.
func newStreamingHarness(t *testing.T) (h *harness, ss *streamingStore, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "g.db")
	st, err := sqlite.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	ss = &streamingStore{Store: st}
	return newHarnessWith(t, Options{Store: ss}), ss, path
}

// TestReloadIsIncremental: after the first load, an admin change reloads
// only the keys it wrote, the change feed's echo of it reloads nothing,
// and every fullLoadEvery a reload streams every key again.
func TestReloadIsIncremental(t *testing.T) {
	h, ss, _ := newStreamingHarness(t)
	first := ss.take()
	if len(first) != 1 || first[0].since != 0 {
		t.Fatalf("node start: loads %+v, want one of every key", first)
	}
	w := h.newWorld("acme", nil, nil)
	for range 5 {
		h.newKey(w.consumer, nil)
	}
	ss.take()
	keyID, key := h.newKey(w.consumer, nil)
	snap := h.srv.Snapshot()
	if loads := ss.take(); len(loads) != 1 || loads[0].since != snap.Version-1 || loads[0].keys != 1 {
		t.Fatalf("a key creation: loads %+v, want one of the keys since version %d, streaming 1 key", loads, snap.Version-1)
	}
	if r := h.call("GET", "/acme/x", bearer(key)...); r.status != 200 {
		t.Fatalf("the new key: %d %s", r.status, r.raw)
	}
	h.mustAdmin("POST", "/admin/v1/keys/"+keyID+"/revoke", map[string]any{"reason": "test"})
	if loads := ss.take(); len(loads) != 1 || loads[0].keys != 1 {
		t.Fatalf("a revocation: loads %+v, want one streaming 1 key", loads)
	}
	if r := h.call("GET", "/acme/x", bearer(key)...); r.status != 401 || r.body["code"] != "key.revoked" {
		t.Fatalf("the revoked key: %d %s", r.status, r.raw)
	}
	// The change feed's notification of a change this node already
	// applied: the version has not moved, nothing is loaded.
	if err := h.srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if loads := ss.take(); len(loads) != 0 {
		t.Fatalf("a reload at the current version loaded %+v", loads)
	}
	keysBefore := h.srv.Snapshot().Counts()["keys"]
	h.clock.Advance(fullLoadEvery)
	h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": w.tenant, "name": "other"})
	if loads := ss.take(); len(loads) != 1 || loads[0].since != 0 || loads[0].keys != keysBefore {
		t.Fatalf("after %s: loads %+v, want one of all %d keys", fullLoadEvery, loads, keysBefore)
	}
	if !strings.Contains(h.logs.String(), "kind=full") {
		t.Error("the full load is not logged as such")
	}
	h.newKey(w.consumer, nil)
	if loads := ss.take(); len(loads) != 1 || loads[0].since == 0 {
		t.Fatalf("after the full load: loads %+v, want an incremental one again", loads)
	}
}

// TestReloadRecovers: a store whose version went backwards (restored) is
// read in full; an incremental build that fails is redone from nothing,
// and the node serves the store's state either way.
func TestReloadRecovers(t *testing.T) {
	h, ss, _ := newStreamingHarness(t)
	w := h.newWorld("acme", nil, nil)
	_, key := h.newKey(w.consumer, nil)
	ss.take()

	ss.mu.Lock()
	ss.versionBehind = true
	ss.mu.Unlock()
	_, key2 := h.newKey(w.consumer, nil)
	loads := ss.take()
	if len(loads) != 2 || loads[0].since == 0 || loads[1].since != 0 {
		t.Fatalf("a store behind the snapshot: loads %+v, want an incremental one, then one of every key", loads)
	}
	ss.mu.Lock()
	ss.dropConsumers = true
	ss.mu.Unlock()
	_, key3 := h.newKey(w.consumer, nil)
	loads = ss.take()
	if len(loads) != 2 || loads[0].since == 0 || loads[1].since != 0 {
		t.Fatalf("an incremental build that fails: loads %+v, want it, then one of every key", loads)
	}
	if !strings.Contains(h.logs.String(), "loading every key again") {
		t.Error("the failed update is not logged")
	}
	for _, k := range []string{key, key2, key3} {
		if r := h.call("GET", "/acme/x", bearer(k)...); r.status != 200 {
			t.Fatalf("key after recovery: %d %s", r.status, r.raw)
		}
	}
}

// TestFullLoadDropsDeletedKeys: a key row deleted by hand (no version
// bump, no change feed) stays served until the next full load, which
// drops it.
func TestFullLoadDropsDeletedKeys(t *testing.T) {
	h, _, path := newStreamingHarness(t)
	w := h.newWorld("acme", nil, nil)
	id, key := h.newKey(w.consumer, nil)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM api_keys WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": w.tenant, "name": "other"})
	if r := h.call("GET", "/acme/x", bearer(key)...); r.status != 200 {
		t.Fatalf("before the full load, the deleted key answers %d (an incremental load cannot see a deletion)", r.status)
	}
	h.clock.Advance(fullLoadEvery)
	h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": w.tenant, "name": "third"})
	if r := h.call("GET", "/acme/x", bearer(key)...); r.status != 401 || r.body["code"] != "key.unknown" {
		t.Fatalf("after the full load, the deleted key answers %d %s", r.status, r.raw)
	}
}
