package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/admin"
	"gatehouse/internal/analytics"
	"gatehouse/internal/clock"
	"gatehouse/internal/console"
	"gatehouse/internal/domain"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store/sqlite"
)

// env is the real admin API over a real temp-file SQLite store, with the
// console mounted beside it as the integrator mounts it on the admin
// listener, served on loopback.
type env struct {
	t       testing.TB
	store   *sqlite.Store
	clock   *clock.Fake
	api     *admin.API
	console *console.Console
	srv     *httptest.Server
	root    string // the bootstrap admin's token
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func newEnv(t testing.TB, mod ...func(*console.Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	root, err := admin.Bootstrap(ctx, st, "")
	if err != nil || root == "" {
		t.Fatalf("bootstrap: %v", err)
	}
	e := &env{t: t, store: st, clock: clock.NewFake(t0), root: root}
	box, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	e.api = admin.New(admin.Config{Store: st, Clock: e.clock, Secrets: box})
	cfg := console.Config{Admin: e.api, Store: st, Clock: e.clock}
	for _, m := range mod {
		m(&cfg)
	}
	if e.console, err = console.New(cfg); err != nil {
		t.Fatalf("console.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", e.api)
	mux.Handle("/console/", e.console)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// insertCalls writes call records to the store and, when rollups is set,
// their per-minute rollups too, as the gateway's call log does with
// analytics on (analytics.Sink).
func (e *env) insertCalls(calls []domain.Call, rollups bool) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.store.InsertCalls(ctx, calls); err != nil {
		e.t.Fatal(err)
	}
	if !rollups {
		return
	}
	agg := analytics.NewAggregator(e.store, analytics.Options{NoBackground: true, Clock: e.clock, Logger: slog.New(slog.DiscardHandler)})
	agg.Add(calls)
	if err := agg.Flush(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// apiDo calls the admin API over HTTP with a token and decodes the answer.
func (e *env) apiDo(token, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// mustAPI is apiDo as the bootstrap admin, failing on a non-2xx answer.
func (e *env) mustAPI(method, path string, body any) map[string]any {
	e.t.Helper()
	st, out := e.apiDo(e.root, method, path, body)
	if st >= 300 {
		e.t.Fatalf("%s %s: %d %v", method, path, st, out)
	}
	return out
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see every 303.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	jar  *cookiejar.Jar
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, jar: jar, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is one answer.
type page struct {
	status int
	body   string
	header http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(body), header: resp.Header}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, hdr ...string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.base + "/console/")
	if strings.Contains(name, "portal") {
		u, _ = url.Parse(b.base + console.DefaultPortalBase + "/")
	}
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value, path string) {
	u, _ := url.Parse(b.base + path)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: path}})
}

var (
	csrfRE      = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	loginCSRFRE = regexp.MustCompile(`name="login_csrf" value="([^"]+)"`)
)

func find(t testing.TB, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s not found in:\n%s", re, body)
	}
	return m[1]
}

// login logs the browser in to the console with token and returns the
// session's CSRF token (read from the dashboard's forms).
func (b *browser) login(token string) string {
	b.t.Helper()
	lp := b.get("/console/login")
	res := b.post("/console/login", url.Values{"token": {token}, "login_csrf": {find(b.t, loginCSRFRE, lp.body)}, "next": {"/console/"}})
	if res.status != http.StatusSeeOther {
		b.t.Fatalf("login: %d %s", res.status, res.body)
	}
	return b.csrf("/console/tenants")
}

// csrf reads the session's CSRF token from a page's forms.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	p := b.get(path)
	if p.status != http.StatusOK {
		b.t.Fatalf("GET %s: %d", path, p.status)
	}
	return find(b.t, csrfRE, p.body)
}

// form builds url.Values from pairs.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}
