package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// RunKeyStream checks store.KeyStreamer: LoadStream streams exactly the
// keys Load returns (and the same rest of Data), and with KeysSince only
// the keys written by later changes, whatever else those changes did.
// open must return a new, empty, migrated store each call.
func RunKeyStream(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.KeyStreamer, st store.Store)
	}{
		{"AllKeysAsLoad", testStreamAll},
		{"KeysSince", testStreamSince},
		{"CallbackError", testStreamError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			ks, ok := st.(store.KeyStreamer)
			if !ok {
				t.Fatalf("%T does not implement store.KeyStreamer", st)
			}
			tc.fn(t, ks, st)
		})
	}
}

// stream runs LoadStream and returns Data with the streamed keys copied
// (the store may reuse what it hands over) and sorted by id.
func stream(t *testing.T, s store.KeyStreamer, since int64) (*store.Data, []domain.APIKey) {
	t.Helper()
	var got []domain.APIKey
	d, err := s.LoadStream(t.Context(), store.LoadOptions{KeysSince: since, Key: func(k *domain.APIKey) error {
		got = append(got, copyKey(k))
		return nil
	}})
	if err != nil {
		t.Fatalf("LoadStream(since %d): %v", since, err)
	}
	if d.Keys != nil {
		t.Errorf("LoadStream filled Data.Keys (%d keys): keys go to the callback only", len(d.Keys))
	}
	slices.SortFunc(got, func(a, b domain.APIKey) int { return strings.Compare(a.ID, b.ID) })
	return d, got
}

// copyKey is a deep copy of k that shares no memory with it.
func copyKey(k *domain.APIKey) domain.APIKey {
	c := *k
	c.ID, c.Hash, c.Name, c.Last4, c.Predecessor = strings.Clone(k.ID), strings.Clone(k.Hash), strings.Clone(k.Name),
		strings.Clone(k.Last4), strings.Clone(k.Predecessor)
	for _, p := range []**time.Time{&c.ExpiresAt, &c.RevokedAt, &c.GraceUntil, &c.LastUsedAt} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return c
}

func streamIDs(keys []domain.APIKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

func testStreamAll(t *testing.T, s store.KeyStreamer, st store.Store) {
	seed(t, st)
	full := key("key_full", "con_1")
	full.Name, full.Imported, full.IPAllow = "ci", true, []string{"10.0.0.0/8"}
	full.ExpiresAt, full.RevokedAt, full.GraceUntil, full.LastUsedAt = ptr(at(time.Hour)), ptr(at(2*time.Hour)), ptr(at(3*time.Hour)), ptr(at(time.Minute))
	full.RevokedReason, full.Successor, full.Predecessor = "compromised", "key_next", "key_prev"
	noScopes := key("key_none", "con_1")
	noScopes.Scopes = nil
	update(t, st, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.PutKey(ctx, key("key_1", "con_1")), tx.PutKey(ctx, full), tx.PutKey(ctx, noScopes),
			tx.PutKey(ctx, key("key_2", "con_1")))
	})
	want, err := st.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	d, got := stream(t, s, 0)
	same(t, "streamed keys (since 0) versus Load's keys", got, want.Keys)
	d.Keys, want.Keys = nil, nil
	same(t, "the rest of LoadStream's Data versus Load's", *d, *want)
}

func testStreamSince(t *testing.T, s store.KeyStreamer, st store.Store) {
	seed(t, st)
	update(t, st, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.PutKey(ctx, key("key_1", "con_1")), tx.PutKey(ctx, key("key_2", "con_1")))
	})
	revoked := key("key_1", "con_1")
	revoked.RevokedAt, revoked.RevokedReason = ptr(at(time.Hour)), "lost"
	rotated, successor := key("key_2", "con_1"), key("key_3", "con_1")
	rotated.Successor, rotated.GraceUntil, successor.Predecessor = "key_3", ptr(at(time.Hour)), "key_2"
	steps := []struct {
		desc   string
		change func(ctx context.Context, tx store.Tx) error // nil: no Update
		touch  bool
		want   []string
	}{
		{"no change since: nothing", nil, false, []string{}},
		{"a created key", func(ctx context.Context, tx store.Tx) error { return tx.PutKey(ctx, key("key_9", "con_1")) }, false,
			[]string{"key_9"}},
		{"a revoked key (an update of its row)", func(ctx context.Context, tx store.Tx) error { return tx.PutKey(ctx, revoked) }, false,
			[]string{"key_1"}},
		{"a rotation: both keys of one change", func(ctx context.Context, tx store.Tx) error {
			return errors.Join(tx.PutKey(ctx, rotated), tx.PutKey(ctx, successor))
		}, false, []string{"key_2", "key_3"}},
		{"a change of a consumer only: no key", func(ctx context.Context, tx store.Tx) error {
			c := consumer("con_1", "ten_1", "shop")
			c.Scopes = []string{"orders:write"}
			return tx.PutConsumer(ctx, c)
		}, false, []string{}},
		{"last-used times are not changes", nil, true, []string{}},
	}
	for _, step := range steps {
		before := version(t, st)
		if step.change != nil {
			update(t, st, step.change)
		}
		if step.touch {
			if err := st.TouchKeys(t.Context(), map[string]time.Time{"key_1": at(time.Minute), "key_9": at(time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		d, got := stream(t, s, before)
		if ids := streamIDs(got); !slices.Equal(ids, step.want) {
			t.Errorf("%s: keys since version %d = %v, want %v", step.desc, before, ids, step.want)
		}
		if d.Version != version(t, st) {
			t.Errorf("%s: Data.Version %d, store at %d", step.desc, d.Version, version(t, st))
		}
		// What is streamed is the key as it is now.
		for _, k := range got {
			var stored domain.APIKey
			view(t, st, func(ctx context.Context, tx store.Tx) (err error) { stored, err = tx.GetKey(ctx, k.ID); return err })
			same(t, step.desc+": streamed "+k.ID, k, stored)
		}
	}
	// Since an old version: every key written after it, once each.
	_, got := stream(t, s, 1)
	if ids := streamIDs(got); !slices.Equal(ids, []string{"key_1", "key_2", "key_3", "key_9"}) {
		t.Errorf("keys since version 1 = %v", ids)
	}
}

func testStreamError(t *testing.T, s store.KeyStreamer, st store.Store) {
	seed(t, st)
	update(t, st, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.PutKey(ctx, key("key_1", "con_1")), tx.PutKey(ctx, key("key_2", "con_1")))
	})
	stop := errors.New("snapshot says no")
	calls := 0
	_, err := s.LoadStream(t.Context(), store.LoadOptions{Key: func(*domain.APIKey) error { calls++; return stop }})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("LoadStream with a failing callback: error %v after %d calls, want the callback's error after 1", err, calls)
	}
	if _, err := s.LoadStream(t.Context(), store.LoadOptions{}); err == nil {
		t.Error("LoadStream without a Key callback succeeded")
	}
}
