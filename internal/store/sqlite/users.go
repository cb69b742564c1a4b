package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gatehouse/internal/store"
)

var (
	_ store.UserStore = (*Store)(nil)
	_ store.UserTx    = (*tx)(nil)
)

const userCols = `id, username, role, tenant_id, password_hash, password_set_at, disabled_at, created_at, updated_at, consumer_id`

func scanUser(r rowScanner) (store.User, error) {
	var (
		u                 store.User
		tenant, consumer  sql.NullString
		set, created, upd int64
		disabled          sql.NullInt64
	)
	if err := r.Scan(&u.ID, &u.Username, &u.Role, &tenant, &u.PasswordHash, &set, &disabled, &created, &upd, &consumer); err != nil {
		return u, err
	}
	u.TenantID, u.ConsumerID, u.PasswordSetAt, u.DisabledAt, u.CreatedAt, u.UpdatedAt = tenant.String, consumer.String, fromTm(set), fromTmOpt(disabled), fromTm(created), fromTm(upd)
	return u, nil
}

// GetUser finds a user by id or, failing that, by username.
func (t *tx) GetUser(ctx context.Context, ref string) (store.User, error) {
	nf := func() error { return notFound("user %q not found", ref) }
	u, err := getOne(ctx, t.q, scanUser, nf, `SELECT `+userCols+` FROM users WHERE id = ?`, ref)
	if errors.Is(err, store.ErrNotFound) {
		return getOne(ctx, t.q, scanUser, nf, `SELECT `+userCols+` FROM users WHERE username = ?`, ref)
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
		if err := requireParent(ctx, t.q, "tenants", "tenant", u.TenantID); err != nil {
			return err
		}
	}
	if u.ConsumerID != "" {
		if err := requireParent(ctx, t.q, "consumers", "consumer", u.ConsumerID); err != nil {
			return err
		}
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET username = excluded.username, role = excluded.role, tenant_id = excluded.tenant_id,
		password_hash = excluded.password_hash, password_set_at = excluded.password_set_at, disabled_at = excluded.disabled_at,
		created_at = excluded.created_at, updated_at = excluded.updated_at, consumer_id = excluded.consumer_id`,
		u.ID, u.Username, u.Role, nullStr(u.TenantID), u.PasswordHash, tm(u.PasswordSetAt), tmOpt(u.DisabledAt), tm(u.CreatedAt), tm(u.UpdatedAt), nullStr(u.ConsumerID))
	if isUnique(err) {
		return conflict("username %q", u.Username)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put user %q: %w", u.ID, err)
	}
	return nil
}

// ListUsers lists users in id order, filtered by TenantID, ConsumerID and
// username.
func (s *Store) ListUsers(ctx context.Context, f store.ListFilter) ([]store.User, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("consumer_id", f.ConsumerID)
	w.eq("username", f.Name)
	return listByID(ctx, s.r, userCols, "users", w.where, w.args, f.Page, scanUser,
		func(u store.User) string { return u.ID })
}
