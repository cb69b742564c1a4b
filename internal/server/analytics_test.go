package server

import (
	"context"
	"testing"

	"gatehouse/internal/store"
)

// Every proxied call lands in the per-minute rollups (written on the
// call log's path, flushed at shutdown at the latest): totals by code
// equal the calls made.
func TestRollupsEqualTheCalls(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	_, good := h.newKey(w.consumer, nil)
	want := map[string]int64{"": 12, "auth.missing": 5, "key.malformed": 3}
	for i := int64(0); i < want[""]; i++ {
		h.call("GET", "/acme/x", bearer(good)...)
	}
	for i := int64(0); i < want["auth.missing"]; i++ {
		h.call("GET", "/acme/x")
	}
	for i := int64(0); i < want["key.malformed"]; i++ {
		h.call("GET", "/acme/x", bearer("gk_live_nope")...)
	}
	h.stop() // flushes the call log, then the rollups
	got := map[string]int64{}
	db := reopenStore(t, h)
	rows, err := db.(store.Analytics).QueryRollups(context.Background(), store.RollupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		got[r.Code] += r.Count
	}
	for code, n := range want {
		if got[code] != n {
			t.Errorf("rollups for code %q: %d, want %d (all: %v)", code, got[code], n, got)
		}
	}
}
