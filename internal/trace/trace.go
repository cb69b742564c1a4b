// Package trace records a request's decision trace (§6): one step per check
// of every pipeline stage, kept in a fixed array so that recording costs no
// allocation on the request path. Details of passing steps are static or
// precomputed strings; only failures format text.
package trace

import "gatehouse/internal/domain"

// Max is the number of steps one request can record; later steps are
// dropped and the last step says so.
const Max = 24

// Trace is a decision trace under construction. The zero value is ready.
type Trace struct {
	steps [Max]domain.TraceStep
	n     int
}

// Reset empties the trace for reuse.
func (t *Trace) Reset() {
	clear(t.steps[:t.n])
	t.n = 0
}

func (t *Trace) add(s domain.TraceStep) {
	if t.n == Max {
		t.steps[Max-1] = domain.TraceStep{Stage: s.Stage, Check: "trace.truncated", Outcome: domain.OutcomeSkip, Detail: "more steps than the trace keeps"}
		return
	}
	t.steps[t.n] = s
	t.n++
}

// Pass records a passing check.
func (t *Trace) Pass(stage, check, detail string) {
	t.add(domain.TraceStep{Stage: stage, Check: check, Outcome: domain.OutcomePass, Detail: detail})
}

// Fail records a failing check whose detail the caller may see.
func (t *Trace) Fail(stage, check, detail string) {
	t.add(domain.TraceStep{Stage: stage, Check: check, Outcome: domain.OutcomeFail, Detail: detail})
}

// Skip records a check that did not apply.
func (t *Trace) Skip(stage, check, detail string) {
	t.add(domain.TraceStep{Stage: stage, Check: check, Outcome: domain.OutcomeSkip, Detail: detail})
}

// Private records a step only the operator may see (it tells more than the
// caller proved it may know, e.g. "id exists, secret does not match").
func (t *Trace) Private(stage, check, outcome, detail string) {
	t.add(domain.TraceStep{Stage: stage, Check: check, Outcome: outcome, Detail: detail, Private: true})
}

// Len is the number of steps recorded.
func (t *Trace) Len() int { return t.n }

// Steps returns a copy of the recorded steps (operator view).
func (t *Trace) Steps() []domain.TraceStep {
	if t.n == 0 {
		return nil
	}
	out := make([]domain.TraceStep, t.n)
	copy(out, t.steps[:t.n])
	return out
}

// CallerSteps returns the steps a caller may see: private steps are
// dropped.
func CallerSteps(steps []domain.TraceStep) []domain.TraceStep {
	out := make([]domain.TraceStep, 0, len(steps))
	for _, s := range steps {
		if !s.Private {
			out = append(out, s)
		}
	}
	return out
}
