package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/clock"
	"gatehouse/internal/config"
	"gatehouse/internal/domain"
	"gatehouse/internal/server"
)

// gateway is a real Gatehouse server (server.New on a temp-file SQLite
// store, proxy and admin listeners on loopback :0 ports) whose clock the
// test controls, as in internal/server's harness.
type gateway struct {
	t            *testing.T
	proxy, admin string
	token        string
	clock        *clock.Fake
	client       *http.Client
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	g := &gateway{t: t, token: "gh_admin_doctor_test_0123456789abcdefgh", clock: clock.NewFake(time.Now().UTC()),
		client: &http.Client{Timeout: 10 * time.Second}}
	cfg := config.Default()
	cfg.Database = "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	cfg.ProxyAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.CallLog.FlushInterval = domain.Duration(20 * time.Millisecond)
	cfg.ShutdownTimeout = domain.Duration(5 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock: g.clock, AdminToken: g.token, Stdout: io.Discard})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		cancel()
		t.Fatal(err)
	}
	g.proxy, g.admin = "http://"+srv.ProxyAddr(), "http://"+srv.AdminAddr()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		g.client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	return g
}

// post calls the admin API and returns the created or changed object.
func (g *gateway) post(path string, body any) map[string]any {
	g.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, g.admin+"/admin/v1"+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		g.t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
	}
	return out
}

func (g *gateway) key(consumer string, extra map[string]any) (id, full string) {
	body := map[string]any{"consumer": consumer, "environment": "live"}
	for k, v := range extra {
		body[k] = v
	}
	out := g.post("/keys", body)
	return out["id"].(string), out["key"].(string)
}

// runDoctor runs `gatehouse doctor <args>` in process, as cmd/gatehouse
// does.
func runDoctor(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	cio := IO{Out: &out, Err: &errOut, Getenv: func(string) string { return "" }, In: strings.NewReader("")}
	root := &cobra.Command{Use: "gatehouse", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(Commands(cio)...)
	root.SetArgs(append([]string{"doctor"}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return result{out: out.String(), err: errOut.String(), e: err}
}

var ridRE = regexp.MustCompile(`request ID ([0-9A-Z]{26})`)

func TestDoctorCommand(t *testing.T) {
	g := newGateway(t)
	ten := g.post("/tenants", map[string]any{"slug": "acme", "name": "Acme"})["id"].(string)
	con := g.post("/consumers", map[string]any{"tenant": ten, "name": "shop", "scopes": []string{"orders:read", "orders:write"}})["id"].(string)
	svc := g.post("/services", map[string]any{"tenant": ten, "name": "orders", "targets": []string{upstream(t)}})["id"].(string)
	g.post("/routes", map[string]any{"service": svc, "paths": []string{"/orders"}, "auth": []string{"api_key"}, "scopes": []string{"orders:read"}})
	g.post("/routes", map[string]any{"service": svc, "paths": []string{"/admin-orders"}, "auth": []string{"api_key"}, "scopes": []string{"orders:admin"}})
	down := g.post("/services", map[string]any{"tenant": ten, "name": "down", "targets": []string{closedURL(t)}})["id"].(string)
	g.post("/routes", map[string]any{"service": down, "paths": []string{"/down"}, "auth": []string{"api_key"}})

	_, good := g.key(con, nil)
	revokedID, revoked := g.key(con, nil)
	g.post("/keys/"+revokedID+"/revoke", map[string]any{"reason": "leaked"})
	_, testKey := g.key(con, map[string]any{"environment": "test"})
	_, expiring := g.key(con, map[string]any{"expires_in": "1h"})
	g.clock.Advance(2 * time.Hour)
	secrets := []string{good, revoked, testKey, expiring}

	cases := []struct {
		desc    string
		args    []string
		ok      bool
		verdict string
		fix     string
		out     []string
	}{
		{desc: "a good key passes: exit 0", args: []string{"--url", g.proxy + "/orders/1", "-H", "Authorization: Bearer " + good},
			ok: true, verdict: "ok", fix: "Nothing to fix: the gateway would accept this request.",
			out: []string{"Local checks (no network)", "✓ key format: gk_live_", "✓ TCP: connected to", "✓ clock:",
				"✓ identity: credential", "application 'shop' in tenant 'acme'", "✓ route dry run: GET /orders/1 would be admitted",
				"forward/upstream: skip — dry run: the upstream was not called"}},
		{desc: "a good key with --send", args: []string{"--url", g.proxy + "/orders/1", "-H", "Authorization: Bearer " + good, "--send"},
			ok: true, verdict: "ok", fix: "Nothing to fix: the gateway accepted the request.", out: []string{"✓ real request: GET /orders/1 answered 200 (request ID "}},
		{desc: "revoked", args: []string{"--url", g.proxy + "/orders/1", "-H", "Authorization: Bearer " + revoked},
			verdict: "key.revoked", fix: "Ask the owner of application 'shop' for a new key",
			out: []string{"✗ route dry run: GET /orders/1 would be rejected with key.revoked (401)", "leaked"}},
		{desc: "expired (the gateway's clock moved on)", args: []string{"--url", g.proxy + "/orders/1", "-H", "X-API-Key: " + expiring},
			verdict: "key.expired", fix: "Ask the owner of application 'shop' for a new key"},
		{desc: "a test key on a live gateway", args: []string{"--url", g.proxy + "/orders/1", "-H", "Authorization: Bearer " + testKey},
			verdict: "key.wrong_environment", fix: "This is a test key and the gateway serves live: use a gk_live_ key",
			out: []string{"✗ gateway environment: the gateway serves live keys, and this is a test key"}},
		{desc: "Token instead of Bearer", args: []string{"--url", g.proxy + "/orders/1", "-H", "Authorization: Token " + good},
			verdict: "auth.scheme_unsupported", fix: "Send 'Authorization: Bearer <key>' instead of 'Token <key>'."},
		{desc: "the key in a header no route reads", args: []string{"--url", g.proxy + "/orders/1", "-H", "Api-Key: " + good},
			verdict: "auth.missing", fix: "Move the key from the Api-Key header to 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."},
		{desc: "a typo", args: []string{"--url", g.proxy + "/orders/1", "-H", "Authorization: Bearer " + good[:40] + flip(good[40]) + good[41:]},
			verdict: "key.checksum_mismatch", fix: "The key has a typo"},
		{desc: "a missing scope", args: []string{"--url", g.proxy + "/admin-orders/1", "-H", "Authorization: Bearer " + good},
			verdict: "scope.insufficient", fix: "The key lacks orders:admin: use a key with those scopes"},
		{desc: "no route", args: []string{"--url", g.proxy + "/nowhere", "-H", "Authorization: Bearer " + good},
			verdict: "route.not_found", fix: "Check the URL's host and path"},
		{desc: "upstream down: the dry run cannot see it, and says so", args: []string{"--url", g.proxy + "/down/x", "-H", "Authorization: Bearer " + good},
			ok: true, verdict: "ok", out: []string{"only --send can tell"}},
		{desc: "upstream down with --send", args: []string{"--url", g.proxy + "/down/x", "-H", "Authorization: Bearer " + good, "--send"},
			verdict: "upstream.unavailable", fix: "The gateway accepted the credential but the service behind it is down: tell the API owner, quoting request ID ",
			out: []string{"✗ real request: GET /down/x answered 502 upstream.unavailable"}},
		{desc: "a POST with a body from standard input", args: []string{"--url", g.proxy + "/orders", "-X", "post", "-d", "@-", "-H", "Authorization: Bearer " + good, "--send"},
			ok: true, verdict: "ok", out: []string{"Diagnosing POST http://", "POST /orders answered 200"}},
		{desc: "the gateway cannot be reached", args: []string{"--url", closedURL(t) + "/orders", "-H", "Authorization: Bearer " + good},
			verdict: "network.connection_refused", fix: "Nothing listens on port"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := runDoctor(t, tc.args...)
			if tc.ok != (r.e == nil) {
				t.Errorf("exit error %v, want ok=%v\n%s", r.e, tc.ok, r.out)
			}
			if r.e != nil && !errors.Is(r.e, ErrReported) {
				t.Errorf("error %v does not wrap ErrReported", r.e)
			}
			if r.err != "" {
				t.Errorf("stderr is not empty: %s", r.err)
			}
			if !strings.Contains(r.out, "\nverdict: "+tc.verdict+"\n") {
				t.Errorf("no 'verdict: %s' line:\n%s", tc.verdict, r.out)
			}
			if !strings.Contains(r.out, "\nfix: "+tc.fix) {
				t.Errorf("no 'fix: %s…' line:\n%s", tc.fix, r.out)
			}
			for _, f := range tc.out {
				if !strings.Contains(r.out, f) {
					t.Errorf("output lacks %q:\n%s", f, r.out)
				}
			}
			if tc.verdict == "upstream.unavailable" {
				m := ridRE.FindAllStringSubmatch(r.out, -1)
				if len(m) == 0 || !strings.Contains(r.out, "quoting request ID "+m[len(m)-1][1]+".") {
					t.Errorf("the fix does not quote the real request's ID:\n%s", r.out)
				}
			}
			for _, s := range secrets {
				if strings.Contains(r.out, s[20:40]) {
					t.Errorf("output contains a secret:\n%s", r.out)
				}
			}
		})
	}
}

func TestDoctorJSON(t *testing.T) {
	g := newGateway(t)
	ten := g.post("/tenants", map[string]any{"slug": "acme", "name": "Acme"})["id"].(string)
	con := g.post("/consumers", map[string]any{"tenant": ten, "name": "shop"})["id"].(string)
	svc := g.post("/services", map[string]any{"tenant": ten, "name": "orders", "targets": []string{upstream(t)}})["id"].(string)
	g.post("/routes", map[string]any{"service": svc, "paths": []string{"/orders"}, "auth": []string{"api_key"}})
	_, good := g.key(con, nil)
	cases := []struct {
		desc    string
		args    []string
		ok      bool
		verdict string
	}{
		{desc: "ok", args: []string{"--url", g.proxy + "/orders", "-H", "Authorization: Bearer " + good, "-o", "json"}, ok: true, verdict: "ok"},
		{desc: "a rejection", args: []string{"--url", g.proxy + "/orders", "-H", "Authorization: Token " + good, "--output=json"}, verdict: "auth.scheme_unsupported"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := runDoctor(t, tc.args...)
			if tc.ok != (r.e == nil) {
				t.Errorf("exit error %v, want ok=%v", r.e, tc.ok)
			}
			dec := json.NewDecoder(strings.NewReader(r.out))
			dec.DisallowUnknownFields()
			var rep struct {
				Verdict string `json:"verdict"`
				Fix     string `json:"fix"`
				Checks  []struct {
					Name   string `json:"name"`
					OK     bool   `json:"ok"`
					Detail string `json:"detail"`
				} `json:"checks"`
			}
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("-o json: %v\n%s", err, r.out)
			}
			if dec.More() {
				t.Fatalf("-o json printed more than one value:\n%s", r.out)
			}
			if rep.Verdict != tc.verdict || rep.Fix == "" || len(rep.Checks) < 5 {
				t.Fatalf("report %+v", rep)
			}
			for _, c := range rep.Checks {
				if c.Name == "" || c.Detail == "" {
					t.Errorf("check without name or detail: %+v", c)
				}
			}
		})
	}
}

func TestDoctorUsage(t *testing.T) {
	cases := []struct {
		desc   string
		args   []string
		errOut []string
		notOut string
	}{
		{desc: "--url is required", args: []string{"-H", "X-API-Key: x"}, errOut: []string{"missing required flag --url", "Run 'gatehouse doctor --help' for usage."}},
		{desc: "a header without a colon is named by position, not echoed", args: []string{"--url", "http://127.0.0.1:1/", "-H", "gk_live_notaheader"},
			errOut: []string{"-H number 1: a header must be 'Name: value'"}, notOut: "gk_live_notaheader"},
		{desc: "stray arguments are not echoed", args: []string{"--url", "http://127.0.0.1:1/", "gk_live_pasted_here"},
			errOut: []string{"doctor takes flags only"}, notOut: "gk_live_pasted_here"},
		{desc: "a URL without a scheme", args: []string{"--url", "api.example.com/v1"}, errOut: []string{"the URL has no scheme"}},
		{desc: "an unknown output format", args: []string{"--url", "http://127.0.0.1:1/", "-o", "yaml"}, errOut: []string{`unknown output format "yaml"`}},
		{desc: "an unreadable --data file", args: []string{"--url", "http://127.0.0.1:1/", "-d", "@/nonexistent/body.json"}, errOut: []string{"--data @/nonexistent/body.json: no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := runDoctor(t, tc.args...)
			if r.e == nil || !errors.Is(r.e, ErrReported) {
				t.Fatalf("error %v, want a reported usage error", r.e)
			}
			if n := strings.Count(r.err, "error: "); n != 1 {
				t.Errorf("error reported %d times:\n%s", n, r.err)
			}
			for _, f := range tc.errOut {
				if !strings.Contains(r.err, f) {
					t.Errorf("stderr lacks %q:\n%s", f, r.err)
				}
			}
			if tc.notOut != "" && (strings.Contains(r.err, tc.notOut) || strings.Contains(r.out, tc.notOut)) {
				t.Errorf("output echoes %q", tc.notOut)
			}
		})
	}
}

// upstream is a real HTTP service behind the gateway.
func upstream(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// flip changes a base62 character to another one.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
