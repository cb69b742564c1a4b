package storetest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

func call(id string, tm time.Time) domain.Call {
	return domain.Call{RequestID: id, Time: tm, Method: "GET", Path: "/v1/orders", Status: 200, LatencyMicros: 1200, BytesOut: 42}
}

func callIDs(cs []domain.Call) []string {
	return ids(cs, func(c domain.Call) string { return c.RequestID })
}

func insert(t *testing.T, s store.Store, calls ...domain.Call) {
	t.Helper()
	if err := s.InsertCalls(t.Context(), calls); err != nil {
		t.Fatalf("InsertCalls: %v", err)
	}
}

func testCalls(t *testing.T, s store.Store) {
	ctx := t.Context()
	full := domain.Call{RequestID: "req_full", Time: at(time.Second), RouteID: "rte_1", ServiceID: "svc_1", TenantID: "ten_1",
		ConsumerID: "con_1", CredentialID: "key_1", CredentialType: "api_key", Method: "POST", Path: "/v1/orders?api_key=[redacted]",
		Status: 403, Code: "scope.missing", ClientIP: "2001:db8::1", UserAgent: "curl/8.5 \"quoted\"", LatencyMicros: 1234,
		UpstreamMicros: 1000, BytesIn: 512, BytesOut: 2048, Engine: "fast",
		AI: &domain.CallAI{Provider: "openai", Model: "gpt-4o-mini", Alias: "fast", PromptTokens: 12, CompletionTokens: 30,
			CostMicros: 21, Attempts: []string{"openai/gpt-4o-mini: 200"}},
		Trace: []domain.TraceStep{
			{Stage: "route", Check: "match", Outcome: domain.OutcomePass, Detail: "rte_1"},
			{Stage: "authorize", Check: "scope", Outcome: domain.OutcomeFail, Detail: "needs orders:write"},
			{Stage: "authorize", Check: "tenant", Outcome: domain.OutcomeSkip, Detail: "other tenant ten_2", Private: true},
		}}
	emptyTrace := call("req_empty_trace", at(2*time.Second))
	emptyTrace.Trace = []domain.TraceStep{}
	cases := []struct {
		desc string
		in   domain.Call
	}{
		{"every field and a trace with a private step", full},
		{"no trace stays nil", call("req_min", t0)},
		{"an empty trace stays empty", emptyTrace},
	}
	v := version(t, s)
	in := make([]domain.Call, len(cases))
	for i, tc := range cases {
		in[i] = tc.in
	}
	insert(t, s, in...)
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := s.GetCall(ctx, tc.in.RequestID)
			if err != nil {
				t.Fatal(err)
			}
			same(t, "GetCall", got, tc.in)
		})
	}
	t.Run("calls do not move the version", func(t *testing.T) {
		if got := version(t, s); got != v {
			t.Errorf("version %d after InsertCalls, want %d", got, v)
		}
	})
	t.Run("an empty batch is fine", func(t *testing.T) {
		insert(t, s)
		insert(t, s, []domain.Call{}...)
	})
	t.Run("a request id already stored is skipped, the rest of the batch lands", func(t *testing.T) {
		again := full
		again.Status, again.Code = 200, ""
		insert(t, s, again, call("req_new", at(3*time.Second)))
		got, err := s.GetCall(ctx, "req_full")
		if err != nil {
			t.Fatal(err)
		}
		same(t, "first write kept", got, full)
		if _, err := s.GetCall(ctx, "req_new"); err != nil {
			t.Errorf("new call of the batch: %v", err)
		}
	})
	t.Run("query returns them newest first", func(t *testing.T) {
		got, next, err := s.QueryCalls(ctx, store.CallFilter{})
		if err != nil || next != "" {
			t.Fatalf("QueryCalls: next %q, %v", next, err)
		}
		same(t, "order", callIDs(got), []string{"req_new", "req_empty_trace", "req_full", "req_min"})
		same(t, "full record in a query", got[2], full)
	})
}

// callSet is the dataset the filter and pagination tests query: several
// calls share a timestamp so the request-id tie-break is exercised.
func callSet() []domain.Call {
	mk := func(id string, d time.Duration, tenant, consumer, route string, status int, code string) domain.Call {
		c := call(id, at(d))
		c.TenantID, c.ConsumerID, c.RouteID, c.Status, c.Code = tenant, consumer, route, status, code
		return c
	}
	return []domain.Call{
		mk("req_01", 0, "ten_1", "con_1", "rte_1", 200, ""),
		mk("req_02", time.Minute, "ten_1", "con_1", "rte_2", 401, "key.revoked"),
		mk("req_03", time.Minute, "ten_1", "con_2", "rte_1", 403, "scope.missing"),
		mk("req_04", time.Minute, "ten_2", "con_3", "rte_3", 200, ""),
		mk("req_05", 2*time.Minute, "ten_1", "con_1", "rte_1", 401, "key.revoked"),
		mk("req_06", 3*time.Minute, "", "", "", 404, "route.not_found"),
		mk("req_07", 3*time.Minute, "ten_2", "con_3", "rte_3", 429, "rate.limited"),
		mk("req_08", 4*time.Minute, "ten_1", "con_2", "rte_2", 200, ""),
		mk("req_09", 5*time.Minute, "ten_1", "con_1", "rte_1", 401, "key.expired"),
		mk("req_10", 5*time.Minute, "ten_1", "con_1", "rte_1", 200, ""),
		mk("req_11", 5*time.Minute, "ten_1", "con_1", "rte_1", 200, ""),
		mk("req_12", 6*time.Minute, "ten_2", "con_3", "rte_3", 401, "key.revoked"),
	}
}

// expectCalls applies f to calls in Go: the reference the store must match.
func expectCalls(calls []domain.Call, f store.CallFilter) []string {
	var out []domain.Call
	for _, c := range calls {
		if (!f.Since.IsZero() && c.Time.Before(f.Since)) || (!f.Until.IsZero() && !c.Time.Before(f.Until)) ||
			(f.ConsumerID != "" && c.ConsumerID != f.ConsumerID) || (f.RouteID != "" && c.RouteID != f.RouteID) ||
			(f.TenantID != "" && c.TenantID != f.TenantID) || (f.Status != 0 && c.Status != f.Status) ||
			(f.Code != "" && c.Code != f.Code) {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].RequestID > out[j].RequestID
	})
	return append([]string{}, callIDs(out)...)
}

func testCallFilters(t *testing.T, s store.Store) {
	calls := callSet()
	insert(t, s, calls...)
	cases := []struct {
		desc string
		f    store.CallFilter
		n    int // expected count, so the reference itself cannot drift to "everything"
	}{
		{"no filter", store.CallFilter{}, 12},
		{"since is inclusive", store.CallFilter{Since: at(3 * time.Minute)}, 7},
		{"until is exclusive", store.CallFilter{Until: at(time.Minute)}, 1},
		{"since and until", store.CallFilter{Since: at(time.Minute), Until: at(5 * time.Minute)}, 7},
		{"consumer", store.CallFilter{ConsumerID: "con_1"}, 6},
		{"route", store.CallFilter{RouteID: "rte_3"}, 3},
		{"tenant", store.CallFilter{TenantID: "ten_2"}, 3},
		{"status", store.CallFilter{Status: 401}, 4},
		{"reason code", store.CallFilter{Code: "key.revoked"}, 3},
		{"consumer, status and since", store.CallFilter{ConsumerID: "con_1", Status: 401, Since: at(2 * time.Minute)}, 2},
		{"tenant and code", store.CallFilter{TenantID: "ten_1", Code: "key.revoked"}, 2},
		{"nothing matches", store.CallFilter{ConsumerID: "con_3", Code: "scope.missing"}, 0},
		{"since after every call", store.CallFilter{Since: at(time.Hour)}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			want := expectCalls(calls, tc.f)
			if len(want) != tc.n {
				t.Fatalf("reference selects %d calls, the case expects %d", len(want), tc.n)
			}
			got, next, err := s.QueryCalls(t.Context(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if next != "" {
				t.Errorf("next %q on a single page", next)
			}
			same(t, "request ids", callIDs(got), want)
		})
	}
}

func testCallPagination(t *testing.T, s store.Store) {
	calls := callSet()
	insert(t, s, calls...)
	cases := []struct {
		desc  string
		f     store.CallFilter
		limit int
	}{
		{"pages of 2 across equal timestamps", store.CallFilter{}, 2},
		{"pages of 1", store.CallFilter{}, 1},
		{"pages of 5", store.CallFilter{}, 5},
		{"pages of 2 under a filter", store.CallFilter{ConsumerID: "con_1"}, 2},
		{"pages of 2 under a time range", store.CallFilter{Since: at(time.Minute), Until: at(5*time.Minute + time.Second)}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			want := expectCalls(calls, tc.f)
			var got []string
			f := tc.f
			f.Limit = tc.limit
			for range len(calls) + 1 {
				page, next, err := s.QueryCalls(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > tc.limit {
					t.Fatalf("page of %d calls, limit %d", len(page), tc.limit)
				}
				got = append(got, callIDs(page)...)
				if next == "" {
					break
				}
				f.After = next
			}
			same(t, "request ids across pages", got, want)
		})
	}
	t.Run("a page stays stable while newer calls arrive", func(t *testing.T) {
		first, next, err := s.QueryCalls(t.Context(), store.CallFilter{Page: store.Page{Limit: 3}})
		if err != nil || next == "" {
			t.Fatalf("first page: next %q, %v", next, err)
		}
		insert(t, s, call("req_99", at(time.Hour)))
		second, _, err := s.QueryCalls(t.Context(), store.CallFilter{Page: store.Page{After: next, Limit: 3}})
		if err != nil {
			t.Fatal(err)
		}
		want := expectCalls(calls, store.CallFilter{})
		same(t, "two pages", append(callIDs(first), callIDs(second)...), want[:6])
	})
	bad := []struct {
		desc   string
		cursor string
	}{
		{"not base64", "%%%"},
		{"base64 of garbage", base64.RawURLEncoding.EncodeToString([]byte("garbage"))},
	}
	for _, tc := range bad {
		t.Run("cursor "+tc.desc+" is rejected", func(t *testing.T) {
			_, _, err := s.QueryCalls(t.Context(), store.CallFilter{Page: store.Page{After: tc.cursor}})
			wantErr(t, "QueryCalls", err, store.ErrBadCursor)
		})
	}
}

func testCallLimits(t *testing.T, s store.Store) {
	calls := make([]domain.Call, 1001)
	for i := range calls {
		calls[i] = call(fmt.Sprintf("req_%04d", i), at(time.Duration(i)*time.Millisecond))
	}
	insert(t, s, calls...)
	cases := []struct {
		desc    string
		limit   int
		wantLen int
	}{
		{"limit 0 means 100", 0, 100},
		{"limit above 1000 is capped at 1000", 5000, 1000},
		{"limit 1000 is allowed", 1000, 1000},
		{"a small limit is honoured", 7, 7},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, next, err := s.QueryCalls(t.Context(), store.CallFilter{Page: store.Page{Limit: tc.limit}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantLen || next == "" {
				t.Errorf("%d calls, next %q; want %d and a cursor", len(got), next, tc.wantLen)
			}
			if len(got) > 0 && got[0].RequestID != "req_1000" {
				t.Errorf("first call %s, want the newest req_1000", got[0].RequestID)
			}
		})
	}
}

func testRetention(t *testing.T, s store.Store) {
	insert(t, s, call("req_a", at(-3*time.Hour)), call("req_b", at(-2*time.Hour)), call("req_c", at(-time.Hour)),
		call("req_d", t0), call("req_e", at(time.Hour)))
	steps := []struct {
		desc    string
		before  time.Time
		deleted int64
		left    []string
	}{
		{"nothing older than the oldest", at(-4 * time.Hour), 0, []string{"req_e", "req_d", "req_c", "req_b", "req_a"}},
		{"strictly older is removed, the boundary kept", at(-time.Hour), 2, []string{"req_e", "req_d", "req_c"}},
		{"running again removes nothing", at(-time.Hour), 0, []string{"req_e", "req_d", "req_c"}},
		{"everything up to now", t0.Add(time.Microsecond), 2, []string{"req_e"}},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			n, err := s.DeleteCallsBefore(t.Context(), st.before)
			if err != nil {
				t.Fatal(err)
			}
			if n != st.deleted {
				t.Errorf("deleted %d, want %d", n, st.deleted)
			}
			got, _, err := s.QueryCalls(t.Context(), store.CallFilter{})
			if err != nil {
				t.Fatal(err)
			}
			same(t, "calls left", callIDs(got), st.left)
		})
	}
	t.Run("a removed call is not found", func(t *testing.T) {
		_, err := s.GetCall(t.Context(), "req_a")
		wantErr(t, "GetCall", err, store.ErrNotFound, "req_a")
	})
}

func testTouchKeys(t *testing.T, s store.Store) {
	seed(t, s)
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.PutKey(ctx, key("key_1", "con_1")), tx.PutKey(ctx, key("key_2", "con_1")))
	})
	v := version(t, s)
	lastUsed := func(t *testing.T, id string) *time.Time {
		t.Helper()
		var k domain.APIKey
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			k, err = tx.GetKey(ctx, id)
			return err
		})
		return k.LastUsedAt
	}
	steps := []struct {
		desc  string
		touch map[string]time.Time
		want1 *time.Time
		want2 *time.Time
	}{
		{"nothing touched yet", nil, nil, nil},
		{"first use sets last_used_at", map[string]time.Time{"key_1": at(time.Minute)}, ptr(at(time.Minute)), nil},
		{"several keys at once, unknown ids ignored",
			map[string]time.Time{"key_1": at(2 * time.Minute), "key_2": at(time.Minute), "key_gone": at(time.Minute)},
			ptr(at(2 * time.Minute)), ptr(at(time.Minute))},
		{"an older time never moves it back", map[string]time.Time{"key_1": at(time.Second)}, ptr(at(2 * time.Minute)), ptr(at(time.Minute))},
		{"an empty map is fine", map[string]time.Time{}, ptr(at(2 * time.Minute)), ptr(at(time.Minute))},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			if st.touch != nil {
				if err := s.TouchKeys(t.Context(), st.touch); err != nil {
					t.Fatalf("TouchKeys: %v", err)
				}
			}
			same(t, "key_1 last used", lastUsed(t, "key_1"), st.want1)
			same(t, "key_2 last used", lastUsed(t, "key_2"), st.want2)
		})
	}
	t.Run("touches do not move the version", func(t *testing.T) {
		if got := version(t, s); got != v {
			t.Errorf("version %d, want %d", got, v)
		}
	})
}

// testConcurrentUpdates runs Updates, call inserts and reads from several
// goroutines at once: none may fail (no "database is locked"), every Update
// bumps the version once and audit ids stay unique.
func testConcurrentUpdates(t *testing.T, s store.Store) {
	const workers, each = 8, 10
	update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutTenant(ctx, tenant("ten_0", "zero")) })
	v0 := version(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Go(func() {
			ctx := t.Context()
			for i := range each {
				id := fmt.Sprintf("con_%d_%d", w, i)
				errs <- s.Update(ctx, func(tx store.Tx) error {
					if _, err := tx.GetTenant(ctx, "ten_0"); err != nil {
						return err
					}
					if err := tx.PutConsumer(ctx, consumer(id, "ten_0", id)); err != nil {
						return err
					}
					return tx.Audit(ctx, domain.AuditEntry{At: t0, Action: "consumer.create", ResourceID: id})
				})
				errs <- s.InsertCalls(ctx, []domain.Call{call("req_"+id, at(time.Duration(i)*time.Second))})
				_, err := s.Load(ctx)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent operation: %v", err)
		}
	}
	if got := version(t, s); got != v0+workers*each {
		t.Errorf("version %d, want %d", got, v0+workers*each)
	}
	entries, _, err := s.ListAudit(t.Context(), store.ListFilter{Page: store.Page{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, e := range entries {
		seen[e.ID] = true
	}
	if len(entries) != workers*each || len(seen) != workers*each {
		t.Errorf("%d audit entries with %d distinct ids, want %d", len(entries), len(seen), workers*each)
	}
	d, err := s.Load(t.Context())
	if err != nil || len(d.Consumers) != workers*each {
		t.Errorf("Load: %d consumers, %v; want %d", len(d.Consumers), err, workers*each)
	}
}
