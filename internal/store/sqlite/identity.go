package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

var _ store.IdentityKeyTx = (*tx)(nil)

const identityKeyCols = `kid, algorithm, public_key, private_key, state, created_at, retired_at, publish_until`

// identityKeyOrder is newest first (store.IdentityKeyTx.ListIdentityKeys).
const identityKeyOrder = ` ORDER BY created_at DESC, kid DESC`

func scanIdentityKey(r rowScanner) (domain.IdentityKey, error) {
	var (
		k                 domain.IdentityKey
		created           int64
		retired, publishU sql.NullInt64
	)
	if err := r.Scan(&k.KID, &k.Algorithm, &k.PublicKey, &k.PrivateKey, &k.State, &created, &retired, &publishU); err != nil {
		return k, err
	}
	k.CreatedAt, k.RetiredAt, k.PublishUntil = fromTm(created), fromTmOpt(retired), fromTmOpt(publishU)
	return k, nil
}

// ListIdentityKeys returns every key, newest first.
func (t *tx) ListIdentityKeys(ctx context.Context) ([]domain.IdentityKey, error) {
	keys, err := queryAll(ctx, t.q, scanIdentityKey, `SELECT `+identityKeyCols+` FROM identity_keys`+identityKeyOrder)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list identity keys: %w", err)
	}
	return keys, nil
}

// PutIdentityKey inserts or replaces the key with this kid.
func (t *tx) PutIdentityKey(ctx context.Context, k domain.IdentityKey) error {
	if t.readOnly {
		return readOnly("put identity key")
	}
	if err := requireID("identity key", k.KID); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO identity_keys (`+identityKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kid) DO UPDATE SET algorithm = excluded.algorithm, public_key = excluded.public_key,
		private_key = excluded.private_key, state = excluded.state, created_at = excluded.created_at,
		retired_at = excluded.retired_at, publish_until = excluded.publish_until`,
		k.KID, k.Algorithm, k.PublicKey, k.PrivateKey, k.State, tm(k.CreatedAt), tmOpt(k.RetiredAt), tmOpt(k.PublishUntil))
	if isUnique(err) {
		return conflict("identity key %s: another key is already current (retire it first)", k.KID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put identity key %s: %w", k.KID, err)
	}
	return nil
}

// DeleteIdentityKey removes a key.
func (t *tx) DeleteIdentityKey(ctx context.Context, kid string) error {
	if t.readOnly {
		return readOnly("delete identity key")
	}
	res, err := t.q.ExecContext(ctx, `DELETE FROM identity_keys WHERE kid = ?`, kid)
	if err != nil {
		return fmt.Errorf("sqlite: delete identity key %s: %w", kid, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: delete identity key %s: %w", kid, err)
	}
	if n == 0 {
		return notFound("identity key %q not found", kid)
	}
	return nil
}

// loadIdentityKeys fills d.IdentityKeys inside the load's transaction.
func loadIdentityKeys(ctx context.Context, q querier, d *store.Data) error {
	var err error
	if d.IdentityKeys, err = queryAll(ctx, q, scanIdentityKey, `SELECT `+identityKeyCols+` FROM identity_keys`+identityKeyOrder); err != nil {
		return fmt.Errorf("sqlite: load identity keys: %w", err)
	}
	return nil
}
