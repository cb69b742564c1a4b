package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const userPassword = "correct horse battery staple"

// loginUser logs the browser in with a username and password and returns
// the answer to the login POST.
func (b *browser) loginUser(username, password string) page {
	b.t.Helper()
	lp := b.get("/console/login")
	return b.post("/console/login", url.Values{"username": {username}, "password": {password},
		"login_csrf": {find(b.t, loginCSRFRE, lp.body)}, "next": {"/console/consumers"}})
}

// TestUserLogin: a console user logs in with username and password, gets
// a fresh session (a planted id is never promoted) in the same cookie as
// a token login, acts with its role and tenant through the admin API (the
// audit names it), is refused with one message whatever was wrong, and is
// logged out at its next request once disabled.
func TestUserLogin(t *testing.T) {
	e := newEnv(t)
	shop := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop"})["id"].(string)
	other := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "other"})["id"].(string)
	tamID := e.mustAPI("POST", "/admin/v1/users", map[string]any{"username": "tam", "role": "tenant-admin", "tenant": "shop", "password": userPassword})["id"].(string)
	e.mustAPI("POST", "/admin/v1/users", map[string]any{"username": "vee", "role": "viewer", "password": userPassword})

	t.Run("refused logins say the same, keep the username, never the password", func(t *testing.T) {
		cases := []struct{ desc, username, password string }{
			{"a wrong password", "tam", userPassword + "x"},
			{"an unknown user", "nobody", userPassword},
			{"a username with capitals (not a username)", "Tam", userPassword},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				b := newBrowser(t, e.srv.URL)
				res := b.loginUser(tc.username, tc.password)
				if res.status != http.StatusUnauthorized || !strings.Contains(res.body, "Unknown username or wrong password.") {
					t.Fatalf("%d %s", res.status, res.body)
				}
				if !strings.Contains(res.body, `value="`+tc.username+`"`) || strings.Contains(res.body, tc.password) {
					t.Error("the form should keep the username and drop the password")
				}
				if b.cookie("gh_console") != "" {
					t.Error("a session cookie after a refused login")
				}
			})
		}
	})

	b := newBrowser(t, e.srv.URL)
	planted := "attacker-chosen-session-id-0123456789abcdef"
	b.setCookie("gh_console", planted, "/console/")
	res := b.loginUser("tam", userPassword)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/console/consumers" {
		t.Fatalf("login: %d %s", res.status, res.body)
	}
	t.Run("a fresh session in a HttpOnly, SameSite=Strict cookie", func(t *testing.T) {
		var set string
		for _, c := range res.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "gh_console=") {
				set = c
			}
		}
		for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/console/"} {
			if !strings.Contains(set, want) {
				t.Errorf("session cookie %q lacks %s", set, want)
			}
		}
		if id := b.cookie("gh_console"); id == "" || id == planted {
			t.Fatalf("session id %q: the planted id was kept", id)
		}
		other := newBrowser(t, e.srv.URL)
		other.setCookie("gh_console", planted, "/console/")
		if p := other.get("/console/consumers"); p.status != http.StatusSeeOther {
			t.Errorf("the planted id opens a session: %d", p.status)
		}
	})
	csrf := b.csrf("/console/consumers")
	t.Run("acts with its role and tenant, audited under its name", func(t *testing.T) {
		p := b.get("/console/consumers")
		if !strings.Contains(p.body, "tam · tenant-admin") {
			t.Errorf("header does not name the user: %s", p.body)
		}
		res := b.post("/console/consumers", form("csrf", csrf, "tenant", shop, "name", "made-by-tam"))
		if res.status != http.StatusSeeOther {
			t.Fatalf("create consumer: %d %s", res.status, res.body)
		}
		res = b.post("/console/consumers", form("csrf", csrf, "tenant", other, "name", "elsewhere"))
		if res.status != http.StatusForbidden {
			t.Errorf("a tenant-admin user created in another tenant: %d", res.status)
		}
		st, audit := e.apiDo(e.root, "GET", "/admin/v1/audit?action=consumer.create", nil)
		items, _ := audit["items"].([]any)
		if st != 200 || len(items) == 0 || items[0].(map[string]any)["actor"] != "tam ("+tamID+")" {
			t.Errorf("audit: %d %v", st, audit)
		}
		if p := b.get("/console/providers"); p.status != http.StatusForbidden {
			t.Errorf("a tenant-admin user read the providers: %d", p.status)
		}
	})
	t.Run("a viewer user reads but cannot change", func(t *testing.T) {
		v := newBrowser(t, e.srv.URL)
		if res := v.loginUser("vee", userPassword); res.status != http.StatusSeeOther {
			t.Fatalf("login: %d", res.status)
		}
		vc := v.csrf("/console/consumers")
		if res := v.post("/console/tenants", form("csrf", vc, "slug", "nope")); res.status != http.StatusForbidden {
			t.Errorf("viewer created a tenant: %d", res.status)
		}
	})
	t.Run("disabled: logged out at the next request, and cannot log in", func(t *testing.T) {
		e.mustAPI("POST", "/admin/v1/users/tam/disable", nil)
		p := b.get("/console/consumers")
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Log in again") {
			t.Fatalf("after disable: %d %s", p.status, p.body)
		}
		if p := b.get("/console/consumers"); p.status != http.StatusSeeOther {
			t.Errorf("the session survived: %d", p.status)
		}
		e.clock.Advance(time.Minute) // every browser here is 127.0.0.1: refill its login budget
		if res := newBrowser(t, e.srv.URL).loginUser("tam", userPassword); res.status != http.StatusUnauthorized {
			t.Errorf("a disabled user logged in: %d", res.status)
		}
	})
	t.Run("logout ends the session", func(t *testing.T) {
		e.clock.Advance(time.Minute)
		v := newBrowser(t, e.srv.URL)
		if res := v.loginUser("vee", userPassword); res.status != http.StatusSeeOther {
			t.Fatalf("login: %d", res.status)
		}
		vc := v.csrf("/console/consumers")
		if res := v.post("/console/logout", form("csrf", vc)); res.status != http.StatusSeeOther {
			t.Fatalf("logout: %d", res.status)
		}
		if p := v.get("/console/consumers"); p.status != http.StatusSeeOther {
			t.Errorf("after logout: %d", p.status)
		}
	})
}

// TestUserLoginRateLimits: password guesses are limited per username
// (from any number of addresses) and per address (over any usernames),
// and a limited attempt is refused before any password is checked.
func TestUserLoginRateLimits(t *testing.T) {
	e := newEnv(t)
	e.mustAPI("POST", "/admin/v1/users", map[string]any{"username": "vee", "role": "viewer", "password": userPassword})
	attempt := func(remote, username, password string) *httptest.ResponseRecorder {
		t.Helper()
		get := httptest.NewRequest(http.MethodGet, "/console/login", nil)
		get.RemoteAddr = remote
		rec := httptest.NewRecorder()
		e.console.ServeHTTP(rec, get)
		csrf := find(t, loginCSRFRE, rec.Body.String())
		var cookie string
		for _, c := range rec.Result().Cookies() {
			cookie = c.Name + "=" + c.Value
		}
		post := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/console/login",
			strings.NewReader(url.Values{"username": {username}, "password": {password}, "login_csrf": {csrf}}.Encode()))
		post.RemoteAddr = remote
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		post.Header.Set("Cookie", cookie)
		rec = httptest.NewRecorder()
		e.console.ServeHTTP(rec, post)
		return rec
	}
	t.Run("per username, from many addresses", func(t *testing.T) {
		var codes []int
		for i := range 7 {
			codes = append(codes, attempt("10.1.0."+string(rune('1'+i))+":4000", "vee", "wrong password!!").Code)
		}
		want := []int{401, 401, 401, 401, 401, 429, 429}
		if !slices.Equal(codes, want) {
			t.Errorf("codes %v, want %v", codes, want)
		}
		rec := attempt("10.1.0.99:4000", "vee", userPassword)
		if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "for this user") {
			t.Errorf("the right password during the limit: %d %s", rec.Code, rec.Header())
		}
		e.clock.Advance(time.Minute)
		if rec := attempt("10.1.0.99:4000", "vee", userPassword); rec.Code != http.StatusSeeOther {
			t.Errorf("after a minute: %d", rec.Code)
		}
	})
	t.Run("per address, over many usernames", func(t *testing.T) {
		var codes []int
		for i := range 7 {
			codes = append(codes, attempt("10.2.0.1:4000", "guess"+string(rune('a'+i)), "wrong password!!").Code)
		}
		want := []int{401, 401, 401, 401, 401, 429, 429}
		if !slices.Equal(codes, want) {
			t.Errorf("codes %v, want %v", codes, want)
		}
	})
}

// TestUsersPage: gateway admins manage console users in the console
// through the admin API (create with a password, reset, disable, enable);
// the password is never shown back; a viewer sees the list only and is
// refused changes by the API.
func TestUsersPage(t *testing.T) {
	e := newEnv(t)
	e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop"})
	viewer := e.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "auditor", "role": "viewer"})["token"].(string)
	b := newBrowser(t, e.srv.URL)
	csrf := b.login(e.root)
	var seen strings.Builder
	res := b.post("/console/users", form("csrf", csrf, "username", "tam", "role", "tenant-admin", "tenant", "shop", "password", userPassword))
	if res.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	p := b.get("/console/users")
	seen.WriteString(p.body)
	for _, want := range []string{"User tam (tenant-admin) created", "<td>tam</td>", "shop", "active"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("users page lacks %q", want)
		}
	}
	id := e.mustAPI("GET", "/admin/v1/users/tam", nil)["id"].(string)
	for _, step := range []struct {
		op     string
		form   url.Values
		status string
	}{
		{"password", form("csrf", csrf, "password", userPassword+" new"), "active"},
		{"disable", form("csrf", csrf), "disabled"},
		{"enable", form("csrf", csrf), "active"},
	} {
		res := b.post("/console/users/"+id+"/"+step.op, step.form)
		seen.WriteString(res.body)
		if res.status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", step.op, res.status, res.body)
		}
		if got := e.mustAPI("GET", "/admin/v1/users/"+id, nil)["status"]; got != step.status {
			t.Errorf("after %s: %v", step.op, got)
		}
		seen.WriteString(b.get("/console/users").body)
	}
	if res := newBrowser(t, e.srv.URL).loginUser("tam", userPassword+" new"); res.status != http.StatusSeeOther {
		t.Errorf("login with the reset password: %d", res.status)
	}
	if strings.Contains(seen.String(), userPassword) {
		t.Error("a password was shown back")
	}
	v := newBrowser(t, e.srv.URL)
	vc := v.login(viewer)
	if p := v.get("/console/users"); p.status != 200 || strings.Contains(p.body, "New user") || strings.Contains(p.body, "Reset password") {
		t.Errorf("viewer's users page: %d", p.status)
	}
	if res := v.post("/console/users/"+id+"/disable", form("csrf", vc)); res.status != http.StatusForbidden {
		t.Errorf("viewer disabled a user: %d", res.status)
	}
}

// TestInboxHoldsWhatTheAdminCanDecide: a tenant-admin's approval inbox
// lists the pending requests for her own tenant's services, not her
// consumers' requests to another tenant's service (which she cannot
// decide: its buttons only led to a 403); a gateway admin's lists both.
func TestInboxHoldsWhatTheAdminCanDecide(t *testing.T) {
	e := newEnv(t)
	acme := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "acme"})["id"].(string)
	beta := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "beta"})["id"].(string)
	shop := e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": acme, "name": "shop"})["id"].(string)
	betaApp := e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": beta, "name": "bapp"})["id"].(string)
	e.mustAPI("POST", "/admin/v1/services", map[string]any{"tenant": beta, "name": "ledger", "targets": []string{"http://127.0.0.1:9"},
		"visibility": "published", "approval_required": true})
	e.mustAPI("POST", "/admin/v1/services", map[string]any{"tenant": acme, "name": "orders", "targets": []string{"http://127.0.0.1:9"},
		"visibility": "published", "approval_required": true})
	outgoing := e.mustAPI("POST", "/admin/v1/subscriptions", map[string]any{"consumer": shop, "service": "ledger"})["id"].(string)
	incoming := e.mustAPI("POST", "/admin/v1/subscriptions", map[string]any{"consumer": betaApp, "service": "orders"})["id"].(string)
	alice := e.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "alice", "role": "tenant-admin", "tenant": "acme"})["token"].(string)

	inbox := func(token string) string {
		b := newBrowser(t, e.srv.URL)
		b.login(token)
		body := b.get("/console/subscriptions").body
		start := strings.Index(body, `<table id="inbox">`)
		end := strings.Index(body[start:], "</table>")
		return body[start : start+end]
	}
	if in := inbox(alice); !strings.Contains(in, "sub-"+incoming) || strings.Contains(in, "sub-"+outgoing) {
		t.Errorf("a tenant-admin's inbox: want the request to her service only:\n%s", in)
	}
	if in := inbox(e.root); !strings.Contains(in, "sub-"+incoming) || !strings.Contains(in, "sub-"+outgoing) {
		t.Errorf("a gateway admin's inbox: want both requests:\n%s", in)
	}
}
