package storetest

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// RunAnalytics runs the store.Analytics and store.AlertRuleTx part of the
// suite: rollups add up on conflict (inside one call too), merge by step,
// filter and prune; alert rules round-trip through a Tx with name
// conflicts per tenant; fired alerts list newest first by cursor, filter,
// ignore repeated ids and prune. None of it moves the version except rule
// changes (which are admin changes). open is as for Run; the store must
// implement store.Analytics.
func RunAnalytics(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, a store.Analytics)
	}{
		{"RollupUpsertAdds", testRollupUpsertAdds},
		{"RollupQuery", testRollupQuery},
		{"RollupRetention", testRollupRetention},
		{"AlertRules", testAlertRules},
		{"Alerts", testAlerts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			a, ok := s.(store.Analytics)
			if !ok {
				t.Fatalf("%T does not implement store.Analytics", s)
			}
			tc.fn(t, s, a)
		})
	}
}

// minute is the first whole minute after t0.
var minute0 = t0.Truncate(time.Minute).Add(time.Minute)

func minuteAt(n int) time.Time { return minute0.Add(time.Duration(n) * time.Minute) }

// rollup builds a rollup whose every counter derives from n, so a wrong
// column shows in the failure.
func rollup(m time.Time, tenant, consumer, code string, n int64) domain.Rollup {
	r := domain.Rollup{Minute: m, TenantID: tenant, ConsumerID: consumer, RouteID: "rte_1", StatusClass: "4xx", Code: code,
		CredentialType: "api_key", Count: n, BytesIn: 10 * n, BytesOut: 100 * n, LatencySumMicros: 1000 * n, LatencyMaxMicros: 7 * n,
		CostMicros: 1_500_001 * n}
	for i := range r.Latency {
		r.Latency[i] = n * int64(i+1)
	}
	return r
}

func upsert(t *testing.T, a store.Analytics, rs ...domain.Rollup) {
	t.Helper()
	if err := a.UpsertRollups(t.Context(), rs); err != nil {
		t.Fatalf("UpsertRollups: %v", err)
	}
}

func queryRollups(t *testing.T, a store.Analytics, f store.RollupFilter) []domain.Rollup {
	t.Helper()
	rs, err := a.QueryRollups(t.Context(), f)
	if err != nil {
		t.Fatalf("QueryRollups(%+v): %v", f, err)
	}
	return rs
}

func testRollupUpsertAdds(t *testing.T, s store.Store, a store.Analytics) {
	v := version(t, s)
	full := rollup(minuteAt(0), "ten_1", "con_1", "jwt.expired", 3)
	full.Model = "chat"
	upsert(t, a, full)
	same(t, "one upsert round-trips every field", queryRollups(t, a, store.RollupFilter{}), []domain.Rollup{full})

	// The same key again, twice inside one call, with a larger maximum
	// once and a smaller one once.
	more, less := rollup(minuteAt(0), "ten_1", "con_1", "jwt.expired", 5), rollup(minuteAt(0), "ten_1", "con_1", "jwt.expired", 1)
	more.Model, less.Model = "chat", "chat"
	upsert(t, a, more, less)
	want := rollup(minuteAt(0), "ten_1", "con_1", "jwt.expired", 9)
	want.LatencyMaxMicros = more.LatencyMaxMicros
	want.Model = "chat"
	same(t, "upserts of one key add every counter and keep the larger maximum", queryRollups(t, a, store.RollupFilter{}), []domain.Rollup{want})

	// Empty key fields are a value of their own, not a wildcard.
	empty := domain.Rollup{Minute: minuteAt(0), StatusClass: "2xx", Count: 1, Latency: [domain.RollupBuckets]int64{1}}
	upsert(t, a, empty)
	got := queryRollups(t, a, store.RollupFilter{})
	same(t, "an all-empty key is its own row, ordered first", got, []domain.Rollup{empty, want})
	if nv := version(t, s); nv != v {
		t.Errorf("rollups moved the version from %d to %d", v, nv)
	}
	if err := a.UpsertRollups(t.Context(), nil); err != nil {
		t.Errorf("UpsertRollups(nil): %v", err)
	}
}

func testRollupQuery(t *testing.T, s store.Store, a store.Analytics) {
	// Minutes 0, 1, 59 and 60 after minute0, which is 03:05 UTC: 0 and 1
	// fall in hour 03:00, 59 (04:04) and 60 (04:05) in hour 04:00.
	rows := []domain.Rollup{
		rollup(minuteAt(0), "ten_1", "con_1", "jwt.expired", 1),
		rollup(minuteAt(1), "ten_1", "con_1", "jwt.expired", 2),
		rollup(minuteAt(1), "ten_1", "con_2", "key.revoked", 4),
		rollup(minuteAt(59), "ten_2", "con_3", "jwt.expired", 8),
		rollup(minuteAt(60), "ten_1", "con_1", "jwt.expired", 16),
	}
	other := rollup(minuteAt(1), "ten_1", "con_1", "jwt.expired", 32)
	other.RouteID = "rte_2"
	// The same key but its AI model: a row of its own, kept apart when
	// merged by hour, and found by a model filter.
	model := rollup(minuteAt(0), "ten_1", "con_1", "jwt.expired", 64)
	model.Model = "chat"
	upsert(t, a, append(rows, other, model)...)
	hour := minute0.Truncate(time.Hour)
	merged := func(m time.Time, rs ...domain.Rollup) domain.Rollup {
		out := rs[0]
		out.Minute = m
		for _, r := range rs[1:] {
			out.Count += r.Count
			out.BytesIn += r.BytesIn
			out.BytesOut += r.BytesOut
			out.LatencySumMicros += r.LatencySumMicros
			out.LatencyMaxMicros = max(out.LatencyMaxMicros, r.LatencyMaxMicros)
			out.CostMicros += r.CostMicros
			for i := range out.Latency {
				out.Latency[i] += r.Latency[i]
			}
		}
		return out
	}
	cases := []struct {
		desc string
		f    store.RollupFilter
		want []domain.Rollup
	}{
		{"no filter: every minute row, ordered by minute then key", store.RollupFilter{},
			[]domain.Rollup{rows[0], model, rows[1], other, rows[2], rows[3], rows[4]}},
		{"model", store.RollupFilter{Model: "chat"}, []domain.Rollup{model}},
		{"model merged by hour", store.RollupFilter{Model: "chat", Step: time.Hour}, []domain.Rollup{merged(hour, model)}},
		{"since is inclusive, until exclusive", store.RollupFilter{Since: minuteAt(1), Until: minuteAt(59)},
			[]domain.Rollup{rows[1], other, rows[2]}},
		{"tenant", store.RollupFilter{TenantID: "ten_2"}, []domain.Rollup{rows[3]}},
		{"consumer", store.RollupFilter{ConsumerID: "con_2"}, []domain.Rollup{rows[2]}},
		{"route", store.RollupFilter{RouteID: "rte_2"}, []domain.Rollup{other}},
		{"reason code", store.RollupFilter{Code: "key.revoked"}, []domain.Rollup{rows[2]}},
		{"reason code merged by hour", store.RollupFilter{Code: "jwt.expired", Step: time.Hour, TenantID: "ten_1", RouteID: "rte_1"},
			[]domain.Rollup{merged(hour, rows[0], rows[1]), merged(hour, model), merged(hour.Add(time.Hour), rows[4])}},
		{"consumer and time together", store.RollupFilter{ConsumerID: "con_1", Since: minuteAt(1)},
			[]domain.Rollup{rows[1], other, rows[4]}},
		{"step of an hour merges the minutes of one key per UTC hour", store.RollupFilter{Step: time.Hour, ConsumerID: "con_1", RouteID: "rte_1"},
			[]domain.Rollup{merged(hour, rows[0], rows[1]), merged(hour, model), merged(hour.Add(time.Hour), rows[4])}},
		{"step of a day keeps keys apart", store.RollupFilter{Step: 24 * time.Hour, TenantID: "ten_1", RouteID: "rte_1"},
			[]domain.Rollup{merged(minute0.Truncate(24*time.Hour), rows[0], rows[1], rows[4]), merged(minute0.Truncate(24*time.Hour), model),
				merged(minute0.Truncate(24*time.Hour), rows[2])}},
		{"a one-minute step is the minutes themselves", store.RollupFilter{Step: time.Minute, TenantID: "ten_2"}, []domain.Rollup{rows[3]}},
		{"limit bounds the rows", store.RollupFilter{Limit: 2}, []domain.Rollup{rows[0], model}},
		{"nothing matches: empty", store.RollupFilter{ConsumerID: "con_nobody"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got := queryRollups(t, a, tc.f)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			same(t, "rollups", got, tc.want)
		})
	}
	t.Run("a step that is not whole minutes is refused", func(t *testing.T) {
		if _, err := a.QueryRollups(t.Context(), store.RollupFilter{Step: 90 * time.Second}); err == nil {
			t.Error("QueryRollups with a 90s step succeeded")
		}
	})
}

func testRollupRetention(t *testing.T, s store.Store, a store.Analytics) {
	upsert(t, a,
		rollup(minuteAt(0), "ten_1", "con_1", "", 1),
		rollup(minuteAt(0), "ten_1", "con_2", "", 1),
		rollup(minuteAt(1), "ten_1", "con_1", "", 1),
		rollup(minuteAt(2), "ten_1", "con_1", "", 1))
	n, err := a.DeleteRollupsBefore(t.Context(), minuteAt(1))
	if err != nil || n != 2 {
		t.Fatalf("DeleteRollupsBefore(minute 1) = %d, %v; want the 2 rows of minute 0", n, err)
	}
	got := queryRollups(t, a, store.RollupFilter{})
	if len(got) != 2 || !got[0].Minute.Equal(minuteAt(1)) || !got[1].Minute.Equal(minuteAt(2)) {
		t.Errorf("after retention: %s; want minutes 1 and 2", dump(got))
	}
	if n, err := a.DeleteRollupsBefore(t.Context(), minuteAt(1)); err != nil || n != 0 {
		t.Errorf("second DeleteRollupsBefore = %d, %v; want 0", n, err)
	}
}

func ruleTx(t *testing.T, tx store.Tx) store.AlertRuleTx {
	t.Helper()
	rt, ok := tx.(store.AlertRuleTx)
	if !ok {
		t.Fatalf("%T does not implement store.AlertRuleTx", tx)
	}
	return rt
}

func testAlertRules(t *testing.T, s store.Store, a store.Analytics) {
	ctx := t.Context()
	r1 := domain.AlertRule{ID: "alr_1", Name: "jwt storm", Kind: domain.AlertThreshold, Reason: "jwt.expired", By: domain.AlertByConsumer,
		Threshold: 10, Window: domain.Duration(time.Minute), Cooldown: domain.Duration(10 * time.Minute), CreatedAt: at(0), UpdatedAt: at(0)}
	r2 := domain.AlertRule{ID: "alr_2", Name: "jwt storm", TenantID: "ten_1", Kind: domain.AlertKeyExpiring,
		Within: domain.Duration(7 * 24 * time.Hour), CreatedAt: at(time.Second), UpdatedAt: at(2 * time.Second)}
	v := version(t, s)
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		rt := ruleTx(t, tx)
		if err := rt.PutAlertRule(ctx, r2); err != nil {
			return err
		}
		return rt.PutAlertRule(ctx, r1)
	})
	if nv := version(t, s); nv != v+1 {
		t.Errorf("version %d after one Update, want %d", nv, v+1)
	}
	got, err := a.ListAlertRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "ListAlertRules in id order, every field", got, []domain.AlertRule{r1, r2})
	view(t, s, func(ctx context.Context, tx store.Tx) error {
		g, err := ruleTx(t, tx).GetAlertRule(ctx, "alr_2")
		same(t, "GetAlertRule", g, r2)
		if err != nil {
			return err
		}
		_, err = ruleTx(t, tx).GetAlertRule(ctx, "alr_nope")
		wantErr(t, "GetAlertRule of a missing id", err, store.ErrNotFound, "alr_nope")
		wantErr(t, "PutAlertRule in a View", ruleTx(t, tx).PutAlertRule(ctx, r1), store.ErrReadOnly)
		wantErr(t, "DeleteAlertRule in a View", ruleTx(t, tx).DeleteAlertRule(ctx, "alr_1"), store.ErrReadOnly)
		return nil
	})

	cases := []struct {
		desc string
		fn   func(ctx context.Context, rt store.AlertRuleTx) error
		kind error
		part string
	}{
		{"a name taken in the same tenant conflicts", func(ctx context.Context, rt store.AlertRuleTx) error {
			dup := r1
			dup.ID = "alr_3"
			return rt.PutAlertRule(ctx, dup)
		}, store.ErrConflict, "jwt storm"},
		{"deleting a missing rule is not found", func(ctx context.Context, rt store.AlertRuleTx) error {
			return rt.DeleteAlertRule(ctx, "alr_nope")
		}, store.ErrNotFound, "alr_nope"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := s.Update(ctx, func(tx store.Tx) error { return tc.fn(ctx, ruleTx(t, tx)) })
			wantErr(t, tc.desc, err, tc.kind, tc.part)
		})
	}

	// Update in place, then delete.
	r1.Threshold, r1.UpdatedAt = 20, at(time.Minute)
	update(t, s, func(ctx context.Context, tx store.Tx) error { return ruleTx(t, tx).PutAlertRule(ctx, r1) })
	update(t, s, func(ctx context.Context, tx store.Tx) error { return ruleTx(t, tx).DeleteAlertRule(ctx, "alr_2") })
	got, err = a.ListAlertRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "after an update and a delete", got, []domain.AlertRule{r1})
}

func testAlerts(t *testing.T, s store.Store, a store.Analytics) {
	ctx := t.Context()
	v := version(t, s)
	mk := func(id, rule, tenant string, d time.Duration) domain.Alert {
		return domain.Alert{ID: id, RuleID: rule, RuleName: "r " + rule, Kind: domain.AlertThreshold, TenantID: tenant,
			Subject: "consumer con_1", ConsumerID: "con_1", Reason: "jwt.expired", Count: 11, Threshold: 10,
			Window: domain.Duration(time.Minute), Message: "11 jwt.expired in 1m", FiredAt: at(d)}
	}
	exp := at(48 * time.Hour)
	full := mk("evt_5", "alr_2", "ten_2", 5*time.Second)
	full.Kind, full.ExpiresAt, full.GraceUntil, full.Successor, full.ClientIP, full.CredentialID, full.RouteID =
		domain.AlertKeyExpiring, &exp, &exp, "k2", "2001:db8::7", "k1", "rte_1"
	all := []domain.Alert{
		mk("evt_1", "alr_1", "ten_1", 0),
		mk("evt_2", "alr_1", "", time.Second),
		mk("evt_4", "alr_1", "ten_1", 2*time.Second), // same time as evt_3: id breaks the tie
		mk("evt_3", "alr_2", "ten_1", 2*time.Second),
		full,
	}
	for _, al := range all {
		if err := a.InsertAlert(ctx, al); err != nil {
			t.Fatalf("InsertAlert %s: %v", al.ID, err)
		}
	}
	dup := all[0]
	dup.Message = "changed"
	if err := a.InsertAlert(ctx, dup); err != nil {
		t.Errorf("InsertAlert of a repeated id: %v", err)
	}
	if nv := version(t, s); nv != v {
		t.Errorf("alerts moved the version from %d to %d", v, nv)
	}
	list := func(t *testing.T, f store.AlertFilter) ([]domain.Alert, string) {
		t.Helper()
		items, next, err := a.ListAlerts(ctx, f)
		if err != nil {
			t.Fatalf("ListAlerts(%+v): %v", f, err)
		}
		return items, next
	}
	alertIDs := func(as []domain.Alert) []string { return ids(as, func(a domain.Alert) string { return a.ID }) }
	cases := []struct {
		desc string
		f    store.AlertFilter
		want []string
	}{
		{"newest first, ties by id descending", store.AlertFilter{}, []string{"evt_5", "evt_4", "evt_3", "evt_2", "evt_1"}},
		{"tenant", store.AlertFilter{TenantID: "ten_1"}, []string{"evt_4", "evt_3", "evt_1"}},
		{"rule", store.AlertFilter{RuleID: "alr_2"}, []string{"evt_5", "evt_3"}},
		{"since is inclusive", store.AlertFilter{Since: at(2 * time.Second)}, []string{"evt_5", "evt_4", "evt_3"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, next := list(t, tc.f)
			same(t, "ids", alertIDs(got), tc.want)
			if next != "" {
				t.Errorf("next %q on a complete page", next)
			}
		})
	}
	t.Run("every field round-trips and a repeated id is ignored", func(t *testing.T) {
		got, _ := list(t, store.AlertFilter{})
		same(t, "newest alert", got[0], full)
		same(t, "oldest alert", got[4], all[0])
	})
	t.Run("pages by cursor across a tie in time", func(t *testing.T) {
		var seen []string
		f := store.AlertFilter{Page: store.Page{Limit: 2}}
		for range 5 {
			items, next := list(t, f)
			seen = append(seen, alertIDs(items)...)
			if next == "" {
				break
			}
			f.After = next
		}
		same(t, "ids over pages", seen, []string{"evt_5", "evt_4", "evt_3", "evt_2", "evt_1"})
	})
	t.Run("a foreign cursor is ErrBadCursor", func(t *testing.T) {
		for _, c := range []string{"nope!", base64.RawURLEncoding.EncodeToString([]byte("x.evt_1")), base64.RawURLEncoding.EncodeToString([]byte("12"))} {
			_, _, err := a.ListAlerts(ctx, store.AlertFilter{Page: store.Page{After: c}})
			wantErr(t, fmt.Sprintf("cursor %q", c), err, store.ErrBadCursor)
		}
	})
	t.Run("retention", func(t *testing.T) {
		n, err := a.DeleteAlertsBefore(ctx, at(2*time.Second))
		if err != nil || n != 2 {
			t.Fatalf("DeleteAlertsBefore = %d, %v; want 2", n, err)
		}
		got, _ := list(t, store.AlertFilter{})
		same(t, "ids after retention", alertIDs(got), []string{"evt_5", "evt_4", "evt_3"})
	})
}
