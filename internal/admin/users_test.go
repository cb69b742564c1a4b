package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

const userPW = "correct horse battery staple"

// asUser serves one request in-process as the console does for a user
// logged in with a password: the user's id in the context, no token.
func (e *testEnv) asUser(userID, method, path string, body any) resp {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequestWithContext(AsUser(context.Background(), userID), method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	return resp{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

func TestUsers(t *testing.T) {
	e := newEnv(t)
	acme, beta := e.fixture("acme"), e.fixture("beta")
	_, acmeAdmin := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	_, viewer := e.newAdmin("watcher", domain.RoleViewer, "")

	alice := e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "alice", "role": "admin", "password": userPW}).JSON(t)
	bob := e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "bob", "role": "tenant-admin", "tenant": "acme", "password": userPW}).JSON(t)
	e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "carol.b@beta", "role": "viewer", "tenant": beta.tenantID, "password": userPW})
	if alice["status"] != "active" || bob["tenant"] != acme.tenantID || !strings.HasPrefix(alice["id"].(string), "usr_") {
		t.Errorf("created: %v %v", alice, bob)
	}

	t.Run("refusals", func(t *testing.T) {
		cases := []struct {
			desc, token string
			body        map[string]any
			status      int
			code        string
		}{
			{"a taken username", e.root, map[string]any{"username": "alice", "role": "viewer", "password": userPW}, 409, CodeConflict},
			{"a short password", e.root, map[string]any{"username": "dave", "role": "viewer", "password": "short"}, 400, CodeInvalid},
			{"no password", e.root, map[string]any{"username": "dave", "role": "viewer"}, 400, CodeInvalid},
			{"the username as password", e.root, map[string]any{"username": "davedavedave", "role": "viewer", "password": "davedavedave"}, 400, CodeInvalid},
			{"an uppercase username", e.root, map[string]any{"username": "Dave", "role": "viewer", "password": userPW}, 400, CodeInvalid},
			{"a username shaped like an id", e.root, map[string]any{"username": "usr_abc", "role": "viewer", "password": userPW}, 400, CodeInvalid},
			{"an unknown role", e.root, map[string]any{"username": "dave", "role": "owner", "password": userPW}, 400, CodeInvalid},
			{"a tenant-admin without tenant", e.root, map[string]any{"username": "dave", "role": "tenant-admin", "password": userPW}, 400, CodeInvalid},
			{"an admin with a tenant", e.root, map[string]any{"username": "dave", "role": "admin", "tenant": "acme", "password": userPW}, 400, CodeInvalid},
			{"an unknown tenant", e.root, map[string]any{"username": "dave", "role": "viewer", "tenant": "nope", "password": userPW}, 404, CodeNotFound},
			{"a tenant-admin creating users", acmeAdmin, map[string]any{"username": "dave", "role": "viewer", "tenant": "acme", "password": userPW}, 403, CodeForbidden},
			{"a viewer creating users", viewer, map[string]any{"username": "dave", "role": "viewer", "password": userPW}, 403, CodeForbidden},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				problemOf(t, e.do(tc.token, "POST", "/admin/v1/users", tc.body), tc.status, tc.code)
			})
		}
	})

	t.Run("lists, by role and filter", func(t *testing.T) {
		cases := []struct {
			desc, token, query string
			want               []string
		}{
			{"root sees everyone", e.root, "", []string{"alice", "bob", "carol.b@beta"}},
			{"a viewer reads everyone", viewer, "", []string{"alice", "bob", "carol.b@beta"}},
			{"a tenant-admin sees its tenant's", acmeAdmin, "", []string{"bob"}},
			{"by tenant", e.root, "?tenant=beta", []string{"carol.b@beta"}},
			{"by username", e.root, "?username=alice", []string{"alice"}},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				r := e.do(tc.token, "GET", "/admin/v1/users"+tc.query, nil)
				if r.Status != 200 {
					t.Fatalf("%d %s", r.Status, r.Body)
				}
				var names []string
				for _, it := range r.items(t) {
					names = append(names, it["username"].(string))
				}
				slices.Sort(names) // lists are in (random) id order
				if strings.Join(names, ",") != strings.Join(tc.want, ",") {
					t.Errorf("got %v, want %v", names, tc.want)
				}
			})
		}
		problemOf(t, e.do(acmeAdmin, "GET", "/admin/v1/users/alice", nil), 403, CodeForbidden)
	})

	t.Run("disable, enable, reset", func(t *testing.T) {
		id := bob["id"].(string)
		if got := e.must(200, "POST", "/admin/v1/users/bob/disable", nil).JSON(t); got["status"] != "disabled" || got["disabled_at"] == nil {
			t.Errorf("disabled: %v", got)
		}
		e.must(200, "POST", "/admin/v1/users/"+id+"/disable", nil) // again: no change
		if got := e.must(200, "POST", "/admin/v1/users/"+id+"/enable", nil).JSON(t); got["status"] != "active" {
			t.Errorf("enabled: %v", got)
		}
		problemOf(t, e.do(e.root, "POST", "/admin/v1/users/"+id+"/password", map[string]any{"password": "tiny"}), 400, CodeInvalid)
		e.must(200, "POST", "/admin/v1/users/"+id+"/password", map[string]any{"password": userPW + " 2"})
		problemOf(t, e.do(acmeAdmin, "POST", "/admin/v1/users/"+id+"/disable", nil), 403, CodeForbidden)
		problemOf(t, e.do(e.root, "POST", "/admin/v1/users/nobody/disable", nil), 404, CodeNotFound)
	})

	t.Run("no answer or audit entry carries a password or its hash", func(t *testing.T) {
		var all bytes.Buffer
		for _, p := range []string{"/admin/v1/users", "/admin/v1/users/alice", "/admin/v1/audit?resource=user&limit=100"} {
			all.Write(e.must(200, "GET", p, nil).Body)
		}
		for _, leak := range []string{userPW, "argon2id", "password_hash"} {
			if bytes.Contains(all.Bytes(), []byte(leak)) {
				t.Errorf("%q appears in an answer", leak)
			}
		}
		actions := map[string]int{}
		for _, a := range e.auditAll() {
			if a["resource"] != "user" {
				continue
			}
			actions[a["action"].(string)]++
			if a["action"] == "user.create" || a["action"] == "user.password" {
				after, _ := a["after"].(map[string]any)
				if after["password"] != "[masked]" {
					t.Errorf("%s: password in the audit entry is %v, want [masked]", a["action"], after["password"])
				}
			}
		}
		want := map[string]int{"user.create": 3, "user.disable": 1, "user.enable": 1, "user.password": 1, "user.create.denied": 2,
			"user.password.denied": 0, "user.disable.denied": 1}
		for k, n := range want {
			if actions[k] != n {
				t.Errorf("%d %s audit entries, want %d (all: %v)", actions[k], k, n, actions)
			}
		}
	})
}

// TestUserActsWithItsRole: a request carrying a user (AsUser, as the
// console sends it) acts with the user's role, tenant bound and name,
// through the same checks and audit as a token; a disabled user is
// refused at its next request; a token, when present, wins.
func TestUserActsWithItsRole(t *testing.T) {
	e := newEnv(t)
	acme, beta := e.fixture("acme"), e.fixture("beta")
	bob := e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "bob", "role": "tenant-admin", "tenant": "acme", "password": userPW}).str(t, "id")
	vic := e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "vic", "role": "viewer", "password": userPW}).str(t, "id")

	cases := []struct {
		desc, user, method, path string
		body                     any
		status                   int
	}{
		{"a tenant-admin user creates in its tenant", bob, "POST", "/admin/v1/consumers", map[string]any{"tenant": acme.tenantID, "name": "by-bob"}, 201},
		{"a tenant-admin user cannot reach another tenant", bob, "POST", "/admin/v1/consumers", map[string]any{"tenant": beta.tenantID, "name": "x"}, 403},
		{"a tenant-admin user lists its tenant only", bob, "GET", "/admin/v1/consumers?tenant=beta", nil, 403},
		{"a viewer user reads", vic, "GET", "/admin/v1/consumers", nil, 200},
		{"a viewer user cannot write", vic, "POST", "/admin/v1/consumers", map[string]any{"tenant": acme.tenantID, "name": "y"}, 403},
		{"an unknown user id is unauthorized", "usr_nobody", "GET", "/admin/v1/consumers", nil, 401},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if r := e.asUser(tc.user, tc.method, tc.path, tc.body); r.Status != tc.status {
				t.Errorf("%d, want %d: %s", r.Status, tc.status, r.Body)
			}
		})
	}
	t.Run("the audit names the user", func(t *testing.T) {
		found := false
		for _, a := range e.auditAll() {
			if a["action"] == "consumer.create" && a["actor"] == "bob ("+bob+")" {
				found = true
			}
		}
		if !found {
			t.Error("no consumer.create by bob in the audit log")
		}
	})
	t.Run("a token in the request wins over the context", func(t *testing.T) {
		req := httptest.NewRequestWithContext(AsUser(context.Background(), vic), "GET", "/admin/v1/consumers", nil)
		req.Header.Set("Authorization", "Bearer not-a-token")
		rec := httptest.NewRecorder()
		e.srv.Config.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%d, want 401", rec.Code)
		}
	})
	t.Run("a disabled user is refused at its next request", func(t *testing.T) {
		e.must(200, "POST", "/admin/v1/users/vic/disable", nil)
		problemOf(t, e.asUser(vic, "GET", "/admin/v1/consumers", nil), 401, CodeUnauthorized)
	})
}

func TestVerifyUser(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "alice", "role": "admin", "password": userPW})
	id := e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "gone", "role": "viewer", "password": userPW}).str(t, "id")
	e.must(200, "POST", "/admin/v1/users/gone/disable", nil)
	cases := []struct {
		desc, username, password string
		ok                       bool
	}{
		{"the right password", "alice", userPW, true},
		{"a wrong password", "alice", userPW + "!", false},
		{"an unknown user", "mallory", userPW, false},
		{"a disabled user with its right password", "gone", userPW, false},
		{"a user id instead of a username", id, userPW, false},
		{"an empty password", "alice", "", false},
		{"an oversized password", "alice", strings.Repeat("a", 5000), false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			u, err := VerifyUser(context.Background(), e.store, tc.username, tc.password)
			if tc.ok != (err == nil) {
				t.Fatalf("err %v, want ok %v", err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, ErrLogin) {
				t.Errorf("err %v, want ErrLogin", err)
			}
			if tc.ok && (u.Username != tc.username || !strings.HasPrefix(u.PasswordHash, "$argon2id$")) {
				t.Errorf("user %+v", u)
			}
		})
	}
	var s store.Store = e.store
	if _, ok := s.(store.UserStore); !ok {
		t.Fatal("the SQLite store has no user accounts")
	}
}

// TestDeveloperUsers: a developer account is bound to one consumer (and
// so to its tenant); admins create them for any consumer, a tenant-admin
// only for its own tenant's consumers, and manages no console user; the
// API never acts as a developer; lists filter by consumer; the audit
// masks the password.
func TestDeveloperUsers(t *testing.T) {
	e := newEnv(t)
	acme, beta := e.fixture("acme"), e.fixture("beta")
	_, acmeAdmin := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	_, viewer := e.newAdmin("watcher", domain.RoleViewer, "")
	dev := func(token, username, consumer string, extra ...string) resp {
		body := map[string]any{"username": username, "role": "developer", "consumer": consumer, "password": userPW}
		for i := 0; i+1 < len(extra); i += 2 {
			body[extra[i]] = extra[i+1]
		}
		return e.do(token, "POST", "/admin/v1/users", body)
	}

	t.Run("created bound to the consumer and its tenant", func(t *testing.T) {
		cases := []struct {
			desc, token, username, consumer string
			extra                           []string
			wantConsumer, wantTenant        string
		}{
			{"an admin, for any consumer, by id", e.root, "ann@beta", beta.consumerID, nil, beta.consumerID, beta.tenantID},
			{"an admin, by tenant-slug/name", e.root, "abe@beta", "beta/app", nil, beta.consumerID, beta.tenantID},
			{"a tenant-admin, for its tenant's consumer", acmeAdmin, "ada@acme", acme.consumerID, nil, acme.consumerID, acme.tenantID},
			{"with the consumer's tenant named too", e.root, "al@acme", acme.consumerID, []string{"tenant", "acme"}, acme.consumerID, acme.tenantID},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				r := dev(tc.token, tc.username, tc.consumer, tc.extra...)
				if r.Status != 201 {
					t.Fatalf("%d %s", r.Status, r.Body)
				}
				got := r.JSON(t)
				if got["role"] != "developer" || got["consumer"] != tc.wantConsumer || got["tenant"] != tc.wantTenant || got["status"] != "active" {
					t.Errorf("created %v", got)
				}
			})
		}
	})

	t.Run("refusals", func(t *testing.T) {
		cases := []struct {
			desc, token string
			body        map[string]any
			status      int
			code        string
		}{
			{"a developer without a consumer", e.root, map[string]any{"username": "dan", "role": "developer", "password": userPW}, 400, CodeInvalid},
			{"a console role with a consumer", e.root, map[string]any{"username": "dan", "role": "viewer", "consumer": acme.consumerID, "password": userPW}, 400, CodeInvalid},
			{"an unknown consumer", e.root, map[string]any{"username": "dan", "role": "developer", "consumer": "con_nope", "password": userPW}, 404, CodeNotFound},
			{"a tenant that is not the consumer's", e.root, map[string]any{"username": "dan", "role": "developer", "consumer": acme.consumerID, "tenant": "beta", "password": userPW}, 400, CodeInvalid},
			{"a tenant-admin, for another tenant's consumer", acmeAdmin, map[string]any{"username": "dan", "role": "developer", "consumer": beta.consumerID, "password": userPW}, 403, CodeForbidden},
			{"a tenant-admin, for another tenant's consumer by name", acmeAdmin, map[string]any{"username": "dan", "role": "developer", "consumer": "beta/app", "password": userPW}, 403, CodeForbidden},
			{"a tenant-admin, a console user", acmeAdmin, map[string]any{"username": "dan", "role": "tenant-admin", "tenant": "acme", "password": userPW}, 403, CodeForbidden},
			{"a viewer, a developer", viewer, map[string]any{"username": "dan", "role": "developer", "consumer": acme.consumerID, "password": userPW}, 403, CodeForbidden},
			{"a short password", e.root, map[string]any{"username": "dan", "role": "developer", "consumer": acme.consumerID, "password": "short"}, 400, CodeInvalid},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				problemOf(t, e.do(tc.token, "POST", "/admin/v1/users", tc.body), tc.status, tc.code)
			})
		}
		if r := e.do(e.root, "GET", "/admin/v1/users/dan", nil); r.Status != 404 {
			t.Errorf("a refused create left user dan: %d", r.Status)
		}
	})

	console := e.must(201, "POST", "/admin/v1/users", map[string]any{"username": "tam", "role": "tenant-admin", "tenant": "acme", "password": userPW}).str(t, "id")
	ada := e.must(200, "GET", "/admin/v1/users/ada@acme", nil).str(t, "id")
	ann := e.must(200, "GET", "/admin/v1/users/ann@beta", nil).str(t, "id")

	t.Run("a tenant-admin manages its tenant's developers only", func(t *testing.T) {
		cases := []struct {
			desc, user, op string
			body           any
			status         int
		}{
			{"disables its developer", ada, "disable", nil, 200},
			{"enables its developer", ada, "enable", nil, 200},
			{"resets its developer's password", ada, "password", map[string]any{"password": userPW + " 2"}, 200},
			{"not another tenant's developer", ann, "disable", nil, 403},
			{"not a console user of its own tenant", console, "disable", nil, 403},
			{"nor its password", console, "password", map[string]any{"password": userPW + " 2"}, 403},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				if r := e.do(acmeAdmin, "POST", "/admin/v1/users/"+tc.user+"/"+tc.op, tc.body); r.Status != tc.status {
					t.Errorf("%d, want %d: %s", r.Status, tc.status, r.Body)
				}
			})
		}
	})

	t.Run("lists filter by consumer, within the reader's reach", func(t *testing.T) {
		cases := []struct {
			desc, token, query string
			status             int
			want               []string
		}{
			{"an admin, one consumer's developers", e.root, "?consumer=" + beta.consumerID, 200, []string{"abe@beta", "ann@beta"}},
			{"a tenant-admin, its tenant's users", acmeAdmin, "", 200, []string{"ada@acme", "al@acme", "tam"}},
			{"a tenant-admin, another tenant's consumer", acmeAdmin, "?consumer=" + beta.consumerID, 403, nil},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				r := e.do(tc.token, "GET", "/admin/v1/users"+tc.query, nil)
				if r.Status != tc.status {
					t.Fatalf("%d, want %d: %s", r.Status, tc.status, r.Body)
				}
				if tc.status != 200 {
					return
				}
				var names []string
				for _, it := range r.items(t) {
					names = append(names, it["username"].(string))
				}
				slices.Sort(names)
				if !slices.Equal(names, tc.want) {
					t.Errorf("got %v, want %v", names, tc.want)
				}
			})
		}
	})

	t.Run("the admin API never acts as a developer", func(t *testing.T) {
		for _, path := range []string{"/admin/v1/consumers", "/admin/v1/consumers/" + acme.consumerID, "/admin/v1/keys?consumer=" + acme.consumerID, "/admin/v1/status"} {
			problemOf(t, e.asUser(ada, "GET", path, nil), 401, CodeUnauthorized)
		}
	})

	t.Run("VerifyUser names the developer's consumer", func(t *testing.T) {
		u, err := VerifyUser(context.Background(), e.store, "ann@beta", userPW)
		if err != nil || u.Role != domain.RoleDeveloper || u.ConsumerID != beta.consumerID || u.TenantID != beta.tenantID {
			t.Fatalf("%+v %v", u, err)
		}
	})

	t.Run("the audit masks the password and names the consumer", func(t *testing.T) {
		n := 0
		for _, a := range e.auditAll() {
			if a["action"] != "user.create" || a["resource_id"] != ann {
				continue
			}
			n++
			after, _ := a["after"].(map[string]any)
			if after["password"] != "[masked]" || after["consumer"] != beta.consumerID || a["tenant"] != beta.tenantID {
				t.Errorf("audit entry %v", a)
			}
			if strings.Contains(fmtAny(a), userPW) || strings.Contains(fmtAny(a), "argon2id") {
				t.Error("the audit entry carries the password or its hash")
			}
		}
		if n != 1 {
			t.Errorf("%d user.create entries for ann, want 1", n)
		}
	})
}
