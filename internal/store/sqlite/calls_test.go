package sqlite

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

func ids(calls []domain.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.RequestID
	}
	return out
}

func testCall(id string, at time.Duration, consumer string) domain.Call {
	return domain.Call{RequestID: id, Time: t0.Add(at), ConsumerID: consumer, Method: "GET", Path: "/p", Status: 200}
}

// TestCallBlocksOverlapInTime: a long request's record lands in a later
// batch than newer ones, so blocks overlap; pages must still come newest
// first across blocks, at every page size.
func TestCallBlocksOverlapInTime(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	batches := [][]domain.Call{
		{testCall("r10", 10*time.Second, "a"), testCall("r50", 50*time.Second, "b")},
		{testCall("r20", 20*time.Second, "a"), testCall("r30", 30*time.Second, "b"), testCall("r60", 60*time.Second, "a")},
		{testCall("r05", 5*time.Second, "b"), testCall("r40", 40*time.Second, "a")},
	}
	for _, b := range batches {
		if err := s.InsertCalls(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		desc string
		f    store.CallFilter
		want []string
	}{
		{"every call", store.CallFilter{}, []string{"r60", "r50", "r40", "r30", "r20", "r10", "r05"}},
		{"one consumer", store.CallFilter{ConsumerID: "a"}, []string{"r60", "r40", "r20", "r10"}},
		{"a time range", store.CallFilter{Since: t0.Add(10 * time.Second), Until: t0.Add(50 * time.Second)}, []string{"r40", "r30", "r20", "r10"}},
	}
	for _, tc := range cases {
		for limit := 1; limit <= len(tc.want)+1; limit++ {
			t.Run(fmt.Sprintf("%s, pages of %d", tc.desc, limit), func(t *testing.T) {
				f := tc.f
				f.Limit = limit
				var got []string
				for range 20 {
					page, next, err := s.QueryCalls(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, ids(page)...)
					if next == "" {
						break
					}
					f.After = next
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
	}
}

// TestCallBlocksSkippedByFilter: a consumer, code, route or tenant filter
// reads only the blocks whose summary holds the value.
func TestCallBlocksSkippedByFilter(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for b := range 20 {
		var batch []domain.Call
		for i := range 10 {
			c := testCall(fmt.Sprintf("b%02d_%02d", b, i), time.Duration(b*10+i)*time.Second, fmt.Sprintf("con_%d", b))
			c.Code, c.RouteID, c.TenantID = fmt.Sprintf("code.%d", b%4), fmt.Sprintf("rte_%d", b%5), fmt.Sprintf("ten_%d", b%2)
			batch = append(batch, c)
		}
		if err := s.InsertCalls(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		desc   string
		f      store.CallFilter
		blocks int
	}{
		{"consumer", store.CallFilter{ConsumerID: "con_7"}, 1},
		{"a consumer whose id is a prefix of others", store.CallFilter{ConsumerID: "con_1"}, 1},
		{"code", store.CallFilter{Code: "code.3"}, 5},
		{"route", store.CallFilter{RouteID: "rte_0"}, 4},
		{"tenant and consumer", store.CallFilter{TenantID: "ten_1", ConsumerID: "con_7"}, 1},
		{"tenant and a consumer of the other tenant", store.CallFilter{TenantID: "ten_0", ConsumerID: "con_7"}, 0},
		{"no filter", store.CallFilter{}, 20},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			q, err := newCallQuery(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM ("+q.sql+")", q.args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != tc.blocks {
				t.Errorf("%d blocks read, want %d", n, tc.blocks)
			}
			got, _, err := s.QueryCalls(ctx, store.CallFilter{ConsumerID: tc.f.ConsumerID, Code: tc.f.Code,
				RouteID: tc.f.RouteID, TenantID: tc.f.TenantID, Page: store.Page{Limit: 1000}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.blocks*10 {
				t.Errorf("%d calls, want %d", len(got), tc.blocks*10)
			}
		})
	}
	t.Run("the newest page reads the newest blocks through the ts_max index", func(t *testing.T) {
		q, err := newCallQuery(store.CallFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var detail []string
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent, unused int
			var d string
			if err := rows.Scan(&id, &parent, &unused, &d); err != nil {
				t.Fatal(err)
			}
			detail = append(detail, d)
		}
		if plan := strings.Join(detail, "; "); !strings.Contains(plan, "call_blocks_ts_max") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan %q: want the ts_max index and no sort", plan)
		}
	})
}

// TestInsertCallsDuplicateWithinBatch: a request ID twice in one batch is
// stored once (the first record), like one already stored.
func TestInsertCallsDuplicateWithinBatch(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	first := testCall("dup", time.Second, "a")
	second := testCall("dup", 2*time.Second, "b")
	if err := s.InsertCalls(ctx, []domain.Call{first, testCall("other", 3*time.Second, "a"), second}); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.QueryCalls(ctx, store.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), []string{"other", "dup"}) || got[1].ConsumerID != "a" {
		t.Errorf("got %v (dup's consumer %q), want [other dup] with the first record", ids(got), got[len(got)-1].ConsumerID)
	}
	// A retried batch stores nothing twice.
	if err := s.InsertCalls(ctx, []domain.Call{first, testCall("other", 3*time.Second, "a")}); err != nil {
		t.Fatal(err)
	}
	var blocks int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM call_blocks").Scan(&blocks); err != nil || blocks != 1 {
		t.Errorf("%d blocks after a retried batch (%v), want 1", blocks, err)
	}
}

// TestLegacyCallsMovedIntoBlocks: rows an older binary wrote to the calls
// table are moved into blocks when the store opens, nothing lost or doubled.
func TestLegacyCallsMovedIntoBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1300 // three batches of the move
	for i := range n {
		trace := `[{"stage":"verify","check":"api_key","outcome":"fail","detail":"revoked"}]`
		if _, err := s.w.ExecContext(t.Context(), `INSERT INTO calls (request_id, ts, consumer_id, method, path, status, code, trace)
			VALUES (?, ?, ?, 'GET', '/old', 401, 'key.revoked', ?)`, fmt.Sprintf("old_%04d", i), tm(t0.Add(time.Duration(i)*time.Second)), "con_old", trace); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	var left int
	if err := s.r.QueryRowContext(t.Context(), "SELECT count(*) FROM calls").Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows left in calls (%v)", left, err)
	}
	got, _, err := s.QueryCalls(t.Context(), store.CallFilter{ConsumerID: "con_old", Page: store.Page{Limit: 1000}})
	if err != nil || len(got) != 1000 || got[0].RequestID != fmt.Sprintf("old_%04d", n-1) {
		t.Fatalf("%d calls, first %v, %v", len(got), got[0].RequestID, err)
	}
	c, err := s.GetCall(t.Context(), "old_0007")
	if err != nil {
		t.Fatal(err)
	}
	if c.Code != "key.revoked" || len(c.Trace) != 1 || c.Trace[0].Detail != "revoked" || !c.Time.Equal(t0.Add(7*time.Second)) {
		t.Errorf("moved call %+v", c)
	}
	if deleted, err := s.DeleteCallsBefore(t.Context(), t0.Add(time.Hour)); err != nil || deleted != n {
		t.Errorf("retention removed %d (%v), want %d", deleted, err, n)
	}
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// FuzzDecodeBlock: a damaged block is an error, never a panic or a huge
// allocation; a block that decodes re-encodes to the same records.
func FuzzDecodeBlock(f *testing.F) {
	var e blockEncoder
	c1 := testCall("01JB", time.Second, "con_1")
	c1.Trace = []domain.TraceStep{{Stage: "route", Check: "match", Outcome: domain.OutcomePass, Detail: "x"}}
	c2 := testCall("01JC", 2*time.Second, "con_1")
	c2.AI = &domain.CallAI{Provider: "openai", Model: "m", CostMicros: 7}
	seed, err := e.encode([]*domain.Call{&c1, &c2, &c1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(slices.Clone(seed))
	f.Add([]byte{blockMagic, blockVersion, 0})
	f.Add([]byte{blockMagic, blockVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{blockMagic, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		calls, err := decodeBlock(data, nil, nil)
		if err != nil {
			return
		}
		ptrs := make([]*domain.Call, len(calls))
		for i := range calls {
			ptrs[i] = &calls[i]
		}
		var e2 blockEncoder
		again, err := e2.encode(ptrs)
		if err != nil {
			return // a trace or AI value that does not re-encode is not a decoder bug
		}
		back, err := decodeBlock(again, nil, nil)
		if err != nil || len(back) != len(calls) {
			t.Fatalf("re-encoded block: %d calls, %v; want %d", len(back), err, len(calls))
		}
		for i := range back {
			if back[i].RequestID != calls[i].RequestID || !back[i].Time.Equal(calls[i].Time) || back[i].Path != calls[i].Path {
				t.Fatalf("record %d changed: %+v vs %+v", i, back[i], calls[i])
			}
		}
	})
}
