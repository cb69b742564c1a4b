package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/internal/testenv"
)

// chromiumPath is Debian's chromium, as the console's browser tests use.
const chromiumPath = "/usr/bin/chromium"

// fetchResult is what the test page's fetch() saw: the answer as the page
// may read it, or the error the browser raised instead.
type fetchResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	// RequestID is X-Request-Id as the page reads it: the gateway exposes
	// its own fields, so a developer can quote it.
	RequestID string `json:"request_id"`
	Error     string `json:"error"`
}

// TestCORSInARealBrowser: headless Chromium loads a page from one origin
// that fetch()es a Gatehouse route on another origin with a key header, so
// the browser sends a real preflight. From the allowed origin the page
// reads the upstream's 200 — and, for a revoked or garbage key, the
// gateway's problem+json with its reason code, which only the CORS fields
// on the rejection make readable. From another origin the fetch fails in
// the browser.
func TestCORSInARealBrowser(t *testing.T) {
	testenv.Chromium(t)
	page := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><title>shop</title><p>a page on another origin</p>`)
		}))
		t.Cleanup(s.Close)
		return s
	}
	allowed, other := page(), page()

	h := newHarness(t)
	w := h.newWorld("shop", nil, nil)
	h.mustAdmin("PATCH", "/admin/v1/routes/"+w.route, map[string]any{"cors": map[string]any{
		"allowed_origins": []string{allowed.URL}, "allowed_headers": []string{"content-type"}}})
	_, key := h.newKey(w.consumer, nil)
	revokedID, revoked := h.newKey(w.consumer, nil)
	h.mustAdmin("POST", "/admin/v1/keys/"+revokedID+"/revoke", map[string]any{"reason": "compromised"})

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	t.Cleanup(cancel)

	cases := []struct {
		desc      string
		page      string
		key       string
		status    int
		bodyHas   string
		wantError bool
	}{
		{desc: "allowed origin, good key: the upstream's answer", page: allowed.URL, key: key,
			status: 200, bodyHas: `"consumer":"shop-app"`},
		{desc: "allowed origin, revoked key: the page reads key.revoked", page: allowed.URL, key: revoked,
			status: 401, bodyHas: `"code":"key.revoked"`},
		{desc: "allowed origin, garbage key: the page reads the offline diagnosis", page: allowed.URL, key: "gk_live_garbage",
			status: 401, bodyHas: `"code":"key.malformed"`},
		{desc: "another origin: the browser refuses the fetch", page: other.URL, key: key, wantError: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, cancel := chromedp.NewContext(alloc)
			defer cancel()
			ctx, cancelT := context.WithTimeout(ctx, 30*time.Second)
			defer cancelT()
			if err := chromedp.Do(ctx, chromedp.Navigate(tc.page+"/")); err != nil {
				t.Fatalf("load the page: %v", err)
			}
			// X-API-Key is not CORS-safelisted: the browser must preflight.
			js := fmt.Sprintf(`fetch(%q, {headers: {"X-API-Key": %q}})
				.then(async r => ({status: r.status, body: await r.text(), request_id: r.headers.get("X-Request-Id") || "", error: ""}))
				.catch(e => ({status: 0, body: "", request_id: "", error: String(e)}))`, h.proxy+"/shop/orders", tc.key)
			res, err := chromedp.Run(ctx, chromedp.Evaluate[fetchResult](js, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			if tc.wantError {
				if res.Error == "" || res.Status != 0 {
					t.Fatalf("the page read the answer from a disallowed origin: %+v", res)
				}
				return
			}
			if res.Error != "" || res.Status != tc.status || !strings.Contains(res.Body, tc.bodyHas) || res.RequestID == "" {
				t.Fatalf("the page saw %+v; want status %d, a body with %s and the request ID", res, tc.status, tc.bodyHas)
			}
		})
	}

	// Every fetch above was preceded by a real preflight, recorded like
	// any call: the allowed ones 204 with no credential, the other refused.
	t.Run("the call log has the browser's preflights", func(t *testing.T) {
		var ok204, refused int
		deadline := time.Now().Add(3 * time.Second)
		for {
			ok204, refused = 0, 0
			_, out := h.adminDo("GET", "/admin/v1/calls?route="+w.route+"&limit=100", nil)
			items, _ := out["items"].([]any)
			for _, it := range items {
				c := it.(map[string]any)
				if c["method"] != "OPTIONS" {
					continue
				}
				switch {
				case c["status"] == float64(204) && str(c["code"]) == "" && str(c["credential_type"]) == "":
					ok204++
				case c["status"] == float64(403) && c["code"] == "cors.origin_not_allowed":
					refused++
				}
			}
			if ok204 >= 3 && refused >= 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if ok204 < 3 || refused < 1 {
			t.Fatalf("preflights in the call log: %d answered 204, %d refused; want ≥3 and ≥1", ok204, refused)
		}
	})
}
