package server

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"gatehouse/internal/ai"
	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
)

// budgetSlack keeps a counter key a little past its window's end, so a
// settlement of a call that started just before the reset still finds
// the reservation it corrects.
const budgetSlack = 10 * time.Minute

// aiBudgets enforces the snapshot's budgets (§11) on AI calls: money per
// day or month, requests and tokens per minute, for the caller's
// consumer, credential and tenant. Reserve adds the call's worst case to
// every applicable counter first and checks the new value, rolling back
// on refusal; so concurrent calls never both pass on the same remainder,
// and a budget is overspent by at most the one reservation that found it
// not yet spent. Settle replaces the reservation with the actual cost and
// tokens.
type aiBudgets struct {
	budgets func(ai.CallContext) []domain.Budget
	counter ai.Counter
	clock   clock.Clock
	log     *slog.Logger
}

// held is one counter addition a reservation made.
type held struct {
	key    string
	delta  int64
	expire time.Time
}

// callTokens is the token count TPM limits count.
func callTokens(u ai.Usage) int64 {
	if u.TotalTokens > 0 {
		return u.TotalTokens
	}
	return u.PromptTokens + u.CompletionTokens
}

// Reserve implements ai.Budget.
func (b *aiBudgets) Reserve(ctx context.Context, call ai.CallContext, r ai.Reservation) (func(context.Context, ai.Result), *reason.Error) {
	list := b.budgets(call)
	if len(list) == 0 {
		return nil, nil
	}
	now := b.clock.Now().UTC()
	minStart := now.Truncate(time.Minute)
	minEnd := minStart.Add(time.Minute)
	tokens := callTokens(r.Usage)
	bg := context.WithoutCancel(ctx)
	var hs []held
	rollback := func() {
		for _, h := range hs {
			if _, err := b.counter.Add(bg, h.key, -h.delta, h.expire.Sub(now)); err != nil {
				b.log.Error("AI budget rollback failed", "key", h.key, "err", err)
			}
		}
	}
	// take adds delta to key and reports whether the counter was below
	// limit before it (the call is admitted) — or could not be read
	// (counters down: admitted, logged by the counter).
	take := func(key string, delta, limit int64, expire time.Time) (used int64, ok bool) {
		v, err := b.counter.Add(bg, key, delta, expire.Sub(now))
		if err != nil {
			b.log.Error("AI budget counter failed: call admitted uncounted", "key", key, "err", err)
			return 0, true
		}
		hs = append(hs, held{key, delta, expire})
		return v - delta, v-delta < limit
	}
	for _, bu := range list {
		if bu.RPM > 0 {
			if _, ok := take(budgetKey(bu, "rpm", minStart), 1, bu.RPM, minEnd.Add(budgetSlack)); !ok {
				rollback()
				return nil, &reason.Error{Code: reason.RateExceeded, Possession: true, RetryAfter: retryAfter(now, minEnd),
					RateLimitPolicy: fmt.Sprintf(`"ai-rpm";q=%d;w=60`, bu.RPM),
					Detail: fmt.Sprintf("%s may make %d AI requests per minute; the next minute starts at %s.",
						scopeText(bu), bu.RPM, minEnd.Format(time.RFC3339))}
			}
		}
		if bu.TPM > 0 {
			if used, ok := take(budgetKey(bu, "tpm", minStart), tokens, bu.TPM, minEnd.Add(budgetSlack)); !ok {
				rollback()
				return nil, &reason.Error{Code: reason.RateExceeded, Possession: true, RetryAfter: retryAfter(now, minEnd),
					RateLimitPolicy: fmt.Sprintf(`"ai-tpm";q=%d;w=60`, bu.TPM),
					Detail: fmt.Sprintf("%s may use %d AI tokens per minute and has used %d (remaining 0); the next minute starts at %s.",
						scopeText(bu), bu.TPM, used, minEnd.Format(time.RFC3339))}
			}
		}
		if bu.Amount > 0 {
			start, end := bu.Window(now)
			if used, ok := take(budgetKey(bu, "money", start), int64(r.Cost), int64(bu.Amount), end.Add(budgetSlack)); !ok {
				rollback()
				// The quota unit is a micro-dollar of the budget's
				// money; w is the budget's period.
				return nil, &reason.Error{Code: reason.BudgetExceeded, Possession: true, RetryAfter: retryAfter(now, end),
					RateLimitPolicy: fmt.Sprintf(`"ai-budget";q=%d;w=%d`, int64(bu.Amount), int64(end.Sub(start)/time.Second)),
					Detail: fmt.Sprintf("The AI budget of %s is $%s per %s and $%s of it is used (remaining $0); it resets at %s.",
						scopeText(bu), domain.Micros(bu.Amount), periodOf(bu), domain.Micros(used), end.Format(time.RFC3339))}
			}
		}
	}
	if len(hs) == 0 {
		return nil, nil
	}
	return func(ctx context.Context, res ai.Result) {
		for _, h := range hs {
			var d int64
			switch {
			case hasSuffixKind(h.key, "money"):
				d = int64(res.Cost) - h.delta
			case hasSuffixKind(h.key, "tpm"):
				d = callTokens(res.Usage) - h.delta
			}
			ttl := h.expire.Sub(b.clock.Now())
			if d == 0 || ttl <= 0 {
				continue // nothing to correct, or the window is long gone
			}
			if _, err := b.counter.Add(ctx, h.key, d, ttl); err != nil {
				b.log.Error("AI budget settlement failed", "key", h.key, "err", err)
			}
		}
	}, nil
}

// budgetKey names one budget's counter for one window: a changed amount
// keeps counting what was spent, a new window starts at zero.
func budgetKey(b domain.Budget, kind string, start time.Time) string {
	return b.ID + ":" + strconv.FormatInt(start.Unix(), 10) + ":" + kind
}

func hasSuffixKind(key, kind string) bool {
	return len(key) > len(kind) && key[len(key)-len(kind)-1:] == ":"+kind
}

// retryAfter is the whole seconds until end, at least 1.
func retryAfter(now, end time.Time) int {
	s := int((end.Sub(now) + time.Second - 1) / time.Second)
	return max(s, 1)
}

// scopeText names what a budget counts, as the caller knows it.
func scopeText(b domain.Budget) string {
	switch b.Scope {
	case domain.BudgetScopeCredential:
		return "this credential"
	case domain.BudgetScopeTenant:
		return "your organisation"
	default:
		return "this application"
	}
}

func periodOf(b domain.Budget) string {
	if b.Period == domain.BudgetPeriodMonth {
		return "month"
	}
	return "day"
}

// budgetsFor returns the budgets applying to a call, consumer first.
func (x *aiIndex) budgetsFor(call ai.CallContext) []domain.Budget {
	if len(x.budgets) == 0 {
		return nil
	}
	var out []domain.Budget
	out = append(out, x.budgets[domain.BudgetScopeConsumer+":"+call.ConsumerID]...)
	if call.CredentialID != "" {
		out = append(out, x.budgets[domain.BudgetScopeCredential+":"+call.CredentialID]...)
	}
	out = append(out, x.budgets[domain.BudgetScopeTenant+":"+call.TenantID]...)
	return out
}

// indexBudgets fills x.budgets by scope.
func (x *aiIndex) indexBudgets(bs []domain.Budget) {
	x.budgets = map[string][]domain.Budget{}
	for _, b := range bs {
		k := b.Scope + ":" + b.ScopeID
		x.budgets[k] = append(x.budgets[k], b)
	}
}
