package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/domain"
)

// CopyKeys inserts keys with COPY in one transaction that bumps the
// version once (with its NOTIFY, so every node picks them up), for bulk
// imports: bench/cmd/scale writes a million keys with it. Rows are encoded
// exactly as PutKey encodes them (keyArgs). Unlike Update it writes no
// audit entry and checks no parent: a missing consumer or a taken id or
// hash fails the whole copy (nothing is written).
func (s *Store) CopyKeys(ctx context.Context, keys []domain.APIKey) error {
	ctx, cancel := opCtx(ctx, s.opts.LoadTimeout)
	defer cancel()
	ptx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrapErr(ctx, "copy keys: begin", err)
	}
	defer func() { _ = ptx.Rollback(context.WithoutCancel(ctx)) }()
	var v int64
	if err := ptx.QueryRow(ctx, `UPDATE meta SET value = value + 1 WHERE key = 'version' RETURNING value`).Scan(&v); err != nil {
		return wrapErr(ctx, "copy keys: bump version", err)
	}
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(keys) {
			return nil, nil
		}
		args, err := keyArgs(&keys[i], v)
		i++
		return args, err
	})
	if _, err := ptx.CopyFrom(ctx, pgx.Identifier{"api_keys"}, splitCols(keyWriteCols), src); err != nil {
		if c := uniqueConstraint(err); c != "" {
			return keyConflict(c)
		}
		return wrapErr(ctx, fmt.Sprintf("copy %d keys", len(keys)), err)
	}
	if _, err := ptx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, strconv.FormatInt(v, 10)); err != nil {
		return wrapErr(ctx, "copy keys: notify", err)
	}
	if err := ptx.Commit(ctx); err != nil {
		return wrapErr(ctx, "copy keys: commit", err)
	}
	return nil
}
