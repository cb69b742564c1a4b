package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/internal/store"
)

// ErrUnavailable is returned (wrapped) when PostgreSQL cannot be reached or
// did not answer within the store's timeouts: a refused or reset
// connection, a dial or query timeout, a server shutting down. Callers on
// the serving path treat it as "degraded, keep the last snapshot" rather
// than as a bad request. It is store.ErrUnavailable, so that code that
// knows only the store interface (the call-log writer) recognises it too.
var ErrUnavailable = store.ErrUnavailable

// querier is what *pgxpool.Pool, *pgxpool.Conn and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// rowScanner is what pgx.Row and pgx.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// kindError carries a human message (naming the object or field) and the
// store sentinel it stands for, so callers can both errors.Is it and show
// its text as is. The messages are the embedded store's, word for word.
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

// SQLSTATE codes the store interprets.
const (
	codeUniqueViolation   = "23505"
	codeCheckViolation    = "23514" // also "no partition of relation found for row"
	codeDuplicateTable    = "42P07"
	codeInvalidObjectDef  = "42P17" // "partition would overlap"
	codeUndefinedTable    = "42P01"
	codeQueryCanceled     = "57014"
	codeAdminShutdown     = "57P01"
	codeCrashShutdown     = "57P02"
	codeCannotConnectNow  = "57P03"
	codeTooManyConns      = "53300"
	classConnectionErrors = "08"
)

// uniqueConstraint returns the constraint (index) name of a unique
// violation, or "" when err is not one. Conflicts are mapped by name, so
// a message names the field that really collided, not a guess.
func uniqueConstraint(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeUniqueViolation {
		return pe.ConstraintName
	}
	return ""
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// unavailable reports whether err means the database could not be reached
// or did not answer in time (as opposed to refusing a statement).
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, classConnectionErrors),
			pe.Code == codeAdminShutdown, pe.Code == codeCrashShutdown, pe.Code == codeCannotConnectNow,
			pe.Code == codeTooManyConns, pe.Code == codeQueryCanceled:
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, pgconn.ErrConnClosed)
}

// wrapErr prefixes err with "postgres: what: " and marks it ErrUnavailable
// when the database could not be reached, so one errors.Is tells the
// serving path to keep its snapshot. A caller's own cancellation is passed
// through unmarked.
func wrapErr(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() == context.Canceled {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	if unavailable(err) {
		return fmt.Errorf("postgres: %s: %w: %w", what, ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// Times are stored as BIGINT unix microseconds and come back in UTC, so a
// value round-trips exactly once truncated to the microsecond (the
// portable schema's rule, shared with the embedded store).

func tm(t time.Time) int64 { return t.UnixMicro() }

func tmOpt(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromTm(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromTmOpt(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromTm(*v)
	return &t
}

// enc writes v as JSON. nil slices and maps become "null" and empty ones
// "[]"/"{}", so the distinction survives the round trip.
func enc(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("postgres: encode %T: %w", v, err)
	}
	return string(b), nil
}

func dec(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("postgres: decode %T: %w", v, err)
	}
	return nil
}

// enc3 encodes up to three values as JSON (a nil interface is skipped).
func enc3(a, b, c any) (string, string, string, error) {
	var out [3]string
	for i, v := range [3]any{a, b, c} {
		if v == nil {
			continue
		}
		s, err := enc(v)
		if err != nil {
			return "", "", "", err
		}
		out[i] = s
	}
	return out[0], out[1], out[2], nil
}

// encOpt encodes v as JSON, or NULL when v is a nil pointer (an optional
// nested object such as a route's rate limit).
func encOpt[T any](v *T) (any, error) {
	if v == nil {
		return nil, nil
	}
	return enc(v)
}

// decOpt decodes an optional JSON column into a pointer (nil for NULL).
func decOpt[T any](v *string, dst **T) error {
	*dst = nil
	if v == nil {
		return nil
	}
	var x T
	if err := dec(*v, &x); err != nil {
		return err
	}
	*dst = &x
	return nil
}

// decAll decodes pairs of (json text, destination).
func decAll(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		src, ok := pairs[i].(string)
		if !ok {
			return fmt.Errorf("postgres: decAll: argument %d is %T, want string", i, pairs[i])
		}
		if err := dec(src, pairs[i+1]); err != nil {
			return err
		}
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

func fromRawOpt(v *string) json.RawMessage {
	if v == nil {
		return nil
	}
	return json.RawMessage(*v)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
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

// splitCols turns a column list constant into names.
func splitCols(cols string) []string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// placeholders returns "$1, $2, …, $n".
func placeholders(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}

// upsertSQL builds "INSERT INTO table (cols) VALUES ($1…) ON CONFLICT (id)
// DO UPDATE SET every other column = excluded.column" from one column list,
// so a column cannot be inserted and forgotten in the update.
func upsertSQL(table, cols string) string { return upsertOnSQL(table, cols, "id") }

// upsertOnSQL is upsertSQL with another conflict (key) column.
func upsertOnSQL(table, cols, key string) string {
	names := splitCols(cols)
	sets := make([]string, 0, len(names))
	for _, n := range names {
		if n != key {
			sets = append(sets, n+" = excluded."+n)
		}
	}
	return `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `) VALUES (` + placeholders(len(names)) +
		`) ON CONFLICT (` + key + `) DO UPDATE SET ` + strings.Join(sets, ", ")
}
