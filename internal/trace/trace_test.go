package trace

import (
	"strings"
	"testing"

	"gatehouse/internal/domain"
)

func TestPassJoin(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		steps func(t *Trace)
		want  []string // details, in order
	}{
		{"parts are joined when read", func(t *Trace) {
			t.PassJoin("extract", "credential", "api_key", " from ", "Authorization")
		}, []string{"api_key from Authorization"}},
		{"a plain step after a joined one keeps its own detail", func(t *Trace) {
			t.PassJoin("forward", "upstream", "fast", " → ", "http://10.0.0.1")
			t.Pass("limit", "rate", "within")
		}, []string{"fast → http://10.0.0.1", "within"}},
		{"a full trace ends with the truncation step, no tail on it", func(t *Trace) {
			for range Max {
				t.Pass("route", "match", "x")
			}
			t.PassJoin("forward", "upstream", "fast", " → ", "lost")
		}, append(strings.Split(strings.Repeat("x,", Max-1), ",")[:Max-1], "more steps than the trace keeps")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var tr Trace
			tc.steps(&tr)
			got := tr.Steps()
			if len(got) != len(tc.want) {
				t.Fatalf("%d steps, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, s := range got {
				if s.Detail != tc.want[i] {
					t.Errorf("step %d detail %q, want %q", i, s.Detail, tc.want[i])
				}
			}
		})
	}
}

// A reused trace does not carry a tail from the request before.
func TestResetForgetsTails(t *testing.T) {
	var tr Trace
	tr.PassJoin("extract", "credential", "api_key", " from ", "Authorization")
	tr.Reset()
	tr.Pass("extract", "credential", "jwt")
	if got := tr.Steps(); len(got) != 1 || got[0].Detail != "jwt" || got[0].Outcome != domain.OutcomePass {
		t.Errorf("after Reset: %+v", got)
	}
}

// Recording a joined detail allocates nothing; reading it does.
func TestPassJoinAllocatesNothing(t *testing.T) {
	var tr Trace
	method, source := strings.Repeat("m", 7), strings.Repeat("s", 13) // not constants
	if n := testing.AllocsPerRun(100, func() {
		tr.Reset()
		tr.PassJoin("extract", "credential", method, " from ", source)
	}); n != 0 {
		t.Errorf("%.1f allocations per PassJoin", n)
	}
}
