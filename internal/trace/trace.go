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
	// tails are the rest of a step's detail recorded in parts (PassJoin),
	// appended to it only when the trace is read.
	tails [Max][2]string
	n     int
}

// Reset empties the trace for reuse.
func (t *Trace) Reset() {
	clear(t.steps[:t.n])
	clear(t.tails[:t.n])
	t.n = 0
}

// add records s and returns its index, or -1 when the trace is full (its
// last step then says so).
func (t *Trace) add(s domain.TraceStep) int {
	if t.n == Max {
		t.steps[Max-1] = domain.TraceStep{Stage: s.Stage, Check: "trace.truncated", Outcome: domain.OutcomeSkip, Detail: "more steps than the trace keeps"}
		t.tails[Max-1] = [2]string{}
		return -1
	}
	t.steps[t.n] = s
	t.n++
	return t.n - 1
}

// Pass records a passing check.
func (t *Trace) Pass(stage, check, detail string) {
	t.add(domain.TraceStep{Stage: stage, Check: check, Outcome: domain.OutcomePass, Detail: detail})
}

// PassJoin records a passing check whose detail is a+b+c, joined only if
// the trace is read: most traces are not (a request that is served keeps
// none), so a detail made of a request's parts costs no allocation.
func (t *Trace) PassJoin(stage, check, a, b, c string) {
	if i := t.add(domain.TraceStep{Stage: stage, Check: check, Outcome: domain.OutcomePass, Detail: a}); i >= 0 {
		t.tails[i] = [2]string{b, c}
	}
}

// PrivateJoin is PassJoin for a step only the operator may see (the
// upstream target a request went to).
func (t *Trace) PrivateJoin(stage, check, outcome, a, b, c string) {
	if i := t.add(domain.TraceStep{Stage: stage, Check: check, Outcome: outcome, Detail: a, Private: true}); i >= 0 {
		t.tails[i] = [2]string{b, c}
	}
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

// LastStage is the stage of the last step recorded ("" for none).
func (t *Trace) LastStage() string {
	if t.n == 0 {
		return ""
	}
	return t.steps[t.n-1].Stage
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
	for i, tail := range t.tails[:t.n] {
		if tail != [2]string{} {
			out[i].Detail += tail[0] + tail[1]
		}
	}
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
