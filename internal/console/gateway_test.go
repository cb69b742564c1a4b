package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/admin"
	"gatehouse/internal/config"
	"gatehouse/internal/console"
	"gatehouse/internal/domain"
	"gatehouse/internal/server"
)

// gateway is a whole Gatehouse node built from its real parts: the
// server (snapshot, pipeline, call log on a temp SQLite store) serving the
// proxy listener, an admin API over the same store that reloads the
// node's snapshot on every change, the console beside the admin API and
// the portal in front of the proxy — mounted the way the integrator
// mounts them.
type gateway struct {
	t        *testing.T
	srv      *server.Server
	api      *admin.API
	console  *console.Console
	portal   *console.Portal
	admin    *httptest.Server // admin listener: /admin/v1/, /console/
	proxy    *httptest.Server // proxy listener: the portal, then the pipeline
	upstream *httptest.Server
	root     string
}

// newGateway builds the gateway; mods adjust the portal's configuration
// (a test's fake clock, to refill the login budget every browser at
// 127.0.0.1 shares).
func newGateway(t *testing.T, mods ...func(*console.PortalConfig)) *gateway {
	t.Helper()
	g := &gateway{t: t, root: "gh_console_test_root_token_0123456789abcdef"}
	g.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "consumer": r.Header.Get("X-Gatehouse-Consumer")})
	}))
	t.Cleanup(g.upstream.Close)
	cfg := config.Default()
	dir := t.TempDir()
	cfg.Database = "sqlite://" + filepath.Join(dir, "gatehouse.db")
	cfg.ProxyAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.CallLog.FlushInterval = domain.Duration(20 * time.Millisecond)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	srv, err := server.New(ctx, cfg, server.Options{Logger: log, AdminToken: g.root, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	g.srv = srv
	g.api = admin.New(admin.Config{Store: srv.Store(), OnChange: srv.Reload, Logger: log, Environment: cfg.Environment})

	if g.console, err = console.New(console.Config{Admin: g.api, Store: srv.Store(), Logger: log}); err != nil {
		t.Fatal(err)
	}
	adminMux := http.NewServeMux()
	adminMux.Handle("/admin/", g.api)
	adminMux.Handle("/console/", g.console)
	g.admin = httptest.NewServer(adminMux)
	t.Cleanup(g.admin.Close)

	portalToken := g.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "portal", "role": "admin"})["token"].(string)
	pc := console.PortalConfig{Admin: g.api, Token: portalToken, Proxy: srv.Handler(), Store: srv.Store(), Logger: log}
	for _, m := range mods {
		m(&pc)
	}
	if g.portal, err = console.NewPortal(pc); err != nil {
		t.Fatal(err)
	}
	proxyMux := http.NewServeMux()
	proxyMux.Handle(console.DefaultPortalBase+"/", g.portal)
	proxyMux.Handle("/", srv.Handler())
	g.proxy = httptest.NewServer(proxyMux)
	t.Cleanup(g.proxy.Close)
	return g
}

func (g *gateway) mustAPI(method, path string, body any) map[string]any {
	g.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, g.admin.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+g.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		g.t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

// call makes a request through the proxy with key and returns the status
// and reason code; the call log is flushed so the record is readable.
func (g *gateway) call(method, path, key string) (int, string) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.proxy.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	code, _ := body["code"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.srv.CallLog().Flush(ctx); err != nil {
		g.t.Fatalf("flush call log: %v", err)
	}
	return resp.StatusCode, code
}

// portalUserLogin posts the portal's username and password form and
// returns the answer.
func (b *browser) portalUserLogin(username, password string) page {
	b.t.Helper()
	base := console.DefaultPortalBase
	lp := b.get(base + "/login")
	return b.post(base+"/login", form("username", username, "password", password, "login_csrf", find(b.t, loginCSRFRE, lp.body)))
}

// devLogin logs a browser in to the portal with a developer account and
// returns the session's CSRF token.
func (b *browser) devLogin(username, password string) string {
	b.t.Helper()
	if res := b.portalUserLogin(username, password); res.status != http.StatusSeeOther {
		b.t.Fatalf("portal login as %s: %d %s", username, res.status, res.body)
	}
	return b.csrf(console.DefaultPortalBase + "/keys")
}

// portalLogin logs a browser in to the portal with key and returns the
// session's CSRF token.
func (b *browser) portalLogin(key string) string {
	b.t.Helper()
	base := console.DefaultPortalBase
	lp := b.get(base + "/login")
	res := b.post(base+"/login", form("key", key, "login_csrf", find(b.t, loginCSRFRE, lp.body)))
	if res.status != http.StatusSeeOther {
		b.t.Fatalf("portal login: %d %s", res.status, res.body)
	}
	return b.csrf(base + "/keys")
}
