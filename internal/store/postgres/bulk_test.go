package postgres

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// TestCopyKeys: keys written by COPY read back exactly as PutKey's, in one
// version, visible to an incremental load; a conflict writes nothing.
func TestCopyKeys(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := putTenantTx(ctx, "ten_1", "acme")(tx); err != nil {
			return err
		}
		return tx.PutConsumer(ctx, domain.Consumer{ID: "con_1", TenantID: "ten_1", Name: "shop", Status: domain.StatusActive,
			CreatedAt: t0, UpdatedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(time.Hour)
	want := []domain.APIKey{
		{ID: "key_a", ConsumerID: "con_1", Environment: domain.EnvLive, Hash: "h_a", Last4: "aaaa", Scopes: []string{"orders:read"},
			CreatedAt: t0, ExpiresAt: &exp},
		{ID: "key_b", ConsumerID: "con_1", Environment: domain.EnvTest, Hash: "h_b", Last4: "bbbb", Scopes: []string{},
			IPAllow: []string{"10.0.0.0/8"}, Name: "ci", RevokedAt: &exp, RevokedReason: "lost", CreatedAt: t0},
	}
	v0, err := s.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CopyKeys(ctx, want); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Version(ctx); v != v0+1 {
		t.Errorf("version %d after CopyKeys, want %d (one bump)", v, v0+1)
	}
	d, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Keys) != 2 {
		t.Fatalf("%d keys loaded", len(d.Keys))
	}
	for i := range want {
		got, w := d.Keys[i], want[i]
		if got.ID != w.ID || got.Hash != w.Hash || got.Name != w.Name || got.Environment != w.Environment ||
			!slices.Equal(got.Scopes, w.Scopes) || (got.Scopes == nil) != (w.Scopes == nil) || !slices.Equal(got.IPAllow, w.IPAllow) ||
			(got.ExpiresAt == nil) != (w.ExpiresAt == nil) || (got.RevokedAt == nil) != (w.RevokedAt == nil) || got.RevokedReason != w.RevokedReason {
			t.Errorf("key %d: got %+v, want %+v", i, got, w)
		}
	}
	var since []string
	if _, err := s.LoadStream(ctx, store.LoadOptions{KeysSince: v0, Key: func(k *domain.APIKey) error {
		since = append(since, strings.Clone(k.ID))
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(since)
	if !slices.Equal(since, []string{"key_a", "key_b"}) {
		t.Errorf("keys since version %d: %v", v0, since)
	}
	dup := []domain.APIKey{{ID: "key_c", ConsumerID: "con_1", Environment: domain.EnvLive, Hash: "h_c", CreatedAt: t0},
		{ID: "key_d", ConsumerID: "con_1", Environment: domain.EnvLive, Hash: "h_a", CreatedAt: t0}}
	err = s.CopyKeys(ctx, dup)
	if !errors.Is(err, store.ErrConflict) || strings.Contains(err.Error(), "h_a") {
		t.Errorf("a taken hash: %v, want a conflict that does not echo the hash", err)
	}
	if d, _ := s.Load(ctx); len(d.Keys) != 2 {
		t.Errorf("a failed copy left %d keys, want 2", len(d.Keys))
	}
}
