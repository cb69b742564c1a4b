package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/jackc/pgx/v5/pgtype"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// Load reads every key of the cluster (a million, in the target)
// at node start and on every resync; these helpers keep that read lean.
// Single-row reads use them too, with a nil interner.

// interner hands out one string per distinct value within a Load, for
// columns with few distinct values (a key's consumer and environment,
// scope names): the snapshot keeps one copy instead of one per key, and a
// value already seen costs no allocation. A nil interner copies.
type interner map[string]string

func (in interner) of(b []byte) string {
	if in == nil {
		return string(b)
	}
	if s, ok := in[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// decStrings decodes a JSON array of strings (or null) as the encoder
// wrote it. The common shape, ["a","b"] with no escapes, is split in
// place; anything else goes through encoding/json, so the result is the
// same either way.
func decStrings(b []byte, in interner) ([]string, error) {
	switch string(b) {
	case "null":
		return nil, nil
	case "[]":
		return []string{}, nil
	}
	if out, ok := splitSimple(b, in); ok {
		return out, nil
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("postgres: decode []string: %w", err)
	}
	for i, s := range out {
		out[i] = in.of([]byte(s))
	}
	return out, nil
}

// splitSimple splits ["a","b",…] whose strings hold no escape, quote or
// control character; ok is false for any other input.
func splitSimple(b []byte, in interner) ([]string, bool) {
	if len(b) < 4 || b[0] != '[' || b[1] != '"' || b[len(b)-2] != '"' || b[len(b)-1] != ']' {
		return nil, false
	}
	body := b[2 : len(b)-2]
	for _, c := range body {
		if c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	if !utf8.Valid(body) { // encoding/json would substitute U+FFFD
		return nil, false
	}
	sep := []byte(`","`)
	out := make([]string, 0, bytes.Count(body, sep)+1)
	for {
		part, rest, more := bytes.Cut(body, sep)
		if bytes.IndexByte(part, '"') >= 0 {
			return nil, false
		}
		out = append(out, in.of(part))
		if !more {
			return out, true
		}
		body = rest
	}
}

// decLabels decodes a JSON object of strings (or null) as the encoder
// wrote it (a consumer's labels): the common shape, {"k":"v",…} with no
// escapes, is split in place with keys and values interned; anything else
// goes through encoding/json, so the result is the same either way. A
// reload reads every consumer, and encoding/json's reflection was a third
// of that reload's CPU.
func decLabels(b []byte, in interner) (map[string]string, error) {
	switch string(b) {
	case "null":
		return nil, nil
	case "{}":
		return map[string]string{}, nil
	}
	if m, ok := splitLabels(b, in); ok {
		return m, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("postgres: decode map[string]string: %w", err)
	}
	return m, nil
}

// splitLabels splits {"k":"v",…} whose strings hold no escape or control
// character and which has no white space; ok is false for any other input.
func splitLabels(b []byte, in interner) (map[string]string, bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	for _, c := range b {
		if c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	if !utf8.Valid(b) { // encoding/json would substitute U+FFFD
		return nil, false
	}
	body := b[1 : len(b)-1]
	m := make(map[string]string, bytes.Count(body, []byte(`":"`)))
	for {
		k, rest, ok := quoted(body)
		if !ok || len(rest) == 0 || rest[0] != ':' {
			return nil, false
		}
		v, rest, ok := quoted(rest[1:])
		if !ok {
			return nil, false
		}
		m[in.of(k)] = in.of(v)
		if len(rest) == 0 {
			return m, true
		}
		if rest[0] != ',' {
			return nil, false
		}
		body = rest[1:]
	}
}

// quoted splits "…"rest (no escapes inside).
func quoted(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != '"' {
		return nil, nil, false
	}
	i := bytes.IndexByte(b[1:], '"')
	if i < 0 {
		return nil, nil, false
	}
	return b[1 : 1+i], b[2+i:], true
}

// fromInt8 is fromTmOpt for a scanned nullable BIGINT.
func fromInt8(v pgtype.Int8) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromTm(v.Int64)
	return &t
}

// streamKeys hands every key (or those of versions after opts.KeysSince)
// to opts.Key as it is read, in no order: the snapshot needs none, and
// ORDER BY id would sort a million rows.
func streamKeys(ctx context.Context, q querier, in interner, opts store.LoadOptions) error {
	query, args := streamKeysQuery(opts)
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	scan := scanKeyStream(in)
	for rows.Next() {
		k, err := scan(rows)
		if err != nil {
			return err
		}
		if err := opts.Key(k); err != nil {
			return err
		}
	}
	return rows.Err()
}

// streamKeysQuery is streamKeys's statement and its arguments.
func streamKeysQuery(opts store.LoadOptions) (string, []any) {
	query := `SELECT ` + keyCols + ` FROM api_keys`
	if opts.KeysSince > 0 {
		return query + ` WHERE version > $1`, []any{opts.KeysSince}
	}
	return query, nil
}

// scanKeyStream is scanKeyWith for streaming, allocating nothing per row
// for what the snapshot does not keep: the returned key is the same value
// every row, its ID, Hash, Name, Last4 and Predecessor alias the driver's
// buffer of the current row, and its times point into the reused row
// (the contract of store.LoadOptions.Key). Consumer, environment and
// scopes are interned; revocation reason and successor are plain strings
// (empty for nearly every key, which costs no allocation).
func scanKeyStream(in interner) func(rowScanner) (*domain.APIKey, error) {
	var row struct {
		k                                        domain.APIKey
		id, hash, name, last4, predecessor       pgtype.DriverBytes
		consumer, env, scopes, ipAllow           pgtype.DriverBytes
		expires, revoked, grace, lastUsed        pgtype.Int8
		created                                  int64
		expiresAt, revokedAt, graceUntil, usedAt time.Time
	}
	dest := []any{&row.id, &row.consumer, &row.name, &row.env, &row.hash, &row.last4, &row.k.Imported,
		&row.scopes, &row.ipAllow, &row.expires, &row.revoked, &row.k.RevokedReason, &row.k.Successor, &row.grace,
		&row.predecessor, &row.created, &row.lastUsed}
	view := func(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
	at := func(v pgtype.Int8, t *time.Time) *time.Time {
		if !v.Valid {
			return nil
		}
		*t = fromTm(v.Int64)
		return t
	}
	return func(r rowScanner) (*domain.APIKey, error) {
		row.k = domain.APIKey{}
		if err := r.Scan(dest...); err != nil {
			return nil, err
		}
		k := &row.k
		k.ID, k.Hash, k.Name, k.Last4, k.Predecessor = view(row.id), view(row.hash), view(row.name), view(row.last4), view(row.predecessor)
		k.ConsumerID, k.Environment = in.of(row.consumer), in.of(row.env)
		var err error
		if k.Scopes, err = decStrings(row.scopes, in); err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		if k.IPAllow, err = decStrings(row.ipAllow, in); err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		k.ExpiresAt, k.RevokedAt, k.GraceUntil = at(row.expires, &row.expiresAt), at(row.revoked, &row.revokedAt), at(row.grace, &row.graceUntil)
		k.CreatedAt, k.LastUsedAt = fromTm(row.created), at(row.lastUsed, &row.usedAt)
		return k, nil
	}
}
