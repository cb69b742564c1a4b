package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// testServiceIdentityJWT: a service's identity_jwt round-trips through
// PutService, GetService, ListServices and Load, and an update without it
// removes it.
func testServiceIdentityJWT(t *testing.T, s store.Store) {
	seed(t, s)
	cases := []struct {
		desc string
		cfg  *domain.IdentityJWT
	}{
		{"none stays nil", nil},
		{"enabled, every field", &domain.IdentityJWT{Enabled: true, Audience: "orders-api", TTL: domain.Duration(2 * time.Minute)}},
		{"disabled keeps its settings", &domain.IdentityJWT{Audience: "orders", TTL: domain.Duration(30 * time.Second)}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			sv := service("svc_1", "ten_1", "orders")
			sv.IdentityJWT = c.cfg
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutService(ctx, sv) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.GetService(ctx, sv.ID)
				same(t, "GetService", got, sv)
				return err
			})
			items, _, err := s.ListServices(t.Context(), store.ListFilter{})
			if err != nil || len(items) != 1 {
				t.Fatalf("ListServices: %d items, %v", len(items), err)
			}
			same(t, "ListServices", items[0], sv)
			d, err := s.Load(t.Context())
			if err != nil || len(d.Services) != 1 {
				t.Fatalf("Load: %v", err)
			}
			same(t, "Load", d.Services[0], sv)
		})
	}
}

// testIdentityKeys: identity keys round-trip every field, the sealed
// private key included (JSON hides it, the store must not); they list
// newest first; a second current key conflicts; retiring the current one
// and adding a new one in the same transaction works; deletion of a
// missing key is not found; a View refuses writes; Load carries them; and
// two concurrent "create the key if there is none" transactions leave one
// current key.
func testIdentityKeys(t *testing.T, s store.Store) {
	ktx := func(t *testing.T, tx store.Tx) store.IdentityKeyTx {
		t.Helper()
		k, ok := tx.(store.IdentityKeyTx)
		if !ok {
			t.Fatalf("%T does not implement store.IdentityKeyTx", tx)
		}
		return k
	}
	list := func(t *testing.T) []domain.IdentityKey {
		t.Helper()
		var keys []domain.IdentityKey
		view(t, s, func(ctx context.Context, tx store.Tx) (err error) {
			keys, err = ktx(t, tx).ListIdentityKeys(ctx)
			return err
		})
		return keys
	}
	sameKeys := func(t *testing.T, what string, got, want []domain.IdentityKey) {
		t.Helper()
		same(t, what, got, want)
		for i := range min(len(got), len(want)) {
			if got[i].PrivateKey != want[i].PrivateKey {
				t.Errorf("%s[%d]: private key %q, want %q", what, i, got[i].PrivateKey, want[i].PrivateKey)
			}
		}
	}
	first := domain.IdentityKey{KID: "kid-first", Algorithm: domain.IdentityKeyEdDSA, PublicKey: "pub-first",
		PrivateKey: "gs1:00000000:sealed-first", State: domain.IdentityKeyCurrent, CreatedAt: t0}
	t.Run("a key round-trips every field", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return ktx(t, tx).PutIdentityKey(ctx, first) })
		sameKeys(t, "ListIdentityKeys", list(t), []domain.IdentityKey{first})
	})
	t.Run("a second current key conflicts", func(t *testing.T) {
		other := first
		other.KID, other.CreatedAt = "kid-other", at(time.Minute)
		err := s.Update(t.Context(), func(tx store.Tx) error { return ktx(t, tx).PutIdentityKey(t.Context(), other) })
		wantErr(t, "second current key", err, store.ErrConflict, "kid-other", "already current")
		sameKeys(t, "after the conflict", list(t), []domain.IdentityKey{first})
	})
	second := domain.IdentityKey{KID: "kid-second", Algorithm: domain.IdentityKeyEdDSA, PublicKey: "pub-second",
		PrivateKey: "gs1:00000000:sealed-second", State: domain.IdentityKeyCurrent, CreatedAt: at(time.Hour)}
	retired := first
	retired.State, retired.RetiredAt, retired.PublishUntil = domain.IdentityKeyPrevious, ptr(at(time.Hour)), ptr(at(25*time.Hour))
	t.Run("rotation in one transaction: retire, then add", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			k := ktx(t, tx)
			if err := k.PutIdentityKey(ctx, retired); err != nil {
				return err
			}
			return k.PutIdentityKey(ctx, second)
		})
		sameKeys(t, "newest first", list(t), []domain.IdentityKey{second, retired})
		d, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, "Load", d.IdentityKeys, []domain.IdentityKey{second, retired})
	})
	t.Run("a View refuses writes", func(t *testing.T) {
		err := s.View(t.Context(), func(tx store.Tx) error { return ktx(t, tx).PutIdentityKey(t.Context(), first) })
		wantErr(t, "put in a View", err, store.ErrReadOnly)
		err = s.View(t.Context(), func(tx store.Tx) error { return ktx(t, tx).DeleteIdentityKey(t.Context(), first.KID) })
		wantErr(t, "delete in a View", err, store.ErrReadOnly)
	})
	t.Run("delete", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return ktx(t, tx).DeleteIdentityKey(ctx, retired.KID) })
		sameKeys(t, "after delete", list(t), []domain.IdentityKey{second})
		err := s.Update(t.Context(), func(tx store.Tx) error { return ktx(t, tx).DeleteIdentityKey(t.Context(), "kid-missing") })
		wantErr(t, "delete a missing key", err, store.ErrNotFound, "kid-missing")
	})
	t.Run("concurrent create-if-missing leaves one current key", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return ktx(t, tx).DeleteIdentityKey(ctx, second.KID) })
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Update(t.Context(), func(tx store.Tx) error {
					k := ktx(t, tx)
					keys, err := k.ListIdentityKeys(t.Context())
					if err != nil || len(keys) > 0 {
						return err
					}
					return k.PutIdentityKey(t.Context(), domain.IdentityKey{KID: "kid-race-" + string(rune('a'+i)),
						Algorithm: domain.IdentityKeyEdDSA, PublicKey: "p", PrivateKey: "s", State: domain.IdentityKeyCurrent, CreatedAt: t0})
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("transaction %d: %v", i, err)
			}
		}
		if keys := list(t); len(keys) != 1 {
			t.Errorf("%d keys after concurrent creation, want 1: %+v", len(keys), keys)
		}
	})
}
