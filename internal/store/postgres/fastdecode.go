package postgres

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
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

// fromInt8 is fromTmOpt for a scanned nullable BIGINT.
func fromInt8(v pgtype.Int8) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromTm(v.Int64)
	return &t
}
