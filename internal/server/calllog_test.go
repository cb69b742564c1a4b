package server

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// N mixed requests produce exactly N call records with the right codes,
// readable through the admin API within 1 s (the default flush interval is
// 200 ms; the harness uses 20 ms, the bound asserted is the default's 1 s).
func TestCallLogExactlyOneRecordPerRequest(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	_, good := h.newKey(w.consumer, nil)
	revID, revoked := h.newKey(w.consumer, nil)
	h.mustAdmin("POST", "/admin/v1/keys/"+revID+"/revoke", map[string]any{"reason": "test"})

	kinds := []struct {
		path string
		hdr  []string
		code string
	}{
		{"/acme/x", bearer(good), ""},
		{"/acme/x", bearer(revoked), "key.revoked"},
		{"/acme/x", nil, "auth.missing"},
		{"/nope", bearer(good), "route.not_found"},
		{"/acme/x", bearer("gk_live_garbage"), "key.malformed"},
	}
	const perKind = 40
	want := map[string]int{}
	ids := make(chan string, perKind*len(kinds))
	var wg sync.WaitGroup
	for _, k := range kinds {
		want[k.code] += perKind
		for i := 0; i < perKind; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.call("GET", k.path, k.hdr...)
				ids <- r.header.Get("X-Request-Id")
			}()
		}
	}
	wg.Wait()
	close(ids)
	sent := time.Now()
	total := perKind * len(kinds)
	var got map[string]int
	var n int
	for {
		got, n = map[string]int{}, 0
		after := ""
		for {
			_, out := h.adminDo("GET", "/admin/v1/calls?limit=1000&after="+after, nil)
			items, _ := out["items"].([]any)
			for _, it := range items {
				rec := it.(map[string]any)
				code, _ := rec["code"].(string)
				got[code]++
				n++
			}
			next, _ := out["next"].(string)
			if next == "" {
				break
			}
			after = next
		}
		if n >= total || time.Since(sent) > time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n != total {
		t.Fatalf("%d records after 1s, want exactly %d (%v)", n, total, got)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	for id := range ids {
		h.waitCall(id)
	}
	// The dropped counter is exposed on the admin API.
	st := h.mustAdmin("GET", "/admin/v1/status", nil)
	if fmt.Sprint(st) == "" || !containsKey(st, "dropped") {
		t.Fatalf("status lacks the call log's dropped counter: %v", st)
	}
}

func containsKey(m any, key string) bool {
	switch v := m.(type) {
	case map[string]any:
		for k, x := range v {
			if k == key || containsKey(x, key) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if containsKey(x, key) {
				return true
			}
		}
	}
	return false
}
