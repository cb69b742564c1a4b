package postgres

import (
	"context"
	"fmt"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

var _ store.IdentityKeyTx = (*tx)(nil)

const identityKeyCols = `kid, algorithm, public_key, private_key, state, created_at, retired_at, publish_until`

// identityKeyUpsert is computed once from the column list; never changed.
var identityKeyUpsert = upsertOnSQL("identity_keys", identityKeyCols, "kid")

// identityKeyList is newest first (store.IdentityKeyTx.ListIdentityKeys).
const identityKeyList = `SELECT ` + identityKeyCols + ` FROM identity_keys ORDER BY created_at DESC, kid DESC`

func scanIdentityKey(r rowScanner) (domain.IdentityKey, error) {
	var (
		k                 domain.IdentityKey
		created           int64
		retired, publishU *int64
	)
	if err := r.Scan(&k.KID, &k.Algorithm, &k.PublicKey, &k.PrivateKey, &k.State, &created, &retired, &publishU); err != nil {
		return k, err
	}
	k.CreatedAt, k.RetiredAt, k.PublishUntil = fromTm(created), fromTmOpt(retired), fromTmOpt(publishU)
	return k, nil
}

// ListIdentityKeys returns every key, newest first.
func (t *tx) ListIdentityKeys(ctx context.Context) ([]domain.IdentityKey, error) {
	if t.failed != nil {
		return nil, t.aborted()
	}
	keys, err := queryAll(ctx, t.q, scanIdentityKey, identityKeyList)
	if err != nil {
		return nil, wrapErr(ctx, "list identity keys", t.note(err))
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
	return t.put(ctx, "identity key", k.KID, func(c string) error {
		if c == "identity_keys_current" {
			return conflict("identity key %s: another key is already current (retire it first)", k.KID)
		}
		return otherUnique("identity key", c)
	}, identityKeyUpsert, k.KID, k.Algorithm, k.PublicKey, k.PrivateKey, k.State, tm(k.CreatedAt), tmOpt(k.RetiredAt), tmOpt(k.PublishUntil))
}

// DeleteIdentityKey removes a key.
func (t *tx) DeleteIdentityKey(ctx context.Context, kid string) error {
	if t.readOnly {
		return readOnly("delete identity key")
	}
	tag, err := t.exec(ctx, `DELETE FROM identity_keys WHERE kid = $1`, kid)
	if err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete identity key %s", kid), err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("identity key %q not found", kid)
	}
	return nil
}

// identityKeyLoads are loadIdentityKeys's statements, for Load to queue.
var identityKeyLoads = []string{identityKeyList}

// loadIdentityKeys fills d.IdentityKeys inside the load's transaction.
func loadIdentityKeys(ctx context.Context, q querier, d *store.Data) error {
	var err error
	if d.IdentityKeys, err = queryAll(ctx, q, scanIdentityKey, identityKeyList); err != nil {
		return wrapErr(ctx, "load identity keys", err)
	}
	return nil
}
