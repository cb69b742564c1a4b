package store

import (
	"encoding/json"
	"testing"

	"gatehouse/internal/domain"
)

// TestTraceEncoderReuse: equal traces in a row are encoded once; a
// different trace (even one differing only in a detail or the Private
// flag) is encoded anew, and nil traces never match.
func TestTraceEncoderReuse(t *testing.T) {
	step := func(detail string, private bool) []domain.TraceStep {
		return []domain.TraceStep{{Stage: "route", Check: "match", Outcome: domain.OutcomePass, Detail: "r"},
			{Stage: "verify", Check: "key.format", Outcome: domain.OutcomeFail, Detail: detail, Private: private}}
	}
	calls := 0
	enc := func(v any) (string, error) {
		calls++
		b, err := json.Marshal(v)
		return string(b), err
	}
	var e TraceEncoder
	cases := []struct {
		desc      string
		trace     []domain.TraceStep
		wantCalls int
	}{
		{"first trace is encoded", step("bad prefix", false), 1},
		{"an equal trace (another slice) reuses it", step("bad prefix", false), 1},
		{"a different detail is encoded", step("bad checksum", false), 2},
		{"a different Private flag is encoded", step("bad checksum", true), 3},
		{"back to an earlier trace: only the last one is remembered", step("bad prefix", false), 4},
	}
	for _, c := range cases {
		got, err := e.Encode(c.trace, enc)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(c.trace)
		if got != string(want) || calls != c.wantCalls {
			t.Fatalf("%s: got %s after %d encodings, want %s after %d", c.desc, got, calls, want, c.wantCalls)
		}
	}
}
