package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"gatehouse/internal/store"
)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// kindError carries a human message (naming the object or field) and the
// store sentinel it stands for, so callers can both errors.Is it and show
// its text as is.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func notFound(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: store.ErrNotFound}
}

func conflict(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: store.ErrConflict}
}

func readOnly(op string) error {
	return &kindError{msg: op + ": not allowed in a read-only (View) transaction", kind: store.ErrReadOnly}
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// Times are stored as BIGINT unix microseconds and come back in UTC, so a
// value round-trips exactly once truncated to the microsecond.

func tm(t time.Time) int64 { return t.UnixMicro() }

func tmOpt(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromTm(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromTmOpt(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromTm(v.Int64)
	return &t
}

// enc writes v as JSON. nil slices and maps become "null" and empty ones
// "[]"/"{}", so the distinction survives the round trip.
func enc(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlite: encode %T: %w", v, err)
	}
	return string(b), nil
}

func dec(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("sqlite: decode %T: %w", v, err)
	}
	return nil
}

// nullStr maps "" to NULL (optional references such as an admin's tenant).
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// rawOpt maps an empty json.RawMessage to NULL.
func rawOpt(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func fromRawOpt(v sql.NullString) json.RawMessage {
	if !v.Valid {
		return nil
	}
	return json.RawMessage(v.String)
}

// Page sizes: 0 (or less) means the default, more than max is capped.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return defaultLimit
	case n > maxLimit:
		return maxLimit
	}
	return n
}
