package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"unicode/utf8"

	"gatehouse/internal/domain"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
)

// User accounts (issue 9): people who log in with a username and
// password rather than an admin token.
//
// Console users have a role like an admin token (admin, tenant-admin
// bound to a tenant, viewer) and, once logged in, act through this API
// with it: the console serves each page by calling the API in-process
// with the user's id in the request context (AsUser), authenticate turns
// it into the acting admin, and every role check, tenant bound and audit
// entry is the one a token of that role gets, under the user's name.
//
// Developers (domain.RoleDeveloper) are a consumer's people: bound to
// one consumer (and so to its tenant), they log in to the developer
// portal only, which acts for that consumer with its own admin token.
// This API never acts as a developer: authenticate refuses one, so a
// developer account can neither log in to the console nor reach any
// object through AsUser.
//
// Gateway admins manage every user; a tenant-admin manages the developer
// accounts of its own tenant's consumers (create, disable, enable, reset)
// and no console user. The password is set at creation or by a reset,
// stored as an argon2id hash, and never returned or audited (the audit
// entry says "[masked]").

const (
	prefixUser = "usr_"
	// Password length bounds: long enough to resist guessing at the
	// login's rate limit, short enough that hashing stays cheap.
	minPasswordChars = 12
	maxPasswordBytes = 1024
)

// usernameRE: lowercase letters, digits and . _ @ - are not all allowed:
// no underscore, so a username never looks like a user id ("usr_…").
var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.@-]{0,63}$`)

// userRequest creates a user.
type userRequest struct {
	Username string `json:"username"`
	// Role is admin, tenant-admin, viewer or developer.
	Role string `json:"role"`
	// Tenant (id or slug) binds the user to one tenant: required for a
	// tenant-admin, optional for a viewer, refused for an admin; for a
	// developer it is its consumer's tenant (optional, and if given it
	// must be that one).
	Tenant string `json:"tenant,omitempty"`
	// Consumer (id, name, or tenant-slug/name) is the consumer a
	// developer acts for in the portal: required for a developer, refused
	// for every other role.
	Consumer string `json:"consumer,omitempty"`
	// Password is write-only: hashed with argon2id, never returned.
	Password string `json:"password"`
}

// passwordRequest resets a user's password.
type passwordRequest struct {
	Password string `json:"password"`
}

// userView is a user as the API shows it (never the password hash: the
// store type hides it from JSON).
type userView struct {
	store.User
	// Status is active or disabled.
	Status string `json:"status"`
}

// userAudit is what the audit log records of a change that set a
// password: the user, and that a password was set (masked).
type userAudit struct {
	userView
	Password string `json:"password,omitempty"`
}

func viewUser(u store.User) userView {
	v := userView{User: u, Status: "active"}
	if u.DisabledAt != nil {
		v.Status = "disabled"
	}
	return v
}

// usersStore is the store's user-account side.
func (rc *reqCtx) usersStore() (store.UserStore, error) {
	s, ok := rc.api.cfg.Store.(store.UserStore)
	if !ok {
		return nil, internal(fmt.Errorf("admin: %T does not implement store.UserStore", rc.api.cfg.Store),
			"this gateway's store does not support console user accounts")
	}
	return s, nil
}

func userTx(tx store.Tx) (store.UserTx, error) {
	u, ok := tx.(store.UserTx)
	if !ok {
		return nil, internal(fmt.Errorf("admin: %T does not implement store.UserTx", tx),
			"this gateway's store does not support console user accounts")
	}
	return u, nil
}

func checkPassword(username, pw string) error {
	switch {
	case pw == "":
		return invalid("password is required (at least %d characters); it is stored as an argon2id hash and never shown again", minPasswordChars)
	case len(pw) > maxPasswordBytes:
		return invalid("password is longer than %d bytes", maxPasswordBytes)
	case !utf8.ValidString(pw):
		return invalid("password is not valid UTF-8")
	case utf8.RuneCountInString(pw) < minPasswordChars:
		return invalid("password has %d characters; at least %d", utf8.RuneCountInString(pw), minPasswordChars)
	case pw == username:
		return invalid("password must not be the username")
	}
	return nil
}

// mayManage refuses a change to a user of role by anyone but a gateway
// admin, unless the user is a developer and the actor a tenant-admin
// (whose reach, checked by loadUser and keyOwner, is its own tenant).
// id names the user in the refusal's audit entry ("" at creation).
func (rc *reqCtx) mayManage(role, id string) error {
	switch rc.admin.Role {
	case domain.RoleAdmin:
		return nil
	case domain.RoleTenantAdmin:
		if role == domain.RoleDeveloper {
			return nil
		}
		return &deniedError{Action: rc.ep.Action, Resource: "user", ResourceID: id,
			Detail: fmt.Sprintf("%s of a %s user needs an admin token; a tenant-admin (%s) manages only the developer accounts of its tenant's consumers", rc.ep.Action, role, rc.admin.Name)}
	}
	return &deniedError{Action: rc.ep.Action, Resource: "user", ResourceID: id,
		Detail: fmt.Sprintf("%s needs an admin or tenant-admin token; %s is a %s", rc.ep.Action, rc.admin.Name, rc.admin.Role)}
}

// loadUser reads a user and checks a tenant-bound reader may see it.
func (rc *reqCtx) loadUser(tx store.Tx, ref string) (store.User, error) {
	ut, err := userTx(tx)
	if err != nil {
		return store.User{}, err
	}
	u, err := ut.GetUser(rc.ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return u, notFound("user %q not found; list them with gatehouse user list", ref)
	}
	if err != nil {
		return u, err
	}
	if s := rc.scope(); s != "" && u.TenantID != s {
		return u, rc.reach("user", u.ID, ref, u.TenantID)
	}
	return u, nil
}

func (a *API) listUsers(rc *reqCtx) (any, error) {
	s, err := rc.usersStore()
	if err != nil {
		return nil, err
	}
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{Page: p, TenantID: rc.scope(), Name: rc.query("username")}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	if f.ConsumerID, err = rc.consumerFilter(); err != nil {
		return nil, err
	}
	items, next, err := s.ListUsers(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]userView, len(items))
	for i, u := range items {
		out[i] = viewUser(u)
	}
	return list(out, next), nil
}

func (a *API) getUser(rc *reqCtx) (any, error) {
	var u store.User
	if err := rc.view(func(tx store.Tx) (err error) { u, err = rc.loadUser(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	return viewUser(u), nil
}

func (a *API) createUser(rc *reqCtx) (any, error) {
	if _, err := rc.usersStore(); err != nil {
		return nil, err
	}
	var req userRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	if !usernameRE.MatchString(req.Username) {
		return nil, invalid("username %q: 1-64 lowercase letters, digits and . @ -, starting with a letter or digit", req.Username)
	}
	if req.Role == "" {
		return nil, invalid("role is required: admin, tenant-admin, viewer (console users) or developer (a consumer's portal account)")
	}
	if err := oneOf("role", req.Role, domain.RoleAdmin, domain.RoleTenantAdmin, domain.RoleViewer, domain.RoleDeveloper); err != nil {
		return nil, err
	}
	switch {
	case req.Role == domain.RoleTenantAdmin && req.Tenant == "":
		return nil, invalid("tenant is required for a tenant-admin: the id or slug of the tenant it administers")
	case req.Role == domain.RoleAdmin && req.Tenant != "":
		return nil, invalid("an admin reaches every tenant and takes no tenant; for one tenant use role tenant-admin (or viewer)")
	case req.Role == domain.RoleDeveloper && req.Consumer == "":
		return nil, invalid("consumer is required for a developer: the id (or tenant-slug/name) of the consumer it acts for in the portal")
	case req.Role != domain.RoleDeveloper && req.Consumer != "":
		return nil, invalid("only a developer is bound to a consumer; a %s takes no consumer", req.Role)
	}
	if err := rc.mayManage(req.Role, ""); err != nil {
		return nil, err
	}
	if err := checkPassword(req.Username, req.Password); err != nil {
		return nil, err
	}
	var consumerID string
	if req.Role == domain.RoleDeveloper {
		id, err := rc.consumerID("consumer", req.Consumer)
		if err != nil {
			return nil, err
		}
		consumerID = id
	}
	hash, err := secrets.HashPassword([]byte(req.Password))
	if err != nil {
		return nil, internal(err, "could not hash the password")
	}
	id, err := newID(prefixUser)
	if err != nil {
		return nil, internal(err, "could not generate an id")
	}
	u := store.User{ID: id, Username: req.Username, Role: req.Role, PasswordHash: hash, PasswordSetAt: rc.now, CreatedAt: rc.now, UpdatedAt: rc.now}
	err = rc.commit(func(tx store.Tx) (change, error) {
		ut, err := userTx(tx)
		if err != nil {
			return change{}, err
		}
		if req.Tenant != "" {
			t, err := rc.loadTenant(tx, req.Tenant)
			if err != nil {
				return change{}, err
			}
			u.TenantID = t.ID
		}
		if consumerID != "" {
			// keyOwner: in reach (a tenant-admin: its own tenant's
			// consumers only) and not deleted.
			c, err := rc.keyOwner(tx, consumerID)
			if err != nil {
				return change{}, err
			}
			if u.TenantID != "" && u.TenantID != c.TenantID {
				return change{}, invalid("consumer %s is not in tenant %s: leave tenant out for a developer, it is the consumer's", req.Consumer, req.Tenant)
			}
			u.TenantID, u.ConsumerID = c.TenantID, c.ID
		}
		if err := ut.PutUser(rc.ctx, u); err != nil {
			return change{}, err
		}
		return change{Resource: "user", ResourceID: u.ID, TenantID: u.TenantID, After: userAudit{userView: viewUser(u), Password: "set"}}, nil
	})
	if err != nil {
		return nil, err
	}
	return viewUser(u), nil
}

// userStatus disables or enables a user. Disabling ends its console
// sessions at their next request (each request re-reads the user).
func (a *API) userStatus(disable bool) func(rc *reqCtx) (any, error) {
	return func(rc *reqCtx) (any, error) {
		var out store.User
		err := rc.commit(func(tx store.Tx) (change, error) {
			u, err := rc.loadUser(tx, rc.r.PathValue("id"))
			if err != nil {
				return change{}, err
			}
			if err := rc.mayManage(u.Role, u.ID); err != nil {
				return change{}, err
			}
			out = u
			if (u.DisabledAt != nil) == disable {
				return change{}, errNoChange
			}
			before := viewUser(u)
			u.DisabledAt, u.UpdatedAt = nil, rc.now
			if disable {
				at := rc.now
				u.DisabledAt = &at
			}
			ut, err := userTx(tx)
			if err != nil {
				return change{}, err
			}
			if err := ut.PutUser(rc.ctx, u); err != nil {
				return change{}, err
			}
			out = u
			return change{Resource: "user", ResourceID: u.ID, TenantID: u.TenantID, Before: before, After: viewUser(u)}, nil
		})
		if err != nil {
			return nil, err
		}
		return viewUser(out), nil
	}
}

// setPassword resets a user's password (the user's open sessions stay:
// disable the user to end them).
func (a *API) setPassword(rc *reqCtx) (any, error) {
	var req passwordRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	var out store.User
	err := rc.commit(func(tx store.Tx) (change, error) {
		u, err := rc.loadUser(tx, rc.r.PathValue("id"))
		if err != nil {
			return change{}, err
		}
		if err := rc.mayManage(u.Role, u.ID); err != nil {
			return change{}, err
		}
		if err := checkPassword(u.Username, req.Password); err != nil {
			return change{}, err
		}
		hash, err := secrets.HashPassword([]byte(req.Password))
		if err != nil {
			return change{}, internal(err, "could not hash the password")
		}
		before := viewUser(u)
		u.PasswordHash, u.PasswordSetAt, u.UpdatedAt = hash, rc.now, rc.now
		ut, err := userTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := ut.PutUser(rc.ctx, u); err != nil {
			return change{}, err
		}
		out = u
		return change{Resource: "user", ResourceID: u.ID, TenantID: u.TenantID, Before: before,
			After: userAudit{userView: viewUser(u), Password: "set"}}, nil
	})
	if err != nil {
		return nil, err
	}
	return viewUser(out), nil
}

// userCtxKey is the context key of AsUser.
type userCtxKey struct{}

// AsUser returns ctx carrying the id of a console user who logged in with
// a password (VerifyUser). A request served with this context and no
// Authorization header acts as that user. Only code in this process can
// set a context value, so nothing arriving over the network can claim a
// user this way; the user is re-read on every request, so a disabled or
// changed user takes effect at once.
func AsUser(ctx context.Context, userID string) context.Context {
	return context.WithValue(ctx, userCtxKey{}, userID)
}

func userOf(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(userCtxKey{}).(string)
	return id, ok && id != ""
}

// authenticateUser turns a logged-in user into the acting admin.
func (a *API) authenticateUser(ctx context.Context, id string) (domain.Admin, error) {
	denied := &apiError{Code: CodeUnauthorized, Detail: "this user account was disabled or removed: log in again"}
	if _, ok := a.cfg.Store.(store.UserStore); !ok {
		return domain.Admin{}, denied
	}
	var u store.User
	err := a.cfg.Store.View(ctx, func(tx store.Tx) error {
		ut, err := userTx(tx)
		if err != nil {
			return err
		}
		u, err = ut.GetUser(ctx, id)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return domain.Admin{}, denied
	case err != nil:
		return domain.Admin{}, internal(fmt.Errorf("user lookup: %w", err), "could not check the user account: the store is unavailable")
	case u.ID != id || u.DisabledAt != nil:
		return domain.Admin{}, denied
	case u.Role == domain.RoleDeveloper:
		// A developer acts only through the portal, which uses its own
		// token confined to the developer's consumer; this API never acts
		// as one (every GET would otherwise be open to it).
		return domain.Admin{}, &apiError{Code: CodeUnauthorized,
			Detail: "a developer account logs in to the developer portal, not the console or the admin API"}
	}
	return domain.Admin{ID: u.ID, Name: u.Username, Role: u.Role, TenantID: u.TenantID, CreatedAt: u.CreatedAt}, nil
}

// ErrLogin is VerifyUser's one answer to a failed login, whatever failed
// (unknown username, wrong password, disabled account), so a login form
// does not tell which usernames exist. (Which door a user must use —
// console or portal — is the caller's check, made after VerifyUser
// succeeded, so it tells only someone who knows the password.)
var ErrLogin = errors.New("unknown username or wrong password")

// VerifyUser checks a console login: the user exists, is not disabled,
// and password matches its argon2id hash. An unknown username costs the
// same hashing as a known one. Rate-limit callers: each check costs tens
// of milliseconds and ~19 MiB.
func VerifyUser(ctx context.Context, st store.Store, username, password string) (store.User, error) {
	if _, ok := st.(store.UserStore); !ok || !usernameRE.MatchString(username) || len(password) > maxPasswordBytes {
		secrets.VerifyDummy([]byte(password[:min(len(password), maxPasswordBytes)]))
		return store.User{}, ErrLogin
	}
	var u store.User
	err := st.View(ctx, func(tx store.Tx) error {
		ut, err := userTx(tx)
		if err != nil {
			return err
		}
		u, err = ut.GetUser(ctx, username)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Username != username) {
		secrets.VerifyDummy([]byte(password))
		return store.User{}, ErrLogin
	}
	if err != nil {
		return store.User{}, fmt.Errorf("admin: verify user: %w", err)
	}
	ok, err := secrets.VerifyPassword(u.PasswordHash, []byte(password))
	if err != nil {
		return store.User{}, fmt.Errorf("admin: verify user %s: %w", u.ID, err)
	}
	if !ok || u.DisabledAt != nil {
		return store.User{}, ErrLogin
	}
	return u, nil
}

// userEndpoints are the user-account rows of the route table.
func (a *API) userEndpoints() []*endpoint {
	return []*endpoint{
		{Method: http.MethodGet, Path: basePath + "/users", Action: "user.list", Resource: "user",
			Summary: "List user accounts (never their passwords)",
			Perm:    permRead, Query: withPage(pTenant, param{Name: "consumer", Type: "string", Description: "a developer's consumer: id, name, or tenant-slug/name"},
				param{Name: "username", Type: "string", Description: "exact username"}),
			Status: 200, Resp: userView{}, List: true, handle: a.listUsers},
		{Method: http.MethodPost, Path: basePath + "/users", Action: "user.create", Resource: "user",
			Summary: "Create a user: a console user (admins only) or a consumer's developer (admins, or a tenant-admin for its tenant's consumers); the password is stored as an argon2id hash, never returned",
			Perm:    permWrite, Body: userRequest{}, Status: 201, Resp: userView{}, handle: a.createUser},
		{Method: http.MethodGet, Path: basePath + "/users/{id}", Action: "user.get", Resource: "user",
			Summary: "Get a user by id or username",
			Perm:    permRead, Status: 200, Resp: userView{}, handle: a.getUser},
		{Method: http.MethodPost, Path: basePath + "/users/{id}/disable", Action: "user.disable", Resource: "user",
			Summary: "Disable a user: it cannot log in, and its open sessions end at their next request (a tenant-admin: its tenant's developers only)",
			Perm:    permWrite, Status: 200, Resp: userView{}, handle: a.userStatus(true)},
		{Method: http.MethodPost, Path: basePath + "/users/{id}/enable", Action: "user.enable", Resource: "user",
			Summary: "Enable a disabled user again (a tenant-admin: its tenant's developers only)",
			Perm:    permWrite, Status: 200, Resp: userView{}, handle: a.userStatus(false)},
		{Method: http.MethodPost, Path: basePath + "/users/{id}/password", Action: "user.password", Resource: "user",
			Summary: "Reset a user's password (stored as an argon2id hash, never returned; a tenant-admin: its tenant's developers only)",
			Perm:    permWrite, Body: passwordRequest{}, Status: 200, Resp: userView{}, handle: a.setPassword},
	}
}
