package server

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads /metrics from the admin listener and sums the samples of a
// series whose labels contain every given "name=\"value\"" pair.
func (h *harness) scrape(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

func sum(lines []string, name string, labels ...string) float64 {
	var total float64
	for _, l := range lines {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		ok := true
		for _, lb := range labels {
			if !strings.Contains(l, lb) {
				ok = false
			}
		}
		if ok {
			v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			total += v
		}
	}
	return total
}

// After a scripted mix of requests, the counters by reason equal the mix
// exactly.
func TestMetricsEqualTheMix(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	_, good := h.newKey(w.consumer, nil)
	revID, revoked := h.newKey(w.consumer, nil)
	h.mustAdmin("POST", "/admin/v1/keys/"+revID+"/revoke", map[string]any{"reason": "x"})
	mix := []struct {
		n      int
		path   string
		hdr    []string
		code   string
		status string
	}{
		{7, "/acme/x", bearer(good), "ok", "200"},
		{5, "/acme/x", bearer(revoked), "key.revoked", "401"},
		{3, "/acme/x", nil, "auth.missing", "401"},
		{4, "/acme/x", bearer("gk_live_garbage"), "key.malformed", "401"},
		{2, "/nowhere", bearer(good), "route.not_found", "404"},
	}
	for _, m := range mix {
		for i := 0; i < m.n; i++ {
			h.call("GET", m.path, m.hdr...)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		lines := h.scrape(t)
		ok := true
		for _, m := range mix {
			got := sum(lines, "gatehouse_requests_total", `code="`+m.code+`"`, `status="`+m.status+`"`)
			if got != float64(m.n) {
				ok = false
				if time.Now().After(deadline) {
					t.Errorf("requests_total{code=%s} = %v, want %d", m.code, got, m.n)
				}
			}
		}
		if ok {
			if got := sum(lines, "gatehouse_auth_failures_total", `reason="key.revoked"`); got != 5 {
				t.Errorf("auth_failures_total{reason=key.revoked} = %v, want 5", got)
			}
			if sum(lines, "gatehouse_snapshot_version") == 0 {
				t.Error("no snapshot version series")
			}
			return
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
