package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/doctor"
	"gatehouse/internal/domain"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/reason"
	"gatehouse/internal/store"
	"gatehouse/internal/trace"
)

// DefaultPortalBase is where the portal is mounted on the proxy listener.
const DefaultPortalBase = "/.well-known/gatehouse/portal"

// PortalConfig wires the developer portal.
//
// Who may do what. A portal user logs in either with one of a consumer's
// API keys (possession proven by the gateway's own whoami, in-process) or
// with a developer account (username and password; a user of role
// developer, bound to one consumer — see login.go for the protections it
// shares with the console's login). Either way the session acts for that
// one consumer. The portal acts through the admin API with Token, a
// server-side admin token the user never sees, and confines every action
// to the session's consumer: the consumer id in every request it makes
// comes from the session, never from the form; a key, call or subscription
// is acted on only after the API said it belongs to that consumer; only
// published services and the consumer's own tenant's services can be
// subscribed to.
//
// Every request re-reads the consumer and its tenant: once either is
// suspended the session ends. A developer session also re-reads its user,
// and ends once the user is disabled or rebound. Changes (key create,
// rotate, revoke; subscription requests) from a key session also need its
// key to still authenticate at that moment, so a revoked key's session can
// read its calls — and see why they fail — but can no longer mint keys; a
// developer session's right to change is its account, checked at every
// request. Console accounts (admin, tenant-admin, viewer) do not log in
// here, and developer accounts do not log in to the console.
type PortalConfig struct {
	// Admin is the admin API handler (admin.New(…)). Required.
	Admin http.Handler
	// Token is the admin token the portal acts with: role admin (every
	// tenant's consumers may use the portal) or tenant-admin (only that
	// tenant's). Required. The audit log names this admin as the actor.
	Token string
	// Proxy is the proxy listener's handler; the portal asks its
	// /.well-known/gatehouse/whoami in-process who a key belongs to.
	// Required.
	Proxy http.Handler
	// ProxyURL is the gateway's base URL the doctor sends its probes to.
	// Default: the address of the listener the portal request came in on
	// (never the Host header: a client must not point the doctor, and its
	// key, at another host).
	ProxyURL string
	// Base is the mount path (default /.well-known/gatehouse/portal).
	Base string
	// Store enables developer logins: VerifyUser's default reads the
	// users' password hashes from it (read-only). Nil, and no VerifyUser:
	// the portal takes API keys only.
	Store store.Store
	// VerifyUser checks a developer's username and password (default
	// admin.VerifyUser over Store), as Config.VerifyUser does for the
	// console; only users of role developer get in.
	VerifyUser func(ctx context.Context, username, password string) (store.User, error)
	// DoctorTimeout bounds each network step of a doctor run (default 5s).
	DoctorTimeout time.Duration

	SecureCookies bool
	// Limiter rate-limits logins (default: in memory, bounded); the
	// server gives the portal and the console the same one, so a
	// username's guesses draw on one budget across both login pages.
	Limiter       ratelimit.Limiter
	IdleTimeout   time.Duration
	MaxSessionAge time.Duration
	MaxSessions   int
	Clock         clock.Clock
	Logger        *slog.Logger
}

// Portal is the consumer developers' portal; an http.Handler for every
// path under PortalConfig.Base.
type Portal struct {
	cfg      PortalConfig
	base     string
	api      *apiClient
	sess     *sessions
	cookie   cookieConfig
	limit    *limiter
	password *passwordLogin
	static   *assets
	tpl      *renderer
	log      *slog.Logger
	clock    clock.Clock
	handler  http.Handler
}

// portalIdentity is the consumer a portal session acts for, and how the
// session logged in: with a key (CredentialID, Environment) or as a
// developer account (UserID, Username).
type portalIdentity struct {
	ConsumerID   string
	ConsumerName string
	TenantID     string
	TenantSlug   string
	CredentialID string
	Environment  string
	UserID       string
	Username     string
}

const (
	portalCookie      = "gh_portal"
	portalLoginCookie = "gh_portal_login"
)

type portalNavItem struct{ Path, Nav, Label string }

var portalNav = []portalNavItem{{"", "home", "Overview"}, {"services", "services", "Services"}, {"keys", "keys", "Keys"},
	{"calls", "calls", "Calls"}, {"doctor", "doctor", "Doctor"}}

var portalPages = []string{"p_login", "p_error", "p_home", "p_services", "p_keys", "p_secret", "p_calls", "p_call", "p_doctor"}

// NewPortal builds the portal.
func NewPortal(cfg PortalConfig) (*Portal, error) {
	switch {
	case cfg.Admin == nil:
		return nil, errors.New("portal: PortalConfig.Admin (the admin API handler) is required")
	case cfg.Token == "":
		return nil, errors.New("portal: PortalConfig.Token (the admin token the portal acts with) is required")
	case cfg.Proxy == nil:
		return nil, errors.New("portal: PortalConfig.Proxy (the proxy handler, for whoami) is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Base == "" {
		cfg.Base = DefaultPortalBase
	}
	cfg.Base = "/" + strings.Trim(cfg.Base, "/")
	if cfg.Limiter == nil {
		cfg.Limiter = NewLoginLimiter()
	}
	if cfg.VerifyUser == nil {
		cfg.VerifyUser = storeVerifier(cfg.Store)
	}
	if cfg.DoctorTimeout <= 0 {
		cfg.DoctorTimeout = 5 * time.Second
	}
	if cfg.ProxyURL != "" {
		u, err := url.Parse(cfg.ProxyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("portal: ProxyURL %q must be an http(s) URL with a host", cfg.ProxyURL)
		}
		cfg.ProxyURL = strings.TrimSuffix(cfg.ProxyURL, "/")
	}
	p := &Portal{
		cfg:    cfg,
		base:   cfg.Base,
		api:    &apiClient{h: cfg.Admin},
		sess:   newSessions(cfg.Clock, cfg.IdleTimeout, cfg.MaxSessionAge, cfg.MaxSessions),
		cookie: cookieConfig{path: cfg.Base + "/", secure: cfg.SecureCookies},
		limit:  &limiter{l: cfg.Limiter, clock: cfg.Clock, name: "portal-login"},
		log:    cfg.Logger,
		clock:  cfg.Clock,
	}
	p.password = newPasswordLogin(p.limit, cfg.VerifyUser)
	var err error
	if p.static, err = newAssets(p.base + "/static/"); err != nil {
		return nil, err
	}
	funcs := templateFuncs(p.static, p.base, reason.ErrorsPath)
	funcs["navItems"] = func() []portalNavItem { return portalNav }
	if p.tpl, err = newRenderer("p_layout.html", funcs, portalPages...); err != nil {
		return nil, err
	}
	p.tpl.log = p.log
	p.handler = p.routes()
	return p, nil
}

// ServeHTTP implements http.Handler.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

func (p *Portal) routes() http.Handler {
	mux := http.NewServeMux()
	b := p.base
	mux.Handle("GET "+b+"/static/", p.static)
	mux.HandleFunc("GET "+b+"/login", p.loginPage)
	mux.HandleFunc("POST "+b+"/login", p.login)
	mux.HandleFunc("GET "+b, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, b+"/", http.StatusSeeOther) })
	page := func(pattern string, h handlerFunc) { mux.Handle(pattern, p.authed(h)) }
	page("POST "+b+"/logout", p.logout)
	page("GET "+b+"/{$}", p.home)
	page("GET "+b+"/services", p.services)
	page("POST "+b+"/subscriptions", p.subscribe)
	page("GET "+b+"/keys", p.keys)
	page("POST "+b+"/keys", p.createKey)
	page("POST "+b+"/keys/{id}/rotate", p.rotateKey)
	page("POST "+b+"/keys/{id}/revoke", p.revokeKey)
	page("GET "+b+"/calls", p.calls)
	page("GET "+b+"/calls/{id}", p.call)
	page("GET "+b+"/doctor", p.doctorPage)
	page("POST "+b+"/doctor", p.runDoctor)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.renderError(w, r, nil, http.StatusForbidden, "Cross-origin request refused", "This form was submitted from another site.")
	}))
	inner := cop.Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		inner.ServeHTTP(w, r)
	})
}

func (p *Portal) authed(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := cookieValue(r, portalCookie)
		se, ok := p.sess.get(id)
		if !ok || se.consumer.ConsumerID == "" {
			if r.Method != http.MethodGet {
				p.renderError(w, r, nil, http.StatusUnauthorized, "Session expired", "Log in again with your API key, then repeat the action.")
				return
			}
			http.Redirect(w, r, p.base+"/login", http.StatusSeeOther)
			return
		}
		ps := &reqState{id: id, se: se}
		if err := p.stillActive(r.Context(), se); err != nil {
			var out *loggedOut
			if errors.As(err, &out) {
				p.log.Info("portal: session ended", "consumer", se.consumer.ConsumerID, "user", se.consumer.UserID, "why", out.why)
				p.sess.delete(id)
				p.cookie.clear(w, r, portalCookie)
				p.renderError(w, r, nil, http.StatusUnauthorized, "Logged out", out.why)
				return
			}
			p.apiFailed(w, r, ps, err)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if !tokensEqual(se.csrf, r.PostFormValue("csrf")) {
				p.renderError(w, r, ps, http.StatusForbidden, "Form expired or forged",
					"The form's CSRF token does not match this session. Reload the page and submit the form again.")
				return
			}
		}
		h(w, r, ps)
	})
}

// pview is the data every portal page gets.
type pview struct {
	Title   string
	Nav     string
	Base    string
	CSRF    string
	Me      portalIdentity
	Flashes []flash
	D       any
}

func (p *Portal) view(ps *reqState, nav, title string, d any) *pview {
	v := &pview{Title: title, Nav: nav, Base: p.base, D: d}
	if ps != nil {
		v.CSRF, v.Me, v.Flashes = ps.se.csrf, ps.se.consumer, p.sess.takeFlashes(ps.se)
	}
	return v
}

func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, ps *reqState, status int, heading, detail string) {
	p.tpl.render(w, status, "p_error", "", p.view(ps, "", heading, errorData{Status: status, Heading: heading, Detail: detail, Back: p.base + "/"}))
}

// apiFailed reports an admin API failure to a portal user. The API's
// detail is about the portal's own requests, which are confined to the
// user's consumer, so it names nothing of others'.
func (p *Portal) apiFailed(w http.ResponseWriter, r *http.Request, ps *reqState, err error) {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status < 500 {
		p.renderError(w, r, ps, ae.Status, "Refused", ae.Detail)
		return
	}
	p.log.Error("portal: admin API call failed", "path", r.URL.Path, "err", err)
	p.renderError(w, r, ps, http.StatusInternalServerError, "Internal error", "The portal could not complete the request; quote the time to the gateway's operators.")
}

func (p *Portal) done(w http.ResponseWriter, r *http.Request, ps *reqState, msg, to string) {
	p.sess.addFlash(ps.se, "ok", msg)
	http.Redirect(w, r, cleanPath(p.base, to), http.StatusSeeOther)
}

// whoamiAnswer is the gateway's whoami answer, or its rejection.
type whoamiAnswer struct {
	Tenant         string `json:"tenant"`
	Consumer       string `json:"consumer"`
	CredentialID   string `json:"credential_id"`
	CredentialType string `json:"credential_type"`
	Environment    string `json:"environment"`
	// Rejection fields (problem+json).
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Hint   string `json:"hint"`
	Status int    `json:"status"`
}

// whoami asks the proxy, in-process, who key belongs to. The request
// carries the browser's address so whoami's own rate limit applies per
// client.
func (p *Portal) whoami(ctx context.Context, r *http.Request, key string) (whoamiAnswer, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://portal.internal/.well-known/gatehouse/whoami", http.NoBody)
	if err != nil {
		return whoamiAnswer{}, 0, fmt.Errorf("portal: whoami request: %w", err)
	}
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	req.Header.Set("Authorization", "Bearer "+key)
	rec := &recorder{header: http.Header{}}
	p.cfg.Proxy.ServeHTTP(rec, req)
	var a whoamiAnswer
	if err := json.Unmarshal(rec.body.Bytes(), &a); err != nil {
		return whoamiAnswer{}, rec.status, fmt.Errorf("portal: whoami answered %d without JSON: %w", rec.status, err)
	}
	return a, rec.status, nil
}

type portalLogin struct {
	LoginCSRF string
	Error     string
	Code      string
	Hint      string
	// Passwords: the form offers developer accounts (username and
	// password) as well as keys.
	Passwords bool
	// Username is kept after a failed attempt (never the password).
	Username string
}

func (p *Portal) loginPage(w http.ResponseWriter, r *http.Request) {
	p.loginForm(w, r, http.StatusOK, portalLogin{})
}

func (p *Portal) loginForm(w http.ResponseWriter, r *http.Request, status int, d portalLogin) {
	tok, err := randomToken(32)
	if err != nil {
		p.renderError(w, r, nil, http.StatusInternalServerError, "Internal error", "No randomness available.")
		return
	}
	d.LoginCSRF, d.Passwords = tok, p.password.enabled()
	p.cookie.set(w, r, portalLoginCookie, tok, 600)
	p.tpl.render(w, status, "p_login", "", p.view(nil, "login", "Log in", d))
}

// login checks the double-submit token and either proves possession of a
// key through whoami or checks a developer's username and password, then
// resolves the consumer through the admin API and starts a new session
// (never one the browser brought along).
func (p *Portal) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if f := p.limit.fromAddress(r); f != nil {
		f.header(w)
		p.loginForm(w, r, f.status, portalLogin{Error: f.msg})
		return
	}
	if !tokensEqual(cookieValue(r, portalLoginCookie), r.PostFormValue("login_csrf")) {
		p.loginForm(w, r, http.StatusForbidden, portalLogin{Error: "The login form expired or was not sent from this page; try again."})
		return
	}
	if username := strings.TrimSpace(r.PostFormValue("username")); username != "" {
		p.loginDeveloper(w, r, username)
		return
	}
	key := r.PostFormValue("key")
	if strings.TrimSpace(key) == "" {
		p.loginForm(w, r, http.StatusUnauthorized, portalLogin{Error: "Paste one of your Gatehouse API keys."})
		return
	}
	who, status, err := p.whoami(r.Context(), r, key)
	if err != nil {
		p.log.Error("portal: whoami at login", "err", err)
		p.renderError(w, r, nil, http.StatusBadGateway, "Gateway unavailable", "The gateway could not check your key right now; try again shortly.")
		return
	}
	if status != http.StatusOK {
		// The gateway's own verdict, exactly as a call would get it:
		// it never tells more than the key proves.
		p.loginForm(w, r, http.StatusUnauthorized, portalLogin{Error: "The gateway refused this key: " + who.Detail, Code: who.Code, Hint: who.Hint})
		return
	}
	if who.CredentialType != "api_key" || who.Consumer == "" || who.Tenant == "" {
		p.loginForm(w, r, http.StatusUnauthorized, portalLogin{Error: "Log in with a Gatehouse API key (gk_…)."})
		return
	}
	var cn domain.Consumer
	if err := p.api.get(r.Context(), p.cfg.Token, pathOf(nil, "consumers", who.Tenant+"/"+who.Consumer), &cn); err != nil {
		p.log.Error("portal: resolving the consumer of a key", "credential_id", who.CredentialID, "err", err)
		p.renderError(w, r, nil, http.StatusForbidden, "Portal not available for this key",
			"Your key works, but this portal cannot manage its application. Ask the gateway's operators.")
		return
	}
	var k keyItem
	if err := p.api.get(r.Context(), p.cfg.Token, pathOf(nil, "keys", who.CredentialID), &k); err != nil || k.ConsumerID != cn.ID {
		p.log.Error("portal: key and consumer disagree", "credential_id", who.CredentialID, "consumer", cn.ID, "err", err)
		p.renderError(w, r, nil, http.StatusForbidden, "Portal not available for this key", "Your key could not be matched to its application.")
		return
	}
	p.startSession(w, r, key, portalIdentity{ConsumerID: cn.ID, ConsumerName: cn.Name, TenantID: cn.TenantID, TenantSlug: who.Tenant,
		CredentialID: who.CredentialID, Environment: who.Environment})
}

// loginDeveloper checks a developer account's username and password with
// the console's guard (per-username limit, bounded argon2id checks, one
// answer for every mismatch), then resolves its consumer with the
// portal's token — so an account whose consumer this portal cannot serve
// does not get in either.
func (p *Portal) loginDeveloper(w http.ResponseWriter, r *http.Request, username string) {
	again := func(status int, msg string) {
		p.loginForm(w, r, status, portalLogin{Error: msg, Username: username})
	}
	if !p.password.enabled() {
		again(http.StatusUnauthorized, "This portal takes API keys only; paste one of your keys.")
		return
	}
	u, f, err := p.password.check(r.Context(), username, r.PostFormValue("password"))
	if err != nil {
		p.log.Error("portal: verify user", "err", err)
		again(http.StatusInternalServerError, "The login could not be checked right now; try again shortly.")
		return
	}
	if f != nil {
		if f.status == http.StatusUnauthorized {
			p.log.Info("portal: login refused", "remote", r.RemoteAddr, "username", username)
		}
		f.header(w)
		again(f.status, f.msg)
		return
	}
	if u.Role != domain.RoleDeveloper || u.ConsumerID == "" {
		// Said only to someone who knew the password.
		p.log.Info("portal: console account refused", "remote", r.RemoteAddr, "username", username, "role", u.Role)
		again(http.StatusForbidden, "This is a console account: it logs in to the Gatehouse console, not the developer portal. "+
			"Ask for a developer account bound to your application, or log in with one of its API keys.")
		return
	}
	me := portalIdentity{ConsumerID: u.ConsumerID, UserID: u.ID, Username: u.Username}
	err = p.refresh(r.Context(), &me)
	var out *loggedOut
	if errors.As(err, &out) {
		again(http.StatusForbidden, out.why)
		return
	}
	if err != nil {
		p.log.Error("portal: resolving a developer's consumer", "user", u.ID, "consumer", u.ConsumerID, "err", err)
		p.renderError(w, r, nil, http.StatusForbidden, "Portal not available for this account",
			"Your account works, but this portal cannot manage its application. Ask the gateway's operators.")
		return
	}
	p.startSession(w, r, "", me)
}

// startSession replaces whatever session the browser brought with a new
// one (session fixation) acting for me, with key for a key login.
func (p *Portal) startSession(w http.ResponseWriter, r *http.Request, key string, me portalIdentity) {
	p.sess.delete(cookieValue(r, portalCookie))
	id, _, err := p.sess.create(func(se *session) {
		se.key, se.user, se.consumer = key, me.UserID, me
	})
	if err != nil {
		p.renderError(w, r, nil, http.StatusInternalServerError, "Internal error", "Could not start a session.")
		return
	}
	if me.UserID != "" {
		p.log.Info("portal: login", "consumer", me.ConsumerID, "user", me.UserID, "username", me.Username, "by", "password")
	} else {
		p.log.Info("portal: login", "consumer", me.ConsumerID, "credential_id", me.CredentialID, "by", "key")
	}
	p.cookie.clear(w, r, portalLoginCookie)
	p.cookie.set(w, r, portalCookie, id, int(p.sess.absolute.Seconds()))
	http.Redirect(w, r, p.base+"/", http.StatusSeeOther)
}

// loggedOut is why a session may not go on (or a developer may not log
// in): its account, consumer or tenant is no longer active. why is shown
// to the user.
type loggedOut struct{ why string }

func (e *loggedOut) Error() string { return "portal: " + e.why }

// userItemPortal is the part of a user the portal re-reads.
type userItemPortal struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	Role       string `json:"role"`
	ConsumerID string `json:"consumer"`
	Status     string `json:"status"`
}

// refresh re-reads, with the portal's token, who the session acts for:
// for a developer its user (active, still a developer of the same
// consumer), then the consumer and its tenant (both active). It fills in
// the consumer's name and tenant. A *loggedOut error says why the session
// must end; any other error is the admin API failing.
func (p *Portal) refresh(ctx context.Context, me *portalIdentity) error {
	gone := func(err error) bool { return isStatus(err, http.StatusNotFound) || isStatus(err, http.StatusForbidden) }
	if me.UserID != "" {
		var u userItemPortal
		err := p.api.get(ctx, p.cfg.Token, pathOf(nil, "users", me.UserID), &u)
		switch {
		case gone(err):
			return &loggedOut{"Your account is not available in this portal (removed, or outside what this portal serves)."}
		case err != nil:
			return err
		case u.Status != domain.StatusActive:
			return &loggedOut{"Your account " + u.Username + " was disabled by the gateway's operators."}
		case u.Role != domain.RoleDeveloper || u.ConsumerID != me.ConsumerID:
			return &loggedOut{"Your account " + u.Username + " no longer acts for this application."}
		}
	}
	var cn domain.Consumer
	err := p.api.get(ctx, p.cfg.Token, pathOf(nil, "consumers", me.ConsumerID), &cn)
	switch {
	case gone(err):
		return &loggedOut{"Your application is not available in this portal."}
	case err != nil:
		return err
	case cn.Status != domain.StatusActive:
		return &loggedOut{"Your application " + cn.Name + " is " + cn.Status + ": its calls are refused and the portal is closed to it. Ask the gateway's operators."}
	}
	var tn domain.Tenant
	err = p.api.get(ctx, p.cfg.Token, pathOf(nil, "tenants", cn.TenantID), &tn)
	switch {
	case gone(err):
		return &loggedOut{"Your application's tenant is not available in this portal."}
	case err != nil:
		return err
	case tn.Status != domain.StatusActive:
		return &loggedOut{"Your application's tenant " + tn.Slug + " is " + tn.Status + ": its calls are refused and the portal is closed to it. Ask the gateway's operators."}
	}
	me.ConsumerName, me.TenantID, me.TenantSlug = cn.Name, cn.TenantID, tn.Slug
	return nil
}

// stillActive is refresh for a live session: the session ends when its
// user, consumer or tenant is no longer active, and keeps its identity
// otherwise (a renamed consumer shows its old name until the next login).
func (p *Portal) stillActive(ctx context.Context, se *session) error {
	me := se.consumer
	return p.refresh(ctx, &me)
}

func (p *Portal) logout(w http.ResponseWriter, r *http.Request, ps *reqState) {
	p.sess.delete(ps.id)
	p.cookie.clear(w, r, portalCookie)
	http.Redirect(w, r, p.base+"/login", http.StatusSeeOther)
}

// errKeyStopped: the session's key no longer authenticates.
var errKeyStopped = errors.New("portal: session key no longer authenticates")

// fresh re-checks, before any change, that the session's key still
// authenticates as the same consumer.
func (p *Portal) fresh(r *http.Request, ps *reqState) (whoamiAnswer, error) {
	who, status, err := p.whoami(r.Context(), r, p.sess.portalKey(ps.se))
	if err != nil {
		return who, err
	}
	if status != http.StatusOK || who.Consumer != ps.se.consumer.ConsumerName || who.Tenant != ps.se.consumer.TenantSlug {
		return who, errKeyStopped
	}
	return who, nil
}

// guardChange runs fresh and renders the refusal; it reports whether the
// change may go ahead.
func (p *Portal) guardChange(w http.ResponseWriter, r *http.Request, ps *reqState) bool {
	if ps.se.user != "" {
		// A developer session acts by its account, which authed re-read
		// (with its consumer and tenant) for this very request.
		return true
	}
	who, err := p.fresh(r, ps)
	if errors.Is(err, errKeyStopped) {
		msg := "The key you logged in with no longer works"
		if who.Code != "" {
			msg += " (" + who.Code + ": " + who.Detail + ")"
		}
		p.renderError(w, r, ps, http.StatusForbidden, "Log in with a working key to make changes",
			msg+". You can still read your calls; to manage keys or subscriptions, log out and log in with a working key.")
		return false
	}
	if err != nil {
		p.log.Error("portal: whoami before a change", "err", err)
		p.renderError(w, r, ps, http.StatusBadGateway, "Gateway unavailable", "The gateway could not check your key right now; try again shortly.")
		return false
	}
	return true
}

// ownKey loads a key and confirms it is the session consumer's. Any other
// key is "not found": the portal does not tell whether it exists.
func (p *Portal) ownKey(r *http.Request, ps *reqState, id string) (keyItem, bool) {
	var k keyItem
	if err := p.api.get(r.Context(), p.cfg.Token, pathOf(nil, "keys", id), &k); err != nil {
		return keyItem{}, false
	}
	return k, k.ConsumerID == ps.se.consumer.ConsumerID
}

// ---- pages ----

// usage is the portal's summary of the consumer's recent calls.
type usage struct {
	Window    string
	Total     int
	OK        int
	Rejected  int
	ByReason  []counted
	Truncated bool
}

type homeData struct {
	Keys          []keyItem
	Subscriptions []subItem
	Services      map[string]string
	Usage         usage
	Rejections    []domain.Call
}

// portalUsageMax bounds the records the usage summary reads.
const portalUsageMax = 1000

// keyLifecycleCodes are the rejections of a key whose holder proved
// possession (the secret matched) but whose key is revoked, expired or
// rotated. The gateway records such calls with the credential id and
// without the consumer (the pipeline sets the consumer only once
// verification passes), so the portal finds them by the consumer's key
// ids as well.
var keyLifecycleCodes = []string{reason.KeyRevoked, reason.KeyExpired, reason.KeyRotated}

func isLifecycle(code string) bool {
	for _, c := range keyLifecycleCodes {
		if c == code {
			return true
		}
	}
	return false
}

// ownKeyIDs lists every key id of the consumer, revoked ones included.
func (p *Portal) ownKeyIDs(ctx context.Context, consumerID string) (map[string]bool, error) {
	ids := map[string]bool{}
	q := url.Values{"consumer": {consumerID}, "limit": {"1000"}}
	for {
		var pg listPage[keyItem]
		if err := p.api.get(ctx, p.cfg.Token, pathOf(q, "keys"), &pg); err != nil {
			return nil, err
		}
		for _, k := range pg.Items {
			ids[k.ID] = true
		}
		if pg.Next == "" {
			return ids, nil
		}
		q.Set("after", pg.Next)
	}
}

// ownsCall reports whether a call record is the consumer's: its consumer,
// or a lifecycle rejection of one of its keys.
func ownsCall(c *domain.Call, consumerID string, keys map[string]bool) bool {
	return c.ConsumerID == consumerID || (c.ConsumerID == "" && isLifecycle(c.Code) && keys[c.CredentialID])
}

// ownCalls reads the consumer's calls matching q (since, until, status,
// reason; not after), newest first: its own records plus, on the first
// page, the lifecycle rejections of its keys (one page of each code).
func (p *Portal) ownCalls(ctx context.Context, consumerID string, q url.Values, firstPage bool) ([]domain.Call, string, error) {
	cq := url.Values{}
	for k, v := range q {
		cq[k] = v
	}
	cq.Set("consumer", consumerID)
	var pg listPage[domain.Call]
	if err := p.api.get(ctx, p.cfg.Token, pathOf(cq, "calls"), &pg); err != nil {
		return nil, "", err
	}
	if !firstPage || (q.Get("status") != "" && q.Get("status") != "401") || (q.Get("reason") != "" && !isLifecycle(q.Get("reason"))) {
		return pg.Items, pg.Next, nil
	}
	keys, err := p.ownKeyIDs(ctx, consumerID)
	if err != nil {
		return nil, "", err
	}
	out := pg.Items
	seen := map[string]bool{}
	for _, c := range out {
		seen[c.RequestID] = true
	}
	for _, code := range keyLifecycleCodes {
		if r := q.Get("reason"); r != "" && r != code {
			continue
		}
		lq := url.Values{"reason": {code}, "limit": {"1000"}}
		for _, k := range []string{"since", "until"} {
			if v := q.Get(k); v != "" {
				lq.Set(k, v)
			}
		}
		var lp listPage[domain.Call]
		if err := p.api.get(ctx, p.cfg.Token, pathOf(lq, "calls"), &lp); err != nil {
			return nil, "", err
		}
		for _, c := range lp.Items {
			if !seen[c.RequestID] && ownsCall(&c, consumerID, keys) {
				seen[c.RequestID] = true
				out = append(out, c)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b domain.Call) int { return b.Time.Compare(a.Time) })
	return out, pg.Next, nil
}

func (p *Portal) usage(ctx context.Context, consumerID string) (usage, []domain.Call, error) {
	q := url.Values{"since": {"24h"}, "limit": {fmt.Sprint(portalUsageMax)}}
	items, next, err := p.ownCalls(ctx, consumerID, q, true)
	if err != nil {
		return usage{}, nil, err
	}
	pg := listPage[domain.Call]{Items: items, Next: next}
	u := usage{Window: "24 h", Total: len(pg.Items), Truncated: pg.Next != ""}
	counts := map[string]int{}
	var rej []domain.Call
	for _, c := range pg.Items {
		if rejected(&c) {
			u.Rejected++
			code := c.Code
			if code == "" {
				code = fmt.Sprintf("HTTP %d from the service", c.Status)
			}
			counts[code]++
			if len(rej) < 10 {
				rej = append(rej, c)
			}
		} else {
			u.OK++
		}
	}
	u.ByReason = top(counts, u.Rejected, 10)
	return u, rej, nil
}

func (p *Portal) home(w http.ResponseWriter, r *http.Request, ps *reqState) {
	ctx, me := r.Context(), ps.se.consumer
	d := homeData{Services: map[string]string{}}
	var keys listPage[keyItem]
	var subs listPage[subItem]
	q := url.Values{"consumer": {me.ConsumerID}, "limit": {"100"}}
	if err := p.api.get(ctx, p.cfg.Token, pathOf(q, "keys"), &keys); err != nil {
		p.apiFailed(w, r, ps, err)
		return
	}
	if err := p.api.get(ctx, p.cfg.Token, pathOf(q, "subscriptions"), &subs); err != nil {
		p.apiFailed(w, r, ps, err)
		return
	}
	d.Keys, d.Subscriptions = keys.Items, subs.Items
	for _, s := range subs.Items {
		var sv domain.Service
		if p.api.get(ctx, p.cfg.Token, pathOf(nil, "services", s.ServiceID), &sv) == nil {
			d.Services[s.ServiceID] = sv.Name
		}
	}
	var err error
	if d.Usage, d.Rejections, err = p.usage(ctx, me.ConsumerID); err != nil {
		p.apiFailed(w, r, ps, err)
		return
	}
	p.tpl.render(w, http.StatusOK, "p_home", "", p.view(ps, "home", "Your application", d))
}

// serviceEntry is a service the consumer may see, with its routes and the
// consumer's subscription to it.
type serviceEntry struct {
	Service      domain.Service
	Own          bool
	Routes       []domain.Route
	Subscription *subItem
}

// visibleServices lists the services a consumer may browse: every
// published service and its own tenant's.
func (p *Portal) visibleServices(ctx context.Context, me portalIdentity) ([]serviceEntry, error) {
	var out []serviceEntry
	q := url.Values{"limit": {"1000"}}
	var subs listPage[subItem]
	if err := p.api.get(ctx, p.cfg.Token, pathOf(url.Values{"consumer": {me.ConsumerID}, "limit": {"1000"}}, "subscriptions"), &subs); err != nil {
		return nil, err
	}
	for {
		var pg listPage[domain.Service]
		if err := p.api.get(ctx, p.cfg.Token, pathOf(q, "services"), &pg); err != nil {
			return nil, err
		}
		for _, s := range pg.Items {
			own := s.TenantID == me.TenantID
			if !own && s.Visibility != domain.VisibilityPublished {
				continue
			}
			e := serviceEntry{Service: s, Own: own}
			for i := range subs.Items {
				sub := &subs.Items[i]
				// Prefer the open subscription; else the latest closed one.
				if sub.ServiceID == s.ID && (e.Subscription == nil || sub.Open() || (!e.Subscription.Open() && sub.RequestedAt.After(e.Subscription.RequestedAt))) {
					e.Subscription = sub
				}
			}
			out = append(out, e)
		}
		if pg.Next == "" {
			break
		}
		q.Set("after", pg.Next)
	}
	return out, nil
}

func (p *Portal) services(w http.ResponseWriter, r *http.Request, ps *reqState) {
	ctx := r.Context()
	list, err := p.visibleServices(ctx, ps.se.consumer)
	if err != nil {
		p.apiFailed(w, r, ps, err)
		return
	}
	for i := range list {
		var rt listPage[domain.Route]
		if err := p.api.get(ctx, p.cfg.Token, pathOf(url.Values{"service": {list[i].Service.ID}, "limit": {"100"}}, "routes"), &rt); err != nil {
			p.apiFailed(w, r, ps, err)
			return
		}
		list[i].Routes = rt.Items
	}
	p.tpl.render(w, http.StatusOK, "p_services", "", p.view(ps, "services", "Services", list))
}

func (p *Portal) subscribe(w http.ResponseWriter, r *http.Request, ps *reqState) {
	me := ps.se.consumer
	svcID := strings.TrimSpace(r.PostFormValue("service"))
	var sv domain.Service
	if err := p.api.get(r.Context(), p.cfg.Token, pathOf(nil, "services", svcID), &sv); err != nil ||
		(sv.TenantID != me.TenantID && sv.Visibility != domain.VisibilityPublished) {
		p.renderError(w, r, ps, http.StatusNotFound, "No such service", "There is no service "+svcID+" you can subscribe to; pick one from the Services page.")
		return
	}
	if !p.guardChange(w, r, ps) {
		return
	}
	note := strings.TrimSpace(r.PostFormValue("note"))
	if note == "" {
		note = "requested in the developer portal"
	}
	var s subItem
	body := map[string]any{"consumer": me.ConsumerID, "service": sv.ID, "note": note}
	if err := p.api.do(r.Context(), p.cfg.Token, http.MethodPost, pathOf(nil, "subscriptions"), body, &s); err != nil {
		p.apiFailed(w, r, ps, err)
		return
	}
	msg := "Access to " + sv.Name + " requested: it is " + s.State + "."
	if s.State == domain.SubscriptionPending {
		msg += " The service's owners decide; this page shows the state."
	}
	p.done(w, r, ps, msg, p.base+"/services")
}

type portalKeys struct {
	Keys []keyItem
}

func (p *Portal) keys(w http.ResponseWriter, r *http.Request, ps *reqState) {
	var pg listPage[keyItem]
	if err := p.api.get(r.Context(), p.cfg.Token, pathOf(url.Values{"consumer": {ps.se.consumer.ConsumerID}, "limit": {"100"}}, "keys"), &pg); err != nil {
		p.apiFailed(w, r, ps, err)
		return
	}
	p.tpl.render(w, http.StatusOK, "p_keys", "", p.view(ps, "keys", "Your keys", portalKeys{Keys: pg.Items}))
}

func (p *Portal) showSecret(w http.ResponseWriter, ps *reqState, d secretData) {
	p.tpl.render(w, http.StatusCreated, "p_secret", "", p.view(ps, "keys", d.Heading, d))
}

func (p *Portal) createKey(w http.ResponseWriter, r *http.Request, ps *reqState) {
	if !p.guardChange(w, r, ps) {
		return
	}
	body := map[string]any{"consumer": ps.se.consumer.ConsumerID}
	for _, f := range []string{"name", "expires_in"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			body[f] = v
		}
	}
	if s := optionalList(r.PostFormValue("scopes")); s != nil {
		body["scopes"] = *s
	}
	var k keyCreated
	if err := p.api.do(r.Context(), p.cfg.Token, http.MethodPost, pathOf(nil, "keys"), body, &k); err != nil {
		p.apiFailed(w, r, ps, err)
		return
	}
	p.showSecret(w, ps, secretData{Heading: "API key created", What: "API key", Secret: k.Key, ID: k.ID,
		Note: "Copy it now: it is shown only this once.", Back: p.base + "/keys"})
}

func (p *Portal) rotateKey(w http.ResponseWriter, r *http.Request, ps *reqState) {
	id := r.PathValue("id")
	if _, ok := p.ownKey(r, ps, id); !ok {
		p.renderError(w, r, ps, http.StatusNotFound, "No such key", "You have no key "+id+".")
		return
	}
	if !p.guardChange(w, r, ps) {
		return
	}
	body := map[string]any{}
	if g := strings.TrimSpace(r.PostFormValue("grace")); g != "" {
		body["grace"] = g
	}
	var k keyCreated
	if err := p.api.do(r.Context(), p.cfg.Token, http.MethodPost, pathOf(nil, "keys", id, "rotate"), body, &k); err != nil {
		p.apiFailed(w, r, ps, err)
		return
	}
	if id == ps.se.consumer.CredentialID {
		// Keep the session on a key that works after the grace period.
		p.sess.setPortalKey(ps.se, k.Key)
	}
	p.showSecret(w, ps, secretData{Heading: "Key rotated", What: "successor API key", Secret: k.Key, ID: k.ID,
		Note: "Your old key " + id + " keeps working until its grace period ends. Copy the new key now: it is shown only once.", Back: p.base + "/keys"})
}

func (p *Portal) revokeKey(w http.ResponseWriter, r *http.Request, ps *reqState) {
	id := r.PathValue("id")
	if _, ok := p.ownKey(r, ps, id); !ok {
		p.renderError(w, r, ps, http.StatusNotFound, "No such key", "You have no key "+id+".")
		return
	}
	if !p.guardChange(w, r, ps) {
		return
	}
	reasonText := strings.TrimSpace(r.PostFormValue("reason"))
	if reasonText == "" {
		reasonText = "revoked by its owner in the developer portal"
	}
	if err := p.api.do(r.Context(), p.cfg.Token, http.MethodPost, pathOf(nil, "keys", id, "revoke"), map[string]string{"reason": reasonText}, nil); err != nil {
		p.apiFailed(w, r, ps, err)
		return
	}
	p.done(w, r, ps, "Key "+id+" revoked: its next request answers key.revoked.", p.base+"/keys")
}

type portalCalls struct {
	Calls  []domain.Call
	Next   string
	Filter url.Values
	Error  string
}

func (p *Portal) calls(w http.ResponseWriter, r *http.Request, ps *reqState) {
	q := url.Values{"limit": {"100"}}
	f := url.Values{}
	for _, k := range []string{"since", "until", "status", "reason", "after"} {
		if v := strings.TrimSpace(r.URL.Query().Get(k)); v != "" {
			q.Set(k, v)
			if k != "after" {
				f.Set(k, v)
			}
		}
	}
	if r.URL.Query().Get("rejected") == "1" && q.Get("status") == "" && q.Get("reason") == "" {
		f.Set("rejected", "1")
	}
	// The consumer filter is the session's, whatever the URL says.
	var pg listPage[domain.Call]
	d := portalCalls{Filter: f}
	status := http.StatusOK
	var err error
	if pg.Items, pg.Next, err = p.ownCalls(r.Context(), ps.se.consumer.ConsumerID, q, q.Get("after") == ""); err != nil {
		if statusOf(err) >= 500 {
			p.apiFailed(w, r, ps, err)
			return
		}
		status, d.Error = statusOf(err), err.Error()
	}
	for _, c := range pg.Items {
		if f.Get("rejected") == "1" && !rejected(&c) {
			continue
		}
		d.Calls = append(d.Calls, c)
	}
	d.Next = nextURL(r, pg.Next)
	p.tpl.render(w, status, "p_calls", "", p.view(ps, "calls", "Your calls", d))
}

type portalCall struct {
	Call  domain.Call
	Trace []domain.TraceStep
}

func (p *Portal) call(w http.ResponseWriter, r *http.Request, ps *reqState) {
	var c domain.Call
	err := p.api.get(r.Context(), p.cfg.Token, pathOf(nil, "calls", r.PathValue("id")), &c)
	owned := err == nil && c.ConsumerID == ps.se.consumer.ConsumerID
	if err == nil && !owned && c.ConsumerID == "" && isLifecycle(c.Code) {
		keys, kerr := p.ownKeyIDs(r.Context(), ps.se.consumer.ConsumerID)
		if kerr != nil {
			p.apiFailed(w, r, ps, kerr)
			return
		}
		owned = ownsCall(&c, ps.se.consumer.ConsumerID, keys)
	}
	if !owned {
		if err != nil && statusOf(err) >= 500 {
			p.apiFailed(w, r, ps, err)
			return
		}
		p.renderError(w, r, ps, http.StatusNotFound, "No such call", "None of your calls has request id "+r.PathValue("id")+" (records appear about a second after the response and are kept for a week).")
		return
	}
	// The caller's view: steps only operators may see are dropped.
	p.tpl.render(w, http.StatusOK, "p_call", "", p.view(ps, "calls", "Call "+c.RequestID, portalCall{Call: c, Trace: trace.CallerSteps(c.Trace)}))
}

type doctorData struct {
	Method string
	Path   string
	Report *doctor.Report
	Target string
	Error  string
}

func (p *Portal) doctorPage(w http.ResponseWriter, r *http.Request, ps *reqState) {
	p.tpl.render(w, http.StatusOK, "p_doctor", "", p.view(ps, "doctor", "Doctor", doctorData{Method: "GET", Path: "/"}))
}

// runDoctor runs the doctor server-side against the gateway for a method
// and path the user names, with a key the user pastes (used for this run
// only, never kept or shown) or else the key the session logged in with —
// a developer session has none, and then the doctor checks the request
// without a credential. A pasted key that works must be the session
// consumer's own. Only the path is the user's: the host is the gateway's
// own.
func (p *Portal) runDoctor(w http.ResponseWriter, r *http.Request, ps *reqState) {
	d := doctorData{Method: strings.ToUpper(strings.TrimSpace(r.PostFormValue("method"))), Path: strings.TrimSpace(r.PostFormValue("path"))}
	if d.Method == "" {
		d.Method = http.MethodGet
	}
	base, err := p.proxyBase(r)
	if err != nil {
		p.log.Error("portal: doctor target", "err", err)
		p.renderError(w, r, ps, http.StatusInternalServerError, "Doctor unavailable", "The portal does not know the gateway's address.")
		return
	}
	target, err := doctorURL(base, d.Path)
	if err != nil {
		d.Error = err.Error()
		p.tpl.render(w, http.StatusBadRequest, "p_doctor", "", p.view(ps, "doctor", "Doctor", d))
		return
	}
	d.Target = target
	key := strings.TrimSpace(r.PostFormValue("key"))
	if key != "" {
		// A key that authenticates must be this consumer's; one that does
		// not (revoked, expired, mistyped) is what the doctor is for, and
		// tells no more than the gateway tells anyone sending it.
		who, status, err := p.whoami(r.Context(), r, key)
		if err == nil && status == http.StatusOK && (who.Consumer != ps.se.consumer.ConsumerName || who.Tenant != ps.se.consumer.TenantSlug) {
			d.Error = "That key belongs to another application: run the doctor with one of your own keys."
			p.tpl.render(w, http.StatusForbidden, "p_doctor", "", p.view(ps, "doctor", "Doctor", d))
			return
		}
	} else {
		key = p.sess.portalKey(ps.se)
	}
	var headers []doctor.Header
	if key != "" {
		headers = []doctor.Header{{Name: "Authorization", Value: "Bearer " + key}}
	}
	rep, err := doctor.Run(r.Context(), doctor.Options{URL: target, Method: d.Method, Timeout: p.cfg.DoctorTimeout, Now: p.clock.Now,
		Headers: headers})
	if err != nil {
		d.Error = err.Error()
		p.tpl.render(w, http.StatusBadRequest, "p_doctor", "", p.view(ps, "doctor", "Doctor", d))
		return
	}
	d.Report = rep
	p.tpl.render(w, http.StatusOK, "p_doctor", "", p.view(ps, "doctor", "Doctor", d))
}

// proxyBase is the gateway URL the doctor targets: the configured one, or
// the local address of the connection this request arrived on.
func (p *Portal) proxyBase(r *http.Request) (string, error) {
	if p.cfg.ProxyURL != "" {
		return p.cfg.ProxyURL, nil
	}
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || addr == nil {
		return "", errors.New("no local address on the request and no ProxyURL configured")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + addr.String(), nil
}

// doctorURL joins the gateway's base URL and a user-given path, refusing
// anything that could change the host.
func doctorURL(base, path string) (string, error) {
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "\\ \t\r\n#") || len(path) > 2000 {
		return "", errors.New("the path must start with a single '/' and contain no spaces, backslashes or '#', e.g. /orders/42")
	}
	u, err := url.Parse(base + path)
	if err != nil {
		return "", fmt.Errorf("the path is not a valid URL path: %w", err)
	}
	b, _ := url.Parse(base)
	if u.Host != b.Host || u.Scheme != b.Scheme {
		return "", errors.New("the path must stay on this gateway")
	}
	return u.String(), nil
}
