package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// batchReader reads the results of a sent pgx.Batch, one query after
// the other in the order they were queued, through the querier
// interface. The scanning helpers (queryAll, streamKeys, loadAccess, …)
// were written for one statement per round trip; through a batchReader
// they read a pipelined load unchanged, rows still arriving as they are
// scanned.
//
// Every call names the statement it expects, and a statement that is
// not the one queued at that position is an error: results are matched
// by position only, so a load that queued its statements in another
// order than it reads them would otherwise scan one table's rows as
// another's, or blame the wrong table for a failure.
type batchReader struct {
	b    *pgx.Batch
	br   pgx.BatchResults
	next int
}

var _ querier = (*batchReader)(nil)

// step checks that sql is the next queued statement and moves past it.
func (r *batchReader) step(sql string) error {
	if r.next >= len(r.b.QueuedQueries) {
		return fmt.Errorf("postgres: batch: reading statement %d of %d queued: %.60q", r.next+1, len(r.b.QueuedQueries), sql)
	}
	queued := r.b.QueuedQueries[r.next].SQL
	r.next++
	if queued != sql {
		return fmt.Errorf("postgres: batch: statement %d read as %.60q but queued as %.60q", r.next, sql, queued)
	}
	return nil
}

// Exec reads the next result, which must be that of sql, as a command.
func (r *batchReader) Exec(_ context.Context, sql string, _ ...any) (pgconn.CommandTag, error) {
	if err := r.step(sql); err != nil {
		return pgconn.CommandTag{}, err
	}
	return r.br.Exec()
}

// Query reads the next result, which must be that of sql, as rows. The
// arguments were given when sql was queued; these are not looked at.
func (r *batchReader) Query(_ context.Context, sql string, _ ...any) (pgx.Rows, error) {
	if err := r.step(sql); err != nil {
		return nil, err
	}
	return r.br.Query()
}

// QueryRow is Query for a single row.
func (r *batchReader) QueryRow(_ context.Context, sql string, _ ...any) pgx.Row {
	if err := r.step(sql); err != nil {
		return errRow{err}
	}
	return r.br.QueryRow()
}

// done reports an error when a queued result was left unread: the load
// read less than it asked for, which is a bug in the load.
func (r *batchReader) done() error {
	if r.next != len(r.b.QueuedQueries) {
		return fmt.Errorf("postgres: batch: %d queued statements left unread", len(r.b.QueuedQueries)-r.next)
	}
	return nil
}

// errRow is a pgx.Row whose Scan fails with err.
type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }
