package postgres

import (
	"context"
	"errors"

	"gatehouse/internal/store"
)

var (
	_ store.UserStore = (*Store)(nil)
	_ store.UserTx    = (*tx)(nil)
)

const userCols = `id, username, role, tenant_id, password_hash, password_set_at, disabled_at, created_at, updated_at, consumer_id`

// userUpsert is computed once from the column list; never changed.
var userUpsert = upsertSQL("users", userCols)

func scanUser(r rowScanner) (store.User, error) {
	var (
		u                 store.User
		tenant, consumer  *string
		set, created, upd int64
		disabled          *int64
	)
	if err := r.Scan(&u.ID, &u.Username, &u.Role, &tenant, &u.PasswordHash, &set, &disabled, &created, &upd, &consumer); err != nil {
		return u, err
	}
	u.TenantID, u.ConsumerID, u.PasswordSetAt, u.DisabledAt, u.CreatedAt, u.UpdatedAt = deref(tenant), deref(consumer), fromTm(set), fromTmOpt(disabled), fromTm(created), fromTm(upd)
	return u, nil
}

// GetUser finds a user by id or, failing that, by username.
func (t *tx) GetUser(ctx context.Context, ref string) (store.User, error) {
	nf := func() error { return notFound("user %q not found", ref) }
	u, err := getOne(ctx, t, scanUser, nf, `SELECT `+userCols+` FROM users WHERE id = $1`, ref)
	if errors.Is(err, store.ErrNotFound) {
		return getOne(ctx, t, scanUser, nf, `SELECT `+userCols+` FROM users WHERE username = $1`, ref)
	}
	return u, err
}

// PutUser inserts or replaces the user with this ID.
func (t *tx) PutUser(ctx context.Context, u store.User) error {
	if t.readOnly {
		return readOnly("put user")
	}
	if err := requireID("user", u.ID); err != nil {
		return err
	}
	if u.TenantID != "" {
		if err := t.requireParent(ctx, "tenants", "tenant", u.TenantID); err != nil {
			return err
		}
	}
	if u.ConsumerID != "" {
		if err := t.requireParent(ctx, "consumers", "consumer", u.ConsumerID); err != nil {
			return err
		}
	}
	return t.put(ctx, "user", u.ID, func(c string) error {
		if c == "users_username" {
			return conflict("username %q", u.Username)
		}
		return otherUnique("user", c)
	}, userUpsert, u.ID, u.Username, u.Role, nullStr(u.TenantID), u.PasswordHash, tm(u.PasswordSetAt), tmOpt(u.DisabledAt),
		tm(u.CreatedAt), tm(u.UpdatedAt), nullStr(u.ConsumerID))
}

// ListUsers lists users in id order, filtered by TenantID, ConsumerID and
// username.
func (s *Store) ListUsers(ctx context.Context, f store.ListFilter) ([]store.User, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("consumer_id", f.ConsumerID)
	w.eq("username", f.Name)
	return listByID(ctx, s, userCols, "users", w, f.Page, scanUser,
		func(u store.User) string { return u.ID })
}
