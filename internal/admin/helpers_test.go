package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// testEnv is the real admin API on a real temp-file SQLite store, served
// on loopback by httptest.
type testEnv struct {
	t     *testing.T
	store *sqlite.Store
	clock *clock.Fake
	srv   *httptest.Server
	root  string // token of the bootstrap admin

	mu sync.Mutex
	// changes counts OnChange calls; versions records the store version
	// OnChange saw (it must already include the committed change).
	changes   int
	versions  []int64
	changeErr error
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// testMasterKey seals the secrets of the test API (bytes.Repeat keeps it
// recognisable in a failure message, and it is no real key).
var testMasterKey = bytes.Repeat([]byte{0x5a}, secrets.KeySize)

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with a hook to adjust the API's Config.
func newEnvWith(t *testing.T, mod func(*Config)) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	root, err := Bootstrap(ctx, st, "")
	if err != nil || root == "" {
		t.Fatalf("bootstrap: %q %v", root, err)
	}
	e := &testEnv{t: t, store: st, clock: clock.NewFake(t0), root: root}
	box, err := secrets.New(testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Store: st, Clock: e.clock, Version: "test-1", Secrets: box,
		OnChange: func(ctx context.Context) error {
			v, err := st.Version(ctx)
			if err != nil {
				return err
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			e.changes++
			e.versions = append(e.versions, v)
			return e.changeErr
		},
		Status: func(context.Context) any {
			return map[string]any{"calllog": map[string]int{"queued": 0, "written": 7, "dropped": 0}}
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	e.srv = httptest.NewServer(New(cfg))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *testEnv) changeCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changes
}

// resp is one answer.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r resp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

func (r resp) str(t *testing.T, key string) string {
	t.Helper()
	v, _ := r.JSON(t)[key].(string)
	return v
}

// items returns the items of a list answer.
func (r resp) items(t *testing.T) []map[string]any {
	t.Helper()
	var l struct {
		Items []map[string]any `json:"items"`
		Next  *string          `json:"next"`
	}
	if err := json.Unmarshal(r.Body, &l); err != nil || l.Items == nil || l.Next == nil {
		t.Fatalf("not a list answer (%v): %s", err, r.Body)
	}
	return l.Items
}

// do sends one request; body is JSON-encoded unless it is a string.
func (e *testEnv) do(token, method, path string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// must sends a request as the root admin and fails unless it answers want.
func (e *testEnv) must(want int, method, path string, body any) resp {
	e.t.Helper()
	r := e.do(e.root, method, path, body)
	if r.Status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// problemOf checks r is a problem+json answer with status and code, and
// returns its detail.
func problemOf(t *testing.T, r resp, status int, code string) string {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	p := r.JSON(t)
	if p["code"] != code {
		t.Fatalf("code %v, want %s: %s", p["code"], code, r.Body)
	}
	if p["request_id"] == "" || r.Header.Get("X-Request-Id") != p["request_id"] {
		t.Fatalf("request_id %v does not match X-Request-Id %q", p["request_id"], r.Header.Get("X-Request-Id"))
	}
	d, _ := p["detail"].(string)
	if d == "" {
		t.Fatalf("problem without detail: %s", r.Body)
	}
	return d
}

// fixture is a tenant with a consumer, a key, a service and a route.
type fixture struct {
	tenantID, slug  string
	consumerID      string
	consumerName    string
	keyID, key      string
	serviceID, name string
	routeID         string
}

func (e *testEnv) fixture(slug string) fixture {
	e.t.Helper()
	f := fixture{slug: slug, consumerName: "app", name: slug + "-svc"}
	f.tenantID = e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": slug, "name": strings.ToUpper(slug)}).str(e.t, "id")
	f.consumerID = e.must(201, "POST", "/admin/v1/consumers", map[string]any{"tenant": slug, "name": f.consumerName,
		"scopes": []string{"orders:read", "orders:write"}}).str(e.t, "id")
	k := e.must(201, "POST", "/admin/v1/keys", map[string]any{"consumer": f.consumerID})
	f.keyID, f.key = k.str(e.t, "id"), k.str(e.t, "key")
	f.serviceID = e.must(201, "POST", "/admin/v1/services", map[string]any{"tenant": slug, "name": f.name,
		"targets": []string{"http://127.0.0.1:9"}}).str(e.t, "id")
	f.routeID = e.must(201, "POST", "/admin/v1/routes", map[string]any{"service": f.serviceID, "paths": []string{"/" + slug}}).str(e.t, "id")
	return f
}

// newAdmin creates an admin and returns its token.
func (e *testEnv) newAdmin(name, role, tenant string) (id, token string) {
	e.t.Helper()
	body := map[string]any{"name": name, "role": role}
	if tenant != "" {
		body["tenant"] = tenant
	}
	r := e.must(201, "POST", "/admin/v1/admins", body)
	return r.str(e.t, "id"), r.str(e.t, "token")
}

// auditAll reads the whole audit log straight from the store, oldest
// first (the store lists newest first).
func (e *testEnv) auditAll() []map[string]any {
	e.t.Helper()
	var out []map[string]any
	after := ""
	for {
		items, next, err := e.store.ListAudit(context.Background(), store.ListFilter{Page: store.Page{After: after, Limit: 500}})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, it := range items {
			b, _ := json.Marshal(it)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			out = append(out, m)
		}
		if next == "" {
			slices.Reverse(out)
			return out
		}
		after = next
	}
}

func fmtAny(v any) string { return fmt.Sprint(v) }

type storeTx = store.Tx
