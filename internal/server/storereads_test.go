package server

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// countingStore is the real SQLite store with a counter on every read the
// request path could make; call-log inserts are counted apart.
type countingStore struct {
	store.Store
	reads, inserts atomic.Int64
}

func (c *countingStore) Load(ctx context.Context) (*store.Data, error) {
	c.reads.Add(1)
	return c.Store.Load(ctx)
}

func (c *countingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	c.reads.Add(1)
	return c.Store.View(ctx, fn)
}

func (c *countingStore) Version(ctx context.Context) (int64, error) {
	c.reads.Add(1)
	return c.Store.Version(ctx)
}

func (c *countingStore) InsertCalls(ctx context.Context, calls []domain.Call) error {
	c.inserts.Add(1)
	return c.Store.InsertCalls(ctx, calls)
}

// Garbage keys, typo'd keys and well-formed unknown keys are rejected
// without a single store read: the request path reads only the snapshot.
func TestFloodsCostNoStoreRead(t *testing.T) {
	st, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	h := newHarnessWith(t, Options{Store: cs})
	w := h.newWorld("acme", nil, nil)
	_, good := h.newKey(w.consumer, nil)
	before := cs.reads.Load()
	unknown, _ := keys.Generate("live")
	for i := 0; i < 100; i++ {
		for _, k := range []string{"garbage", "gk_live_short", good[:len(good)-1] + "x", unknown.Full, good} {
			h.call("GET", "/acme/x", bearer(k)...)
		}
	}
	if n := cs.reads.Load() - before; n != 0 {
		t.Fatalf("%d store reads on the request path", n)
	}
	for i := 0; i < 200 && cs.inserts.Load() == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if cs.inserts.Load() == 0 {
		t.Fatal("the call log wrote nothing: the counter is not in the path")
	}
}
