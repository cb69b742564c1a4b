// Package console is Gatehouse's web UI: the operators' console (served on
// the admin listener under /console/) and the consumer developers' portal
// (optionally on the proxy listener under /.well-known/gatehouse/portal/).
//
// Design:
//   - Server-rendered html/template pages with embedded assets; a small
//     vendored htmx (live tail, inline refresh) and uPlot (dashboard
//     charts) enhance them, and every page reads without JavaScript. No
//     build step: static/vendor holds the libraries as published on npm.
//   - One code path: every action goes through the admin API handler,
//     called in-process with the session's admin token (api.go), so roles,
//     validation and the audit trail are the API's. The console never
//     writes to the store.
//   - Sessions are server-side (session.go): random 256-bit ids in Secure
//     (on TLS), HttpOnly, SameSite=Strict cookies, a new id at every login
//     (session fixation), idle and absolute expiry, a bounded store.
//     Every form carries the session's synchronizer CSRF token, the login
//     form a double-submit token, and cross-origin POSTs are refused
//     (http.CrossOriginProtection) before either is looked at. Logins are
//     rate-limited per client address and per username (GCRA, a bounded
//     key set), and at most a few password checks run at once.
//   - Login is by admin token or by user account (username and password,
//     argon2id; admin.VerifyUser). A user's session carries the user's id,
//     never a token: each admin API call names the user in the request
//     context (admin.AsUser), and the API re-reads the user every time, so
//     a disabled user's session ends at its next request. Developer
//     accounts log in to the portal only (portal.go); the password check
//     and its limits are one piece of code for both forms (login.go).
//   - A strict Content-Security-Policy (no inline script or style) backs
//     html/template's contextual escaping.
package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gatehouse/internal/admin"
	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/reason"
	"gatehouse/internal/store"
)

// DefaultBase is where the console is mounted on the admin listener.
const DefaultBase = "/console"

// Config wires the console to the gateway.
type Config struct {
	// Admin is the admin API handler (admin.New(…)), serving /admin/v1/.
	// Required: every page reads and every action writes through it.
	Admin http.Handler
	// Identify names the admin a token belongs to (name, role, tenant),
	// for display and to hide forms a role may not use. It grants
	// nothing: the admin API checks every request itself. Default: a
	// lookup of the token's SHA-256 in Store.
	Identify func(ctx context.Context, token string) (domain.Admin, error)
	// Store backs the default Identify (read-only: AdminByTokenHash) and
	// the default VerifyUser.
	Store store.Store
	// VerifyUser checks a username and password and returns the user
	// (admin.ErrLogin when it does not match). Default: admin.VerifyUser
	// over Store. Nil with no Store: only admin tokens log in. Developer
	// accounts are refused here whatever VerifyUser says: they log in to
	// the portal.
	VerifyUser func(ctx context.Context, username, password string) (store.User, error)
	// Base is the mount path (default "/console"); the handler serves
	// Base+"/…" and must be mounted at Base+"/".
	Base string
	// SecureCookies marks session cookies Secure even on plain HTTP (set
	// it when a TLS-terminating proxy is in front). Requests arriving
	// over TLS always get Secure cookies.
	SecureCookies bool
	// Limiter rate-limits logins; default an in-memory GCRA limiter. Give
	// the console and the portal the same one so a username's password
	// guesses draw on one budget across both login pages.
	Limiter ratelimit.Limiter
	// IdleTimeout, MaxSessionAge and MaxSessions bound sessions (defaults
	// 30 min, 12 h, 10 000).
	IdleTimeout   time.Duration
	MaxSessionAge time.Duration
	MaxSessions   int
	Clock         clock.Clock
	Logger        *slog.Logger
}

// Console is the operators' web console; it is an http.Handler for every
// path under Config.Base.
type Console struct {
	cfg      Config
	base     string
	password *passwordLogin
	api      *apiClient
	sess     *sessions
	cookie   cookieConfig
	limit    *limiter
	static   *assets
	tpl      *renderer
	log      *slog.Logger
	clock    clock.Clock
	identify func(ctx context.Context, token string) (domain.Admin, error)
	handler  http.Handler
}

// adminInfo is who is logged in, for display.
type adminInfo struct {
	ID, Name, Role, TenantID string
}

// CanWrite: admins and tenant-admins may change objects; viewers only read.
func (a adminInfo) CanWrite() bool {
	return a.Role == domain.RoleAdmin || a.Role == domain.RoleTenantAdmin
}

// IsAdmin: the unrestricted admin role (tenants, issuers, admins).
func (a adminInfo) IsAdmin() bool { return a.Role == domain.RoleAdmin }

const (
	consoleCookie   = "gh_console"
	loginCSRFCookie = "gh_console_login"
)

// navItem is one entry of the console's navigation bar.
type navItem struct{ Path, Label string }

var consoleNav = []navItem{{"dashboard", "Dashboard"}, {"calls", "Calls"}, {"tenants", "Tenants"}, {"consumers", "Consumers"},
	{"keys", "Keys"}, {"credentials", "Credentials"}, {"services", "Services"}, {"routes", "Routes"},
	{"subscriptions", "Subscriptions"}, {"issuers", "Issuers"}, {"providers", "AI providers"}, {"models", "AI models"},
	{"budgets", "AI budgets"}, {"admins", "Admins"}, {"users", "Users"}, {"alerts", "Alerts"}, {"audit", "Audit"}}

// consolePages lists every page template of the console.
var consolePages = []string{"c_login", "c_error", "c_dashboard", "c_calls", "c_call", "c_tenants", "c_consumers",
	"c_consumer", "c_keys", "c_secret", "c_credentials", "c_services", "c_routes", "c_subscriptions", "c_issuers",
	"c_admins", "c_alerts", "c_audit", "c_providers", "c_models", "c_budgets", "c_budget", "c_users"}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Admin == nil {
		return nil, errors.New("console: Config.Admin (the admin API handler) is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Base == "" {
		cfg.Base = DefaultBase
	}
	cfg.Base = "/" + strings.Trim(cfg.Base, "/")
	if cfg.Limiter == nil {
		cfg.Limiter = NewLoginLimiter()
	}
	if cfg.VerifyUser == nil {
		cfg.VerifyUser = storeVerifier(cfg.Store)
	}
	c := &Console{
		cfg:    cfg,
		base:   cfg.Base,
		api:    &apiClient{h: cfg.Admin},
		sess:   newSessions(cfg.Clock, cfg.IdleTimeout, cfg.MaxSessionAge, cfg.MaxSessions),
		cookie: cookieConfig{path: cfg.Base + "/", secure: cfg.SecureCookies},
		limit:  &limiter{l: cfg.Limiter, clock: cfg.Clock, name: "console-login"},
		log:    cfg.Logger,
		clock:  cfg.Clock,
	}
	c.password = newPasswordLogin(c.limit, cfg.VerifyUser)
	c.identify = cfg.Identify
	if c.identify == nil {
		if cfg.Store == nil {
			return nil, errors.New("console: Config.Store or Config.Identify is required to name the logged-in admin")
		}
		c.identify = storeIdentify(cfg.Store)
	}
	var err error
	if c.static, err = newAssets(c.base + "/static/"); err != nil {
		return nil, err
	}
	funcs := templateFuncs(c.static, c.base, c.base+"/errors/")
	funcs["navItems"] = func() []navItem { return consoleNav }
	if c.tpl, err = newRenderer("c_layout.html", funcs, consolePages...); err != nil {
		return nil, err
	}
	c.tpl.log = c.log
	c.handler = c.routes()
	return c, nil
}

// storeIdentify finds the admin by the SHA-256 of the token, as the admin
// API does, and confirms the hash in constant time.
func storeIdentify(st store.Store) func(ctx context.Context, token string) (domain.Admin, error) {
	return func(ctx context.Context, token string) (domain.Admin, error) {
		sum := sha256.Sum256([]byte(token))
		h := hex.EncodeToString(sum[:])
		a, err := st.AdminByTokenHash(ctx, h)
		if err != nil {
			return domain.Admin{}, fmt.Errorf("console: identify admin: %w", err)
		}
		if !tokensEqual(a.TokenHash, h) {
			return domain.Admin{}, errors.New("console: identify admin: hash mismatch")
		}
		return a, nil
	}
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// reqState is what an authenticated handler gets (console and portal).
type reqState struct {
	id string
	se *session
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, rs *reqState)

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	b := c.base
	mux.Handle("GET "+b+"/static/", c.static)
	mux.HandleFunc("GET "+b+"/login", c.loginPage)
	mux.HandleFunc("POST "+b+"/login", c.login)
	mux.HandleFunc("GET "+b+"/errors/{code}", c.errorDoc)
	mux.HandleFunc("GET "+b, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, b+"/", http.StatusSeeOther) })

	page := func(pattern string, h handlerFunc) { mux.Handle(pattern, c.authed(h)) }
	page("POST "+b+"/logout", c.logout)
	page("GET "+b+"/{$}", c.dashboard)
	page("GET "+b+"/dashboard", c.dashboard)
	page("GET "+b+"/dashboard/trends", c.dashboardTrends)
	page("GET "+b+"/calls", c.calls)
	page("GET "+b+"/calls/rows", c.callRows)
	page("GET "+b+"/calls/{id}", c.call)

	page("GET "+b+"/tenants", c.tenants)
	page("POST "+b+"/tenants", c.createTenant)
	page("POST "+b+"/tenants/{id}/{op}", c.tenantOp)

	page("GET "+b+"/consumers", c.consumers)
	page("POST "+b+"/consumers", c.createConsumer)
	page("GET "+b+"/consumers/{id}", c.consumer)
	page("POST "+b+"/consumers/{id}/{op}", c.consumerOp)

	page("GET "+b+"/keys", c.keys)
	page("POST "+b+"/keys", c.createKey)
	page("POST "+b+"/keys/{id}/rotate", c.rotateKey)
	page("POST "+b+"/keys/{id}/revoke", c.revokeKey)

	page("GET "+b+"/credentials", c.credentials)
	page("POST "+b+"/credentials", c.createCredential)
	page("POST "+b+"/credentials/{id}/revoke", c.revokeCredential)

	page("GET "+b+"/services", c.services)
	page("POST "+b+"/services", c.createService)
	page("POST "+b+"/services/{id}/delete", c.deleteService)

	page("GET "+b+"/routes", c.routesPage)
	page("POST "+b+"/routes", c.createRoute)
	page("POST "+b+"/routes/{id}/delete", c.deleteRoute)

	page("GET "+b+"/subscriptions", c.subscriptions)
	page("POST "+b+"/subscriptions", c.createSubscription)
	page("POST "+b+"/subscriptions/{id}/{op}", c.subscriptionOp)

	page("GET "+b+"/issuers", c.issuers)
	page("POST "+b+"/issuers", c.createIssuer)
	page("POST "+b+"/issuers/{id}/delete", c.deleteIssuer)

	page("GET "+b+"/providers", c.providers)
	page("POST "+b+"/providers", c.createProvider)
	page("POST "+b+"/providers/{id}/{op}", c.providerOp)

	page("GET "+b+"/models", c.models)
	page("POST "+b+"/models", c.createModel)
	page("POST "+b+"/models/{id}/delete", c.deleteModel)

	page("GET "+b+"/budgets", c.budgets)
	page("POST "+b+"/budgets", c.createBudget)
	page("GET "+b+"/budgets/{id}", c.budget)
	page("POST "+b+"/budgets/{id}/delete", c.deleteBudget)

	page("GET "+b+"/admins", c.admins)
	page("POST "+b+"/admins", c.createAdmin)
	page("POST "+b+"/admins/{id}/delete", c.deleteAdmin)

	page("GET "+b+"/users", c.users)
	page("POST "+b+"/users", c.createUser)
	page("POST "+b+"/users/{id}/{op}", c.userOp)

	page("GET "+b+"/alerts", c.alerts)
	page("GET "+b+"/audit", c.audit)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusForbidden, "Cross-origin request refused",
			"This form was submitted from another site. Reload the console page and submit it from there.", "")
	}))
	inner := cop.Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		inner.ServeHTTP(w, r)
	})
}

// authed requires a live session, and the session's CSRF token on every
// POST.
func (c *Console) authed(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := cookieValue(r, consoleCookie)
		se, ok := c.sess.get(id)
		if !ok || (se.token == "" && se.user == "") {
			if r.Method != http.MethodGet {
				c.renderError(w, r, nil, http.StatusUnauthorized, "Session expired", "Log in again, then repeat the action.", "")
				return
			}
			if r.Header.Get("HX-Request") == "true" {
				// An htmx poll: make the whole page go to the login.
				w.Header().Set("HX-Redirect", c.base+"/login")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, c.base+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		rs := &reqState{id: id, se: se}
		if se.user != "" {
			// Every admin API call of this request acts as the user.
			r = r.WithContext(admin.AsUser(r.Context(), se.user))
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if !tokensEqual(se.csrf, r.PostFormValue("csrf")) {
				c.renderError(w, r, rs, http.StatusForbidden, "Form expired or forged",
					"The form's CSRF token does not match this session. Reload the page and submit the form again.", "")
				return
			}
		}
		h(w, r, rs)
	})
}

// view is the data every console page gets.
type view struct {
	Title   string
	Nav     string
	Base    string
	CSRF    string
	Admin   adminInfo
	Flashes []flash
	D       any
}

func (c *Console) view(rs *reqState, nav, title string, d any) *view {
	v := &view{Title: title, Nav: nav, Base: c.base, D: d}
	if rs != nil {
		v.CSRF = rs.se.csrf
		v.Admin = rs.se.admin
		v.Flashes = c.sess.takeFlashes(rs.se)
	}
	return v
}

// errorData is the body of the error page.
type errorData struct {
	Status    int
	Heading   string
	Detail    string
	RequestID string
	Back      string
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, rs *reqState, status int, heading, detail, requestID string) {
	back := r.Header.Get("Referer")
	if u, err := url.Parse(back); err != nil || u.Path == "" {
		back = c.base + "/"
	} else {
		back = cleanPath(c.base, u.RequestURI())
	}
	c.tpl.render(w, status, "c_error", "", c.view(rs, "", heading, errorData{Status: status, Heading: heading, Detail: detail, RequestID: requestID, Back: back}))
}

// apiFailed shows an admin API problem with the API's own status: a
// viewer's POST is a 403 page saying why, exactly as the API said it.
func (c *Console) apiFailed(w http.ResponseWriter, r *http.Request, rs *reqState, err error) {
	var ae *apiError
	if rs != nil && errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		// The token was deleted or the user disabled since login: the
		// session is over.
		c.sess.delete(rs.id)
		c.cookie.clear(w, r, consoleCookie)
		c.renderError(w, r, nil, http.StatusUnauthorized, "Logged out", "Your admin token or user account is no longer valid ("+ae.Error()+"). Log in again.", ae.RequestID)
		return
	}
	if errors.As(err, &ae) {
		c.renderError(w, r, rs, ae.Status, "The admin API refused: "+ae.Title, ae.Detail, ae.RequestID)
		return
	}
	c.log.Error("console: admin API call failed", "path", r.URL.Path, "err", err)
	c.renderError(w, r, rs, http.StatusInternalServerError, "Internal error", "The console could not complete the request; see the gateway log.", "")
}

// done flashes a success message and redirects (post/redirect/get).
func (c *Console) done(w http.ResponseWriter, r *http.Request, rs *reqState, msg, to string) {
	c.sess.addFlash(rs.se, "ok", msg)
	http.Redirect(w, r, cleanPath(c.base, to), http.StatusSeeOther)
}

// loginData is the login page's data.
type loginData struct {
	Next      string
	LoginCSRF string
	Error     string
	// Username is kept after a failed attempt (never the password).
	Username string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	tok, err := randomToken(32)
	if err != nil {
		c.renderError(w, r, nil, http.StatusInternalServerError, "Internal error", "No randomness available.", "")
		return
	}
	c.cookie.set(w, r, loginCSRFCookie, tok, 600)
	c.tpl.render(w, http.StatusOK, "c_login", "", c.view(nil, "login", "Log in", loginData{Next: cleanPath(c.base, r.URL.Query().Get("next")), LoginCSRF: tok}))
}

// login checks the double-submit token and either the admin token
// (through the admin API itself) or a username and password (VerifyUser),
// then starts a brand-new session: whatever session id the browser
// brought is discarded, never promoted (session fixation).
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	username := strings.TrimSpace(r.PostFormValue("username"))
	again := func(status int, msg string) {
		tok, err := randomToken(32)
		if err != nil {
			c.renderError(w, r, nil, http.StatusInternalServerError, "Internal error", "No randomness available.", "")
			return
		}
		c.cookie.set(w, r, loginCSRFCookie, tok, 600)
		c.tpl.render(w, status, "c_login", "", c.view(nil, "login", "Log in", loginData{Next: cleanPath(c.base, r.PostFormValue("next")),
			LoginCSRF: tok, Error: msg, Username: username}))
	}
	refused := func(f *loginRefusal) {
		f.header(w)
		again(f.status, f.msg)
	}
	if f := c.limit.fromAddress(r); f != nil {
		refused(f)
		return
	}
	if !tokensEqual(cookieValue(r, loginCSRFCookie), r.PostFormValue("login_csrf")) {
		again(http.StatusForbidden, "The login form expired or was not sent from this page; try again.")
		return
	}
	var adm domain.Admin
	var token string
	switch {
	case username != "":
		if !c.password.enabled() {
			again(http.StatusUnauthorized, "This gateway has no user accounts; log in with an admin token.")
			return
		}
		u, f, err := c.password.check(r.Context(), username, r.PostFormValue("password"))
		if err != nil {
			c.log.Error("console: verify user", "err", err)
			again(http.StatusInternalServerError, "The login could not be checked; see the gateway log.")
			return
		}
		if f != nil {
			if f.status == http.StatusUnauthorized {
				c.log.Info("console: login refused", "remote", r.RemoteAddr, "username", username)
			}
			refused(f)
			return
		}
		if u.Role == domain.RoleDeveloper {
			// Said only to someone who knew the password; the admin API
			// would refuse the account anyway.
			c.log.Info("console: developer account refused", "remote", r.RemoteAddr, "username", username)
			again(http.StatusForbidden, "This is a developer account: it logs in to the developer portal, not the console.")
			return
		}
		adm = domain.Admin{ID: u.ID, Name: u.Username, Role: u.Role, TenantID: u.TenantID}
	default:
		token = strings.TrimSpace(r.PostFormValue("token"))
		if token == "" {
			again(http.StatusUnauthorized, "Enter a username and password, or an admin token.")
			return
		}
		if err := c.api.get(r.Context(), token, pathOf(nil, "status"), nil); err != nil {
			if isStatus(err, http.StatusUnauthorized) {
				c.log.Info("console: login refused", "remote", r.RemoteAddr)
				again(http.StatusUnauthorized, "That admin token is not recognised.")
				return
			}
			c.apiFailed(w, r, nil, err)
			return
		}
		a, err := c.identify(r.Context(), token)
		if err != nil {
			c.log.Error("console: identify admin after login", "err", err)
			again(http.StatusUnauthorized, "That admin token is not recognised.")
			return
		}
		adm = a
	}
	c.sess.delete(cookieValue(r, consoleCookie))
	id, _, err := c.sess.create(func(se *session) {
		if token != "" {
			se.token = token
		} else {
			se.user = adm.ID
		}
		se.admin = adminInfo{ID: adm.ID, Name: adm.Name, Role: adm.Role, TenantID: adm.TenantID}
	})
	if err != nil {
		c.renderError(w, r, nil, http.StatusInternalServerError, "Internal error", "Could not start a session.", "")
		return
	}
	c.log.Info("console: login", "admin", adm.Name, "admin_id", adm.ID, "role", adm.Role, "by", map[bool]string{true: "token", false: "password"}[token != ""])
	c.cookie.clear(w, r, loginCSRFCookie)
	c.cookie.set(w, r, consoleCookie, id, int(c.sess.absolute.Seconds()))
	http.Redirect(w, r, cleanPath(c.base, r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, rs *reqState) {
	c.sess.delete(rs.id)
	c.cookie.clear(w, r, consoleCookie)
	http.Redirect(w, r, c.base+"/login", http.StatusSeeOther)
}

// errorDoc serves the reason catalogue's page for a code, so the
// console's "what does this mean" links work on the admin listener too.
func (c *Console) errorDoc(w http.ResponseWriter, r *http.Request) {
	b, ok := reason.Page(r.PathValue("code"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	// The catalogue's page styles itself inline and has no script.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}
