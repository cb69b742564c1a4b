package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/config"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// harness runs a real Gatehouse server (embedded SQLite store on a temp
// file, real listeners on loopback :0 ports) with a fake clock, a real
// upstream, and a captured log.
type harness struct {
	t        testing.TB
	srv      *Server
	clock    *clock.Fake
	proxy    string
	admin    string
	token    string
	upstream *httptest.Server
	logs     *syncBuffer
	cancel   context.CancelFunc
	done     chan error
	client   *http.Client
	dbURL    string
}

// reopenStore opens the harness's database again (after stop).
func reopenStore(t *testing.T, h *harness) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func newHarness(t testing.TB, mutate ...func(*config.Config)) *harness {
	t.Helper()
	return newHarnessWith(t, Options{}, mutate...)
}

func newHarnessWith(t testing.TB, o Options, mutate ...func(*config.Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock.NewFake(t0), logs: &syncBuffer{}, token: "gh_admin_test_token_0123456789abcdefghij"}
	h.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"path": r.URL.Path, "query": r.URL.RawQuery,
			"tenant": r.Header.Get("X-Gatehouse-Tenant"), "consumer": r.Header.Get("X-Gatehouse-Consumer"),
			"credential": r.Header.Get("X-Gatehouse-Credential"), "scopes": r.Header.Get("X-Gatehouse-Scopes"),
			"request_id": r.Header.Get("X-Request-Id"), "authorization": r.Header.Get("Authorization"),
		})
	}))
	t.Cleanup(h.upstream.Close)
	cfg := config.Default()
	h.dbURL = "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	cfg.Database = h.dbURL
	cfg.ProxyAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.CallLog.FlushInterval = domain.Duration(20 * time.Millisecond)
	cfg.ShutdownTimeout = domain.Duration(5 * time.Second)
	for _, m := range mutate {
		m(&cfg)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	o.Logger, o.Clock, o.AdminToken = log, h.clock, h.token
	srv, err := New(ctx, cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.proxy = "http://" + srv.ProxyAddr()
	h.admin = "http://" + srv.AdminAddr()
	h.done = make(chan error, 1)
	go func() { h.done <- srv.Serve(ctx) }()
	h.client = &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	// Close the client's idle connections first: a connection the client
	// dialled but never used is "new" to the server, and Shutdown waits up
	// to 5 s for such connections.
	h.client.CloseIdleConnections()
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Errorf("server shutdown: %v", err)
	}
}

// adminDo calls the admin API and decodes the JSON answer.
func (h *harness) adminDo(method, path string, body any) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return resp.StatusCode, out
}

// mustAdmin is adminDo that fails the test on a non-2xx answer.
func (h *harness) mustAdmin(method, path string, body any) map[string]any {
	h.t.Helper()
	code, out := h.adminDo(method, path, body)
	if code >= 300 {
		h.t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// call sends a request to the proxy listener.
func (h *harness) call(method, path string, hdr ...string) response {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.proxy+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// world is a tenant with a consumer, a service on the harness upstream and
// a route /api.
type world struct {
	tenant, tenantSlug, consumer, service, route string
}

func (h *harness) newWorld(slug string, scopes []string, routeScopes []string) world {
	h.t.Helper()
	var w world
	w.tenantSlug = slug
	w.tenant = h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": slug, "name": slug + " team"})["id"].(string)
	w.consumer = h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": w.tenant, "name": slug + "-app", "scopes": scopes})["id"].(string)
	w.service = h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": w.tenant, "name": slug + "-svc", "targets": []string{h.upstream.URL}})["id"].(string)
	w.route = h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/" + slug},
		"auth": []string{"api_key"}, "scopes": routeScopes})["id"].(string)
	return w
}

// keyedRoute creates tenant acme with consumer shop, a service of tenant
// acme with the given fields (name and targets at least), a route on path
// that takes API keys, and a live key of the consumer: the setup of the
// listener and engine tests. It returns the service and route IDs and the
// key.
func (h *harness) keyedRoute(path string, service map[string]any) (svc, route, key string) {
	h.t.Helper()
	tenant := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "acme", "name": "Acme"})["id"].(string)
	consumer := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": tenant, "name": "shop"})["id"].(string)
	body := map[string]any{"tenant": tenant}
	for k, v := range service {
		body[k] = v
	}
	svc = h.mustAdmin("POST", "/admin/v1/services", body)["id"].(string)
	route = h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{path}, "auth": []string{"api_key"}})["id"].(string)
	_, key = h.newKey(consumer, nil)
	return svc, route, key
}

// newKey creates a key and returns (id, full key).
func (h *harness) newKey(consumer string, extra map[string]any) (string, string) {
	h.t.Helper()
	body := map[string]any{"consumer": consumer, "environment": "live"}
	for k, v := range extra {
		body[k] = v
	}
	out := h.mustAdmin("POST", "/admin/v1/keys", body)
	return out["id"].(string), out["key"].(string)
}

// waitCall polls the admin API until the call record of id is readable.
func (h *harness) waitCall(id string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, out := h.adminDo("GET", "/admin/v1/calls/"+id, nil)
		if code == 200 {
			return out
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("call %s not readable within 3s (last %d %v)", id, code, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func bearer(k string) []string { return []string{"Authorization", "Bearer " + k} }

func contains(s, sub string) bool { return sub != "" && strings.Contains(s, sub) }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// listenerEngines are the four ways a request crosses the gateway: each
// proxy listener (proxy_server) with each forwarding engine (a service's
// engine).
var listenerEngines = []struct {
	desc, listener, engine string
}{
	{"fast listener, fast engine", config.ProxyServerFast, "fast"},
	{"fast listener, httputil engine", config.ProxyServerFast, "httputil"},
	{"net/http listener, fast engine", config.ProxyServerNetHTTP, "fast"},
	{"net/http listener, httputil engine", config.ProxyServerNetHTTP, "httputil"},
}

// inMemoryAndRedis runs test on a gateway counting in memory, then on one
// counting in the real Redis (which must answer in CI).
func inMemoryAndRedis(t *testing.T, test func(*testing.T, *harness)) {
	for _, mode := range []string{"memory", "redis"} {
		t.Run(mode, func(t *testing.T) {
			var mutate []func(*config.Config)
			if mode == "redis" {
				u := testRedisURL(t)
				mutate = append(mutate, func(c *config.Config) { c.RedisURL = u })
			}
			test(t, newHarness(t, mutate...))
		})
	}
}
