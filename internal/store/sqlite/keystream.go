package sqlite

import (
	"context"
	"database/sql"

	"gatehouse/internal/store"
)

// streamKeys hands every key (or those of versions after opts.KeysSince)
// to opts.Key as it is read, in no order: the snapshot needs none.
func streamKeys(ctx context.Context, q *sql.Tx, opts store.LoadOptions) error {
	query, args := `SELECT `+keyCols+` FROM api_keys`, []any(nil)
	if opts.KeysSince > 0 {
		query, args = query+` WHERE version > ?`, []any{opts.KeysSince}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return err
		}
		if err := opts.Key(&k); err != nil {
			return err
		}
	}
	return rows.Err()
}
