package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
	"gatehouse/internal/clock"
	"gatehouse/internal/cluster"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
)

// budgetCounters are the Counter implementations every budget test runs
// against: in memory, and in the real Redis (a fresh key prefix per test;
// a failure when CI is set and Redis is absent, a skip otherwise).
var budgetCounters = []struct {
	name string
	make func(t *testing.T, c clock.Clock) ai.Counter
}{
	{"memory", func(_ *testing.T, c clock.Clock) ai.Counter { return ai.NewMemCounter(c) }},
	{"redis", func(t *testing.T, _ clock.Clock) ai.Counter {
		rc, err := cluster.OpenRedis(testRedisURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rc.Close() })
		var b [8]byte
		_, _ = rand.Read(b[:])
		return ai.NewRedisCounter(rc, "gatehouse-test:"+hex.EncodeToString(b[:])+":")
	}},
}

// budgetFixture is one aiBudgets over a fixed list of budgets.
type budgetFixture struct {
	b     *aiBudgets
	clock *clock.Fake
	cnt   ai.Counter
	call  ai.CallContext
}

func newBudgetFixture(t *testing.T, mk func(*testing.T, clock.Clock) ai.Counter, bs ...domain.Budget) *budgetFixture {
	// The fake clock starts at the real time: Redis expires keys by its
	// own clock, and a TTL computed from a past instant would still be a
	// full window.
	fc := clock.NewFake(time.Now().UTC())
	cnt := mk(t, fc)
	x := &aiIndex{}
	x.indexBudgets(bs)
	return &budgetFixture{clock: fc, cnt: cnt, call: ai.CallContext{TenantID: "ten1", ConsumerID: "con1", CredentialID: "key1"},
		b: &aiBudgets{counter: cnt, clock: fc, log: slog.New(slog.NewTextHandler(io.Discard, nil)), budgets: x.budgetsFor}}
}

// value reads one counter of a budget in the current window.
func (f *budgetFixture) value(t *testing.T, bu domain.Budget, kind string) int64 {
	t.Helper()
	start := f.clock.Now().UTC().Truncate(time.Minute)
	if kind == "money" {
		start, _ = bu.Window(f.clock.Now())
	}
	v, err := f.cnt.Add(context.Background(), budgetKey(bu, kind, start), 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func reservation(cost ai.Micros, tokens int64) ai.Reservation {
	return ai.Reservation{Endpoint: ai.EndpointChat, Cost: cost, Usage: ai.Usage{PromptTokens: tokens / 2, CompletionTokens: tokens - tokens/2, TotalTokens: tokens, Estimated: true}}
}

func result(cost ai.Micros, tokens int64) ai.Result {
	return ai.Result{Cost: cost, Usage: ai.Usage{PromptTokens: tokens, TotalTokens: tokens}}
}

// Reservations and settlements account to the micro-unit and the token,
// refusals roll back everything they added, and every scope counts.
func TestAIBudgetAccounting(t *testing.T) {
	money := domain.Budget{ID: "b-money", Scope: domain.BudgetScopeConsumer, ScopeID: "con1", Amount: 1000, Period: domain.BudgetPeriodDay}
	tpm := domain.Budget{ID: "b-tpm", Scope: domain.BudgetScopeCredential, ScopeID: "key1", TPM: 100}
	rpm := domain.Budget{ID: "b-rpm", Scope: domain.BudgetScopeTenant, ScopeID: "ten1", RPM: 2}
	other := domain.Budget{ID: "b-other", Scope: domain.BudgetScopeConsumer, ScopeID: "someone-else", Amount: 1}
	cases := []struct {
		name string
		run  func(t *testing.T, f *budgetFixture)
	}{
		{"settle replaces the reservation with the actual cost and tokens", func(t *testing.T, f *budgetFixture) {
			settle, err := f.b.Reserve(context.Background(), f.call, reservation(700, 80))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.value(t, money, "money"); got != 700 {
				t.Fatalf("reserved money %d, want 700", got)
			}
			settle(context.Background(), result(123, 17))
			if m, k, r := f.value(t, money, "money"), f.value(t, tpm, "tpm"), f.value(t, rpm, "rpm"); m != 123 || k != 17 || r != 1 {
				t.Fatalf("after settle money=%d tokens=%d requests=%d, want 123 17 1", m, k, r)
			}
		}},
		{"a failed call settles to zero", func(t *testing.T, f *budgetFixture) {
			settle, err := f.b.Reserve(context.Background(), f.call, reservation(999, 99))
			if err != nil {
				t.Fatal(err)
			}
			settle(context.Background(), ai.Result{})
			if m, k := f.value(t, money, "money"), f.value(t, tpm, "tpm"); m != 0 || k != 0 {
				t.Fatalf("money=%d tokens=%d, want 0 0", m, k)
			}
		}},
		{"spent budget refuses with budget.exceeded and rolls back the other counters", func(t *testing.T, f *budgetFixture) {
			settle, _ := f.b.Reserve(context.Background(), f.call, reservation(1000, 10))
			settle(context.Background(), result(1000, 10))
			_, err := f.b.Reserve(context.Background(), f.call, reservation(1, 10))
			if err == nil || err.Code != "budget.exceeded" {
				t.Fatalf("got %v, want budget.exceeded", err)
			}
			_, end := money.Window(f.clock.Now())
			if want := retryAfter(f.clock.Now(), end); err.RetryAfter != want || want < 1 {
				t.Fatalf("Retry-After %d, want %d (until the day resets)", err.RetryAfter, want)
			}
			if !strings.Contains(err.Detail, "$0.001") || !strings.Contains(err.Detail, end.Format(time.RFC3339)) {
				t.Fatalf("detail %q names neither the amount nor the reset", err.Detail)
			}
			if m, k, r := f.value(t, money, "money"), f.value(t, tpm, "tpm"), f.value(t, rpm, "rpm"); m != 1000 || k != 10 || r != 1 {
				t.Fatalf("after refusal money=%d tokens=%d requests=%d, want 1000 10 1", m, k, r)
			}
		}},
		{"a reservation is admitted while the budget is not yet spent, even if it goes over", func(t *testing.T, f *budgetFixture) {
			if _, err := f.b.Reserve(context.Background(), f.call, reservation(999, 1)); err != nil {
				t.Fatal(err)
			}
			if _, err := f.b.Reserve(context.Background(), f.call, reservation(500, 1)); err != nil {
				t.Fatalf("999 of 1000 spent: %v", err)
			}
			if _, err := f.b.Reserve(context.Background(), f.call, reservation(0, 1)); err == nil || err.Code != "budget.exceeded" {
				t.Fatalf("1499 of 1000 spent: got %v", err)
			}
		}},
		{"RPM refuses the third request of a minute with rate.exceeded", func(t *testing.T, f *budgetFixture) {
			for i := 0; i < 2; i++ {
				if _, err := f.b.Reserve(context.Background(), f.call, reservation(0, 0)); err != nil {
					t.Fatal(err)
				}
			}
			f.clock.Set(f.clock.Now().Truncate(time.Minute).Add(15 * time.Second))
			_, err := f.b.Reserve(context.Background(), f.call, reservation(0, 0))
			if err == nil || err.Code != reason.RateExceeded || err.RetryAfter != 45 {
				t.Fatalf("got %+v, want rate.exceeded with Retry-After 45", err)
			}
			if r := f.value(t, rpm, "rpm"); r != 2 {
				t.Fatalf("requests %d after refusal, want 2", r)
			}
		}},
		{"TPM counts the reserved worst case until settled", func(t *testing.T, f *budgetFixture) {
			settle, err := f.b.Reserve(context.Background(), f.call, reservation(0, 100))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.b.Reserve(context.Background(), f.call, reservation(0, 1)); err == nil || err.Code != reason.RateExceeded {
				t.Fatalf("100 of 100 tokens reserved: got %v", err)
			}
			settle(context.Background(), result(0, 30))
			if _, err := f.b.Reserve(context.Background(), f.call, reservation(0, 1)); err != nil {
				t.Fatalf("30 of 100 tokens used: %v", err)
			}
		}},
	}
	for _, c := range budgetCounters {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					f := newBudgetFixture(t, c.make, money, tpm, rpm, other)
					// The RPM case needs room for its own requests only.
					tc.run(t, f)
				})
			}
		})
	}
}

// Concurrent reservations against a budget of $1.00 overspend by at most
// one reservation, and once the dust settles the budget is fully usable.
func TestAIBudgetConcurrentOverspend(t *testing.T) {
	const limit, each = 1_000_000, 30_000
	bu := domain.Budget{ID: "b-conc", Scope: domain.BudgetScopeConsumer, ScopeID: "con1", Amount: limit, Period: domain.BudgetPeriodMonth}
	for _, c := range budgetCounters {
		t.Run(c.name, func(t *testing.T) {
			f := newBudgetFixture(t, c.make, bu)
			// Two aiBudgets over one counter: two nodes sharing Redis (or
			// one process's memory).
			nodes := []*aiBudgets{f.b, {counter: f.cnt, clock: f.clock, log: f.b.log, budgets: f.b.budgets}}
			var wg sync.WaitGroup
			var mu sync.Mutex
			admitted := 0
			for i := 0; i < 80; i++ {
				wg.Add(1)
				go func(n *aiBudgets) {
					defer wg.Done()
					settle, err := n.Reserve(context.Background(), f.call, reservation(each, 1))
					if err != nil {
						return
					}
					settle(context.Background(), result(each, 1))
					mu.Lock()
					admitted++
					mu.Unlock()
				}(nodes[i%2])
			}
			wg.Wait()
			// Refusals seen during the race (a rolled-back reservation
			// was still counted) may leave room: use it up sequentially.
			for {
				settle, err := f.b.Reserve(context.Background(), f.call, reservation(each, 1))
				if err != nil {
					break
				}
				settle(context.Background(), result(each, 1))
				admitted++
			}
			spent := f.value(t, bu, "money")
			if spent != int64(admitted)*each {
				t.Fatalf("counter %d, admitted %d × %d", spent, admitted, each)
			}
			if spent < limit || spent >= limit+each {
				t.Fatalf("spent %d of %d: want at least the budget and less than one reservation over", spent, limit)
			}
		})
	}
}

// A new day starts a new money window; a month budget keeps counting
// across days.
func TestAIBudgetWindowRollover(t *testing.T) {
	day := domain.Budget{ID: "b-day", Scope: domain.BudgetScopeConsumer, ScopeID: "con1", Amount: 100, Period: domain.BudgetPeriodDay}
	month := domain.Budget{ID: "b-month", Scope: domain.BudgetScopeTenant, ScopeID: "ten1", Amount: 1000, Period: domain.BudgetPeriodMonth}
	for _, c := range budgetCounters {
		t.Run(c.name, func(t *testing.T) {
			f := newBudgetFixture(t, c.make, day, month)
			spend := func(cost ai.Micros) *reason.Error {
				settle, err := f.b.Reserve(context.Background(), f.call, reservation(cost, 1))
				if err == nil {
					settle(context.Background(), result(cost, 1))
				}
				return err
			}
			if err := spend(100); err != nil {
				t.Fatal(err)
			}
			if err := spend(1); err == nil || err.Code != "budget.exceeded" {
				t.Fatalf("day spent: got %v", err)
			}
			_, end := day.Window(f.clock.Now())
			f.clock.Set(end) // midnight UTC: the next day
			if err := spend(100); err != nil {
				t.Fatalf("next day: %v", err)
			}
			if got := f.value(t, day, "money"); got != 100 {
				t.Fatalf("new day's counter %d, want 100", got)
			}
			mStart, _ := month.Window(f.clock.Now())
			if want := int64(200); mStart.Before(end) && f.value(t, month, "money") != want {
				t.Fatalf("month counter %d, want %d (both days)", f.value(t, month, "money"), want)
			}
		})
	}
}

// Budgets end to end: an AI route whose consumer has $0.001 a day; calls
// succeed until it is spent, then answer budget.exceeded in the OpenAI
// error shape with Retry-After and the request ID — counted per node, and
// in Redis when the gateway runs with GATEHOUSE_REDIS_URL.
func TestAIBudgetThroughGateway(t *testing.T) {
	inMemoryAndRedis(t, testAIBudgetThroughGateway)
}

func testAIBudgetThroughGateway(t *testing.T, h *harness) {
	w := h.newWorld("acme", nil, nil)
	f := aitest.New(t, aitest.OpenAI)
	f.Script(func(aitest.Request) aitest.Scenario {
		return aitest.Scenario{Text: "ok", Usage: aitest.Usage{Input: 1000, Output: 200}}
	})
	p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "oai", "type": "openai",
		"base_url": f.Provider("oai").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	// 1000 × 0.15 + 200 × 0.60 per 1M = 270 micros a call; max_tokens 200
	// keeps the reservation near that.
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat",
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}},
		"price":   map[string]any{"input_per_1m": "0.15", "output_per_1m": "0.60"}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/llm"}, "type": "ai"})
	h.mustAdmin("POST", "/admin/v1/budgets", map[string]any{"scope": "consumer", "scope_id": w.consumer, "amount": "0.001", "period": "day"})
	_, key := h.newKey(w.consumer, nil)

	body := `{"model":"chat","max_tokens":200,"messages":[{"role":"user","content":"hi"}]}`
	var statuses []int
	var last response
	for i := 0; i < 6; i++ {
		last = postJSON(h, "/llm/v1/chat/completions", body, bearer(key)...)
		statuses = append(statuses, last.status)
		if last.status != 200 {
			break
		}
	}
	// 270 × 4 = 1080 ≥ 1000: four calls pass, the fifth is refused.
	if len(statuses) != 5 || statuses[3] != 200 || statuses[4] != 429 {
		t.Fatalf("statuses %v, want four 200s then 429", statuses)
	}
	e, _ := last.body["error"].(map[string]any)
	if e == nil || e["code"] != "budget.exceeded" || !strings.Contains(mustJSON(e), last.header.Get("X-Request-Id")) {
		t.Fatalf("refusal body %s (request id %q)", last.raw, last.header.Get("X-Request-Id"))
	}
	if last.header.Get("Retry-After") == "" {
		t.Fatal("budget.exceeded without Retry-After")
	}
	// §5: every 429 carries RateLimit-Policy and RateLimit.
	if p, l := last.header.Get("RateLimit-Policy"), last.header.Get("RateLimit"); p != `"ai-budget";q=1000;w=86400` || !strings.HasPrefix(l, `"ai-budget";r=0;t=`) {
		t.Fatalf("budget.exceeded RateLimit-Policy %q, RateLimit %q", p, l)
	}
	if n := len(f.Requests()); n != 4 {
		t.Fatalf("provider saw %d calls, want 4 (the refused one never dispatched)", n)
	}
}

// postJSON sends a JSON body to the proxy listener.
func postJSON(h *harness, path, body string, hdr ...string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.proxy+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}
