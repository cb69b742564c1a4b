package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConsoleAndPortalMounted drives the web console (admin listener,
// /console/) and the developer portal (proxy listener,
// /.well-known/gatehouse/portal/) of the real binary over HTTP: an admin
// logs in and creates a tenant through a console form; a developer logs
// in to the portal with a key, gets a call refused, and finds it with its
// reason and fix. The browser version of the whole scenario (headless
// Chromium, screenshots) runs in internal/console against the same parts.
//
// The portal is on when GATEHOUSE_PORTAL_TOKEN names an admin token; this
// test gives it the bootstrap admin's.
func TestConsoleAndPortalMounted(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer up.Close()
	dir := t.TempDir()
	t.Setenv("GATEHOUSE_PORTAL_TOKEN", "gh_admin_e2e_token_0123456789abcdefghijkl")
	n := startNode(t, dir, fmt.Sprintf("proxy_addr: 127.0.0.1:0\nadmin_addr: 127.0.0.1:0\ndatabase: sqlite://%s\nlog_level: warn\n", filepath.Join(dir, "g.db")))
	if resp, err := http.Get(n.admin + "/console/login"); err != nil || resp.StatusCode == http.StatusNotFound {
		if resp != nil {
			resp.Body.Close()
		}
		t.Fatal("the console is not mounted on the admin listener at /console/")
	}

	// The admin logs in and creates a tenant through the console's form.
	admin := newWebClient(t)
	login := admin.get(n.admin + "/console/login")
	res := admin.post(n.admin+"/console/login", url.Values{"token": {n.token}, "login_csrf": {match(t, `name="login_csrf" value="([^"]+)"`, login)}})
	if !strings.Contains(res, "Dashboard") {
		t.Fatalf("console login did not reach the dashboard:\n%s", res)
	}
	csrf := match(t, `name="csrf" value="([^"]+)"`, admin.get(n.admin+"/console/tenants"))
	if out := admin.post(n.admin+"/console/tenants", url.Values{"csrf": {csrf}, "slug": {"shop"}}); !strings.Contains(out, "Tenant shop created") {
		t.Fatalf("tenant form:\n%s", out)
	}
	con := n.adminPost(t, "/admin/v1/consumers", map[string]any{"tenant": "shop", "name": "checkout"})["id"]
	key := n.adminPost(t, "/admin/v1/keys", map[string]any{"consumer": con})["key"].(string)
	svc := n.adminPost(t, "/admin/v1/services", map[string]any{"tenant": "shop", "name": "orders", "targets": []string{up.URL}})["id"]
	n.adminPost(t, "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/orders"}, "scopes": []string{"orders:write"}})

	// A refused call: the key lacks the route's scope.
	req, _ := http.NewRequest("GET", n.proxy+"/orders/1", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body["code"] != "scope.insufficient" {
		t.Fatalf("call: %d %v", resp.StatusCode, body)
	}

	// The developer logs in to the portal with the key and sees the call.
	portal := n.proxy + "/.well-known/gatehouse/portal"
	dev := newWebClient(t)
	pl := dev.get(portal + "/login")
	home := dev.post(portal+"/login", url.Values{"key": {key}, "login_csrf": {match(t, `name="login_csrf" value="([^"]+)"`, pl)}})
	if !strings.Contains(home, "checkout") {
		t.Fatalf("portal login:\n%s", home)
	}
	var calls string
	// The call log writes asynchronously, within its flush interval.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		calls = dev.get(portal + "/calls?rejected=1")
		if strings.Contains(calls, "scope.insufficient") {
			break
		}
	}
	for _, want := range []string{"scope.insufficient", "/.well-known/gatehouse/errors/scope.insufficient"} {
		if !strings.Contains(calls, want) {
			t.Fatalf("portal calls page lacks %q:\n%s", want, calls)
		}
	}

	// A developer account of the same consumer logs in to the portal by
	// username and password and sees the same call; it cannot log in to
	// the console.
	const pw = "correct horse battery staple"
	n.adminPost(t, "/admin/v1/users", map[string]any{"username": "dev@shop", "role": "developer", "consumer": con, "password": pw})
	devUser := newWebClient(t)
	pl = devUser.get(portal + "/login")
	home = devUser.post(portal+"/login", url.Values{"username": {"dev@shop"}, "password": {pw}, "login_csrf": {match(t, `name="login_csrf" value="([^"]+)"`, pl)}})
	if !strings.Contains(home, "logged in as dev@shop") || !strings.Contains(home, "scope.insufficient") {
		t.Fatalf("portal login by password:\n%s", home)
	}
	cl := devUser.get(n.admin + "/console/login")
	if out := devUser.post(n.admin+"/console/login", url.Values{"username": {"dev@shop"}, "password": {pw},
		"login_csrf": {match(t, `name="login_csrf" value="([^"]+)"`, cl)}}); !strings.Contains(out, "This is a developer account") {
		t.Fatalf("console login by a developer:\n%s", out)
	}
}

// webClient is a cookie-keeping HTTP client that follows redirects.
type webClient struct {
	t *testing.T
	c *http.Client
}

func newWebClient(t *testing.T) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, c: &http.Client{Jar: jar}}
}

func (w *webClient) get(u string) string {
	w.t.Helper()
	resp, err := w.c.Get(u)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (w *webClient) post(u string, form url.Values) string {
	w.t.Helper()
	resp, err := w.c.PostForm(u, form)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func match(t *testing.T, re, s string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s not found in:\n%s", re, s)
	}
	return m[1]
}
