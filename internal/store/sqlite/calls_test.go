package sqlite

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// TestCallQueriesUsePartialIndexes: the consumer and reason filters of the
// call log are served by their partial indexes (migration 00011), not by a
// scan of the time index — the reason the queries repeat the indexes'
// conditions.
func TestCallQueriesUsePartialIndexes(t *testing.T) {
	s := openTemp(t)
	since := time.Now().Add(-24 * time.Hour)
	cases := []struct {
		desc  string
		f     store.CallFilter
		index string
	}{
		{"consumer filter", store.CallFilter{ConsumerID: "con_1", Since: since}, "calls_consumer_ts"},
		{"reason filter", store.CallFilter{Code: "key.revoked", Since: since}, "calls_code_ts"},
		{"consumer filter, next page", store.CallFilter{ConsumerID: "con_1", Page: store.Page{After: encodeCallCursor(10, "01J")}}, "calls_consumer_ts"},
		{"time range only", store.CallFilter{Since: since}, "calls_ts"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			query, args, _, err := callsQuery(c.f)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(plan, "; "); !strings.Contains(got, "INDEX "+c.index+" ") {
				t.Errorf("plan %q does not use %s", got, c.index)
			}
		})
	}
}
