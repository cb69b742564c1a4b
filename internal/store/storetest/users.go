package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// RunUsers runs the store.UserStore and store.UserTx part of the suite
// (user accounts, issue 9): a user round-trips every field, including the
// password hash JSON hides, the disabled time and a developer's consumer;
// it is found by id or username; a taken username conflicts naming it; a
// user's tenant and consumer must exist; writes in a View are refused;
// lists filter by tenant, consumer and username and page in id order.
// open is as for Run.
func RunUsers(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	us, ok := s.(store.UserStore)
	if !ok {
		t.Fatalf("%T does not implement store.UserStore", s)
	}
	seed(t, s)
	userTx := func(t *testing.T, tx store.Tx) store.UserTx {
		t.Helper()
		u, ok := tx.(store.UserTx)
		if !ok {
			t.Fatalf("%T does not implement store.UserTx", tx)
		}
		return u
	}
	put := func(u store.User) error {
		return s.Update(t.Context(), func(tx store.Tx) error { return userTx(t, tx).PutUser(t.Context(), u) })
	}
	get := func(ref string) (store.User, error) {
		var u store.User
		err := s.View(t.Context(), func(tx store.Tx) (err error) { u, err = userTx(t, tx).GetUser(t.Context(), ref); return err })
		return u, err
	}
	sameUser := func(what string, got, want store.User) {
		t.Helper()
		same(t, what, got, want)
		if got.PasswordHash != want.PasswordHash {
			t.Errorf("%s: password hash %q, want %q", what, got.PasswordHash, want.PasswordHash)
		}
	}
	alice := store.User{ID: "usr_1", Username: "alice", Role: domain.RoleAdmin, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA",
		PasswordSetAt: t0, CreatedAt: t0, UpdatedAt: t0}
	bob := store.User{ID: "usr_2", Username: "bob", Role: domain.RoleTenantAdmin, TenantID: "ten_1", PasswordHash: "$argon2id$bob",
		PasswordSetAt: t0, CreatedAt: t0, UpdatedAt: t0}
	carol := store.User{ID: "usr_3", Username: "carol", Role: domain.RoleViewer, PasswordHash: "$argon2id$carol",
		PasswordSetAt: t0, CreatedAt: t0, UpdatedAt: t0}
	// A developer account: bound to a consumer (and its tenant).
	dev := store.User{ID: "usr_4", Username: "dev@shop", Role: domain.RoleDeveloper, TenantID: "ten_1", ConsumerID: "con_1",
		PasswordHash: "$argon2id$dev", PasswordSetAt: t0, CreatedAt: t0, UpdatedAt: t0}
	for _, u := range []store.User{alice, bob, carol, dev} {
		if err := put(u); err != nil {
			t.Fatalf("PutUser(%s): %v", u.Username, err)
		}
	}
	t.Run("found by id and by username, every field", func(t *testing.T) {
		for _, c := range []struct {
			ref  string
			want store.User
		}{{"usr_2", bob}, {"bob", bob}, {"usr_4", dev}, {"dev@shop", dev}} {
			got, err := get(c.ref)
			if err != nil {
				t.Fatalf("GetUser(%q): %v", c.ref, err)
			}
			sameUser("GetUser("+c.ref+")", got, c.want)
		}
	})
	t.Run("an update replaces the hash and sets the disabled time", func(t *testing.T) {
		later := t0.Add(time.Hour)
		u := alice
		u.PasswordHash, u.PasswordSetAt, u.DisabledAt, u.UpdatedAt = "$argon2id$new", later, &later, later
		if err := put(u); err != nil {
			t.Fatal(err)
		}
		got, err := get("alice")
		if err != nil {
			t.Fatal(err)
		}
		sameUser("after update", got, u)
	})
	t.Run("refusals", func(t *testing.T) {
		cases := []struct {
			desc string
			err  func() error
			want error
			text string
		}{
			{"a taken username", func() error { u := carol; u.ID = "usr_9"; return put(u) }, store.ErrConflict, `"carol"`},
			{"a missing tenant", func() error { u := bob; u.ID, u.Username, u.TenantID = "usr_8", "dave", "ten_none"; return put(u) }, store.ErrNotFound, "ten_none"},
			{"a missing consumer", func() error { u := dev; u.ID, u.Username, u.ConsumerID = "usr_7", "erin", "con_none"; return put(u) }, store.ErrNotFound, "con_none"},
			{"an unknown user", func() error { _, err := get("nobody"); return err }, store.ErrNotFound, "nobody"},
			{"a write in a View", func() error {
				return s.View(t.Context(), func(tx store.Tx) error { return userTx(t, tx).PutUser(context.Background(), carol) })
			}, store.ErrReadOnly, ""},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				err := tc.err()
				if !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want %v", err, tc.want)
				}
				if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
					t.Errorf("error %q does not name %s", err, tc.text)
				}
			})
		}
	})
	t.Run("lists filter and page", func(t *testing.T) {
		cases := []struct {
			desc string
			f    store.ListFilter
			want []string
		}{
			{"everyone in id order", store.ListFilter{}, []string{"usr_1", "usr_2", "usr_3", "usr_4"}},
			{"by tenant", store.ListFilter{TenantID: "ten_1"}, []string{"usr_2", "usr_4"}},
			{"by consumer", store.ListFilter{ConsumerID: "con_1"}, []string{"usr_4"}},
			{"by username", store.ListFilter{Name: "carol"}, []string{"usr_3"}},
			{"second page", store.ListFilter{Page: store.Page{After: "usr_1", Limit: 1}}, []string{"usr_2"}},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				items, _, err := us.ListUsers(t.Context(), tc.f)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, u := range items {
					ids = append(ids, u.ID)
				}
				same(t, "ids", ids, tc.want)
			})
		}
		_, next, err := us.ListUsers(t.Context(), store.ListFilter{Page: store.Page{Limit: 2}})
		if err != nil || next != "usr_2" {
			t.Errorf("next %q, %v; want usr_2", next, err)
		}
	})
}
