// Package admin is Gatehouse's admin HTTP API: REST + JSON under /admin/v1/
// on the admin listener (§7), its OpenAPI 3.1 document, bearer-token
// authentication of admins, their roles, and the audit trail.
//
// Shape of the package:
//   - one route table (endpoints.go) drives both the HTTP mux and the
//     OpenAPI document (openapi.go), so the two cannot drift;
//   - every change runs in one store.Update that writes the object and
//     exactly one audit entry (reqCtx.commit); Config.OnChange then runs
//     before the response is written, so the gateway's next request sees
//     the change;
//   - roles are checked in two places only: per endpoint (checkRole:
//     viewers never write, only admins manage tenants' lifecycle and the
//     admins themselves) and per object (reach: an admin bound to a tenant
//     reaches only that tenant's objects). Every refusal is itself audited,
//     under the actor's tenant.
//
// Roles. admin: everything. viewer: every GET; bound to a tenant (optional)
// it reads only that tenant. tenant-admin (always bound): reads and writes
// consumers, keys, services and routes of its tenant, reads its tenant,
// calls, audit entries and admins; it cannot create, suspend or resume
// tenants, nor create or delete admins. Lists are narrowed to the tenant;
// a reference to another tenant's object is refused with 403 (never its
// id or slug in the message) and audited as "<action>.denied".
//
// Authentication: "Authorization: Bearer <token>"; the SHA-256 of the
// token is looked up in the store and compared in constant time. Only
// GET /admin/v1/openapi.json is public.
//
// Ids are a type prefix and 16 random base62 characters (ids.go):
// ten_, con_, svc_, rte_, adm_; API keys keep the 12-character id inside
// the key. Names and slugs cannot look like ids, so any reference is tried
// as an id first and as a slug or name second. Admin tokens are "gha_" +
// 40 base62 characters, shown once.
//
// Errors are problem+json (RFC 9457) with a stable admin code (problem.go)
// and a detail that names the field or object and the fix.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/reqid"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
	"gatehouse/internal/webhook"
)

// Config wires the admin API to the rest of the gateway.
type Config struct {
	Store  store.Store
	Clock  clock.Clock
	Logger *slog.Logger
	// OnChange is called synchronously after every committed change and
	// before the response is written, so the change is effective on the
	// gateway's next request (the server rebuilds its snapshot here). If it
	// fails, the change stays committed and the admin gets a 500 saying so.
	OnChange func(ctx context.Context) error
	// Status returns extra runtime status for GET /admin/v1/status
	// (call-log queue/written/dropped, snapshot version/age). A JSON object
	// is merged into the answer; anything else appears under "runtime".
	Status func(ctx context.Context) any
	// DefaultGrace is the rotation grace period when a rotate request names
	// none (default 24h, §3).
	DefaultGrace time.Duration
	// IdentityKeyGrace is how long a rotated-out identity-token signing
	// key stays in the JWKS when the rotation names no grace (default
	// 24h).
	IdentityKeyGrace time.Duration
	// Environment is the gateway's environment, the default for new keys
	// ("live" or "test"; default "live").
	Environment string
	// Version is the gateway's build version, reported by /status.
	Version string
	// Events, when set, receives the notifications of committed changes
	// (subscription.requested, .approved, .rejected, .revoked), after the
	// commit and OnChange, each also written as an "admin event" log line.
	// It must not block or keep ctx: webhook.Sender.Publish fits.
	Events func(ctx context.Context, e Event)
	// Secrets seals the recoverable secrets the API stores (HMAC
	// credential secrets, issuers' HS256 and introspection secrets); the
	// endpoints that take such secrets refuse to work without it.
	Secrets *secrets.Box
	// RollupsOff: the gateway computes no per-minute rollups
	// (analytics.enabled: false). GET /admin/v1/stats then answers 409
	// saying so, rather than a report of zeros that reads as "no traffic".
	RollupsOff bool
	// Prices are the gateway's configured model prices by provider model
	// name ("gpt-4o-mini"), overriding the shipped defaults
	// (domain.DefaultPrice): a model created without a price takes the
	// price of its first target found here or there, in target order. A
	// zero CachedInputPer1M means the input price. Nil: shipped only.
	Prices map[string]domain.Price
}

// Event is one notification of a committed change (the webhook payload).
type Event = webhook.Event

// Defaults.
const (
	defaultGrace    = 24 * time.Hour
	defaultLimit    = 100
	maxLimit        = 1000
	maxBodyBytes    = 1 << 20
	basePath        = "/admin/v1"
	openAPIPath     = basePath + "/openapi.json"
	maxFilterScans  = 50 // store pages read per filtered list page
	maxReasonLength = 500
)

// API serves everything under /admin/v1/. It is safe for concurrent use.
type API struct {
	cfg       Config
	mux       *http.ServeMux
	endpoints []*endpoint
	openapi   []byte
	// verified remembers the admins whose tokens the store confirmed
	// (token hash → verifiedAdmin), for status while the store is down.
	verified sync.Map
}

// New builds the admin API. Store is required; the rest has defaults.
func New(cfg Config) *API {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultGrace <= 0 {
		cfg.DefaultGrace = defaultGrace
	}
	if cfg.Environment == "" {
		cfg.Environment = domain.EnvLive
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	a := &API{cfg: cfg, mux: http.NewServeMux()}
	a.endpoints = a.routeTable()
	for _, ep := range a.endpoints {
		a.mux.HandleFunc(ep.Method+" "+ep.Path, func(w http.ResponseWriter, r *http.Request) { a.serve(ep, w, r) })
	}
	doc, err := json.MarshalIndent(a.openAPIDocument(), "", "  ")
	if err != nil {
		// The document is built from static types; failing here is a
		// programming error caught by the package tests.
		cfg.Logger.Error("admin: building the OpenAPI document", "err", err)
	}
	a.openapi = append(doc, '\n')
	return a
}

// ServeHTTP implements http.Handler for every path under /admin/v1/.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if path, id, ok := keyInPath(r.URL.Path); ok {
		// A whole API key where its id belongs (pasted into key revoke,
		// most likely because it leaked): refused before anything can
		// echo, log or audit the path, and named by its id only.
		rid := reqid.New(a.cfg.Clock.Now())
		w.Header().Set("X-Request-Id", rid)
		w.Header().Set("Cache-Control", "no-store")
		d := "the path holds a whole API key, secret included; admin endpoints take the key's id"
		if id != "" {
			d += " — here " + id + ", e.g. " + path
		} else {
			d += " (the 12 characters after gk_<env>_; gatehouse key list shows them)"
		}
		d += ". Never put the key itself in a URL: URLs are logged; if this one passed a proxy that logs them, rotate the key."
		writeProblem(w, invalid("%s", d), rid, path)
		return
	}
	if _, pattern := a.mux.Handler(r); pattern == "" {
		id := reqid.New(a.cfg.Clock.Now())
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("Cache-Control", "no-store")
		if allow := a.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, &apiError{Code: CodeMethodNotAllowed,
				Detail: fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or "))}, id, r.URL.Path)
			return
		}
		writeProblem(w, notFound("no admin API endpoint at %s %s; the endpoints are listed in %s", r.Method, r.URL.Path, openAPIPath), id, r.URL.Path)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// allowed lists the methods the mux would accept for r's path.
func (a *API) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		c := r.Clone(r.Context())
		c.Method = m
		if _, p := a.mux.Handler(c); p != "" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// reqCtx is one admin request being served.
type reqCtx struct {
	ctx       context.Context
	api       *API
	ep        *endpoint
	r         *http.Request
	admin     domain.Admin
	requestID string
	now       time.Time
	body      []byte // the request body, once decode has read it
	// scopeSlug names the admin's tenant in messages (tenant-bound admins).
	scopeSlug string
}

// actor is how the audit log names the admin: "name (id)".
func (rc *reqCtx) actor() string { return rc.admin.Name + " (" + rc.admin.ID + ")" }

// scope is the tenant the admin is bound to ("" for an unbound admin or
// viewer, who reach every tenant).
func (rc *reqCtx) scope() string {
	if rc.admin.Role == domain.RoleAdmin {
		return ""
	}
	return rc.admin.TenantID
}

// reach refuses when the admin is bound to a tenant other than tenantID.
// resource and id name the object for the refusal's audit entry; the
// message shows ref, the reference as the admin gave it, so a refusal
// never tells a slug's or name's id in another tenant.
func (rc *reqCtx) reach(resource, id, ref, tenantID string) error {
	s := rc.scope()
	if s == "" || s == tenantID {
		return nil
	}
	return &deniedError{Action: rc.ep.Action, Resource: resource, ResourceID: id,
		Detail: fmt.Sprintf("%s %q is outside your tenant: this %s token (%s) reaches only tenant %s", resource, ref, rc.admin.Role, rc.admin.Name, rc.scopeSlug)}
}

func (a *API) serve(ep *endpoint, w http.ResponseWriter, r *http.Request) {
	now := a.cfg.Clock.Now().UTC()
	rc := &reqCtx{ctx: r.Context(), api: a, ep: ep, r: r, requestID: reqid.New(now), now: now.Truncate(time.Microsecond)}
	w.Header().Set("X-Request-Id", rc.requestID)
	w.Header().Set("Cache-Control", "no-store")
	if ep.Perm != permPublic {
		adm, err := a.authenticate(r, ep.Action == "status.get")
		if err != nil {
			a.fail(w, rc, err)
			return
		}
		rc.admin = adm
		if s := rc.scope(); s != "" {
			// Looked up now, outside any transaction: messages name the
			// tenant by slug (an in-memory store has one connection, so
			// nothing may read the store while a transaction is open).
			rc.scopeSlug = rc.tenantSlug(s)
		}
		if err := rc.checkRole(); err != nil {
			a.fail(w, rc, err)
			return
		}
	}
	if err := rc.checkQuery(); err != nil {
		a.fail(w, rc, err)
		return
	}
	body, err := ep.handle(rc)
	if err != nil {
		a.fail(w, rc, err)
		return
	}
	if ep.Status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if raw, ok := body.(rawJSON); ok {
		writeRaw(w, ep.Status, raw)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		a.fail(w, rc, internal(err, "encoding the response failed"))
		return
	}
	writeRaw(w, ep.Status, append(b, '\n'))
}

// rawJSON is a response body already encoded.
type rawJSON []byte

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// fail answers err as problem+json; a refusal is audited first.
func (a *API) fail(w http.ResponseWriter, rc *reqCtx, err error) {
	var d *deniedError
	if errors.As(err, &d) {
		a.cfg.Logger.LogAttrs(rc.ctx, slog.LevelWarn, "admin request refused", slog.String("action", d.Action),
			slog.String("resource", d.Resource), slog.String("id", d.ResourceID), slog.String("actor", rc.actor()),
			slog.String("request_id", rc.requestID))
		if aerr := a.auditDenied(rc, d); aerr != nil {
			a.cfg.Logger.Error("admin: auditing a refused request", "request_id", rc.requestID, "action", d.Action, "err", aerr)
		}
		writeProblem(w, &apiError{Code: CodeForbidden, Detail: d.Detail}, rc.requestID, rc.r.URL.Path)
		return
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = internal(err, "the request failed inside the gateway; quote request id %s to its operator", rc.requestID)
	}
	if ae.Code == CodeInternal {
		a.cfg.Logger.Error("admin: request failed", "request_id", rc.requestID, "method", rc.r.Method,
			"path", rc.r.URL.Path, "err", err)
	}
	writeProblem(w, ae, rc.requestID, rc.r.URL.Path)
}

// authenticate finds the admin whose token hash matches the bearer token,
// or the console user an in-process caller names (AsUser). statusOnly is
// set for GET /status, the one endpoint a token verified earlier may
// reach while the store is unreachable.
func (a *API) authenticate(r *http.Request, statusOnly bool) (domain.Admin, error) {
	h := r.Header.Values("Authorization")
	if id, ok := userOf(r.Context()); ok && len(h) == 0 {
		return a.authenticateUser(r.Context(), id) // the console, for a user logged in with a password (users.go)
	}
	if len(h) == 0 || strings.TrimSpace(h[0]) == "" {
		return domain.Admin{}, &apiError{Code: CodeUnauthorized,
			Detail: "no admin token: send 'Authorization: Bearer <admin token>' (the CLI reads GATEHOUSE_ADMIN_TOKEN)"}
	}
	if len(h) > 1 {
		return domain.Admin{}, &apiError{Code: CodeUnauthorized, Detail: "more than one Authorization header: send exactly one"}
	}
	scheme, token, ok := strings.Cut(h[0], " ")
	if !ok && strings.EqualFold(scheme, "Bearer") {
		ok = true // "Bearer " arrives with its trailing space trimmed
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return domain.Admin{}, &apiError{Code: CodeUnauthorized,
			Detail: "the Authorization header must use the Bearer scheme: 'Authorization: Bearer <admin token>'"}
	}
	if token == "" || strings.TrimSpace(token) != token || strings.ContainsAny(token, " \t\"'") {
		return domain.Admin{}, &apiError{Code: CodeUnauthorized,
			Detail: "the admin token is empty or carries spaces or quotes: send exactly 'Authorization: Bearer <admin token>'"}
	}
	hash := hashToken(token)
	adm, err := a.cfg.Store.AdminByTokenHash(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !hashesEqual(adm.TokenHash, hash)) {
		a.verified.Delete(hash)
		return domain.Admin{}, &apiError{Code: CodeUnauthorized,
			Detail: "admin token not recognised: it was deleted, mistyped, or belongs to another gateway"}
	}
	if err != nil {
		// The store is down: a token this node verified within
		// verifiedFor still lets its admin read what the node holds in
		// memory (GET /status: what an operator needs most in an outage);
		// every other endpoint answers 503.
		if v, ok := a.verified.Load(hash); ok && statusOnly && errors.Is(err, store.ErrUnavailable) {
			if c := v.(verifiedAdmin); a.cfg.Clock.Now().Sub(c.at) < verifiedFor && hashesEqual(c.admin.TokenHash, hash) {
				return c.admin, nil
			}
		}
		if errors.Is(err, store.ErrUnavailable) {
			return domain.Admin{}, &apiError{Code: CodeUnavailable, Err: fmt.Errorf("admin lookup: %w", err),
				Detail: "the store is unreachable, so this admin token cannot be checked (it was not checked by this node in the last " +
					verifiedFor.String() + "); /readyz on the proxy listener says how the node is serving meanwhile"}
		}
		return domain.Admin{}, internal(fmt.Errorf("admin lookup: %w", err), "could not check the admin token: the store failed")
	}
	a.verified.Store(hash, verifiedAdmin{admin: adm, at: a.cfg.Clock.Now()})
	return adm, nil
}

// verifiedFor is how long a token verified against the store keeps
// admitting its admin while the store is unreachable.
const verifiedFor = 24 * time.Hour

// verifiedAdmin is an admin whose token the store confirmed at at.
type verifiedAdmin struct {
	admin domain.Admin
	at    time.Time
}

// unavailable is the answer when the store is unreachable: the admin's
// change was not made; retry once it is back.
func unavailable(err error) *apiError {
	return &apiError{Code: CodeUnavailable, Err: err,
		Detail: "the store is unreachable; nothing was changed — retry once it is back (GET /admin/v1/status still answers from this node's memory)"}
}

// checkRole applies the endpoint's permission to the admin's role.
func (rc *reqCtx) checkRole() error {
	role := rc.admin.Role
	deny := func(why string) error {
		return &deniedError{Action: rc.ep.Action, Resource: rc.ep.Resource, ResourceID: rc.r.PathValue("id"), Detail: why}
	}
	switch rc.ep.Perm {
	case permRead:
		return nil
	case permWrite:
		if role == domain.RoleViewer {
			return deny(fmt.Sprintf("%s needs an admin or tenant-admin token; %s is a viewer (read-only)", rc.ep.Action, rc.admin.Name))
		}
		if role != domain.RoleAdmin && role != domain.RoleTenantAdmin {
			return deny(fmt.Sprintf("admin %s has unknown role %q", rc.admin.Name, role))
		}
	case permAdmin:
		if role != domain.RoleAdmin {
			return deny(fmt.Sprintf("%s needs an admin token; %s is a %s", rc.ep.Action, rc.admin.Name, role))
		}
	}
	return nil
}

// checkQuery refuses query parameters the endpoint does not know, so a
// typo such as ?consumr= is an error rather than a silently unfiltered list.
func (rc *reqCtx) checkQuery() error {
	q := rc.r.URL.Query()
	for k := range q {
		if !slices.ContainsFunc(rc.ep.Query, func(p param) bool { return p.Name == k }) {
			var names []string
			for _, p := range rc.ep.Query {
				names = append(names, p.Name)
			}
			if len(names) == 0 {
				return invalid("unknown query parameter %q: %s %s takes none", k, rc.ep.Method, rc.ep.Path)
			}
			return invalid("unknown query parameter %q: %s %s accepts %s", k, rc.ep.Method, rc.ep.Path, strings.Join(names, ", "))
		}
		if len(q[k]) > 1 {
			return invalid("query parameter %q is repeated: give it once", k)
		}
	}
	return nil
}

func (rc *reqCtx) query(name string) string { return strings.TrimSpace(rc.r.URL.Query().Get(name)) }

// page reads ?after= and ?limit=.
func (rc *reqCtx) page() (store.Page, error) {
	p := store.Page{After: rc.query("after"), Limit: defaultLimit}
	if s := rc.query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, invalid("limit %q must be a whole number from 1 to %d", s, maxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// decode reads the JSON body into v. An empty body is accepted when
// optional (e.g. rotate with the default grace), else it is an error.
func (rc *reqCtx) decode(v any, optional bool) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, rc.r.Body, maxBodyBytes))
	if err != nil {
		return decodeError(err)
	}
	rc.body = b
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return invalid("request body is empty: send a JSON object; %s %s is described in %s", rc.ep.Method, rc.ep.Path, openAPIPath)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var de *domain.DurationError
		if errors.As(err, &de) {
			if field := fieldHolding(b, de.Value); field != "" {
				return invalid("field %q: %s", field, de.Error())
			}
		}
		return decodeError(err)
	}
	if dec.More() {
		return invalid("request body has data after its JSON object: send one object")
	}
	return nil
}

// fieldHolding names the first field of the JSON document body whose value
// is the string value ("window", "rule.cooldown"), "" when none is: for
// errors JSON decoding reports without their field.
func fieldHolding(body []byte, value string) string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	var find func(v any, path string) string
	find = func(v any, path string) string {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if s, ok := x[k].(string); ok && s == value {
					return p
				}
				if f := find(x[k], p); f != "" {
					return f
				}
			}
		case []any:
			for i, e := range x {
				if f := find(e, path+"["+strconv.Itoa(i)+"]"); f != "" {
					return f
				}
			}
		}
		return ""
	}
	return find(doc, "")
}

// listOf is the answer of every list endpoint.
type listOf[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

func list[T any](items []T, next string) listOf[T] {
	if items == nil {
		items = []T{}
	}
	return listOf[T]{Items: items, Next: next}
}

// collect reads one page of a list filtered by keep, from a store that
// cannot filter that way itself. It asks the store for at most the number
// of items still missing, so every item the store returned is either kept
// or skipped and the store's own cursor stays exact. It may return fewer
// items than the limit with a non-empty next (after maxFilterScans reads).
func collect[T any](p store.Page, fetch func(store.Page) ([]T, string, error), keep func(T) (bool, error)) ([]T, string, error) {
	out := make([]T, 0, min(p.Limit, 64))
	cursor := p.After
	for range maxFilterScans {
		items, next, err := fetch(store.Page{After: cursor, Limit: p.Limit - len(out)})
		if err != nil {
			return nil, "", err
		}
		for _, it := range items {
			ok := true
			if keep != nil {
				if ok, err = keep(it); err != nil {
					return nil, "", err
				}
			}
			if ok {
				out = append(out, it)
			}
		}
		cursor = next
		if next == "" || len(out) >= p.Limit || keep == nil {
			break
		}
	}
	return out, cursor, nil
}

// errNoChange makes commit roll back a change that turned out to be a no-op
// (suspending a suspended tenant): nothing is written, audited or applied.
var errNoChange = errors.New("no change")

// change is what a committed transaction did, for its one audit entry.
type change struct {
	Action     string // defaults to the endpoint's action
	Resource   string
	ResourceID string
	TenantID   string
	// OtherTenantID is a second tenant concerned (see
	// domain.AuditEntry.OtherTenantID); "" when the same as TenantID.
	OtherTenantID string
	Before        any
	After         any
	// Events are published once the change is committed (ID and Time are
	// filled in when empty).
	Events []Event
}

// commit runs fn in one store transaction together with exactly one audit
// entry describing what fn changed, then calls OnChange before returning,
// so the response is written only once the gateway applies the change.
// fn must use only tx: reading the store any other way while the
// transaction is open deadlocks a single-connection store.
func (rc *reqCtx) commit(fn func(tx store.Tx) (change, error)) error {
	var entry domain.AuditEntry
	var events []Event
	err := rc.api.cfg.Store.Update(rc.ctx, func(tx store.Tx) error {
		c, err := fn(tx)
		if err != nil {
			return err
		}
		events = c.Events
		if c.Action == "" {
			c.Action = rc.ep.Action
		}
		e, err := rc.auditEntry(c)
		if err != nil {
			return err
		}
		if err := tx.Audit(rc.ctx, e); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		entry = e
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return storeError(err)
	}
	rc.api.cfg.Logger.LogAttrs(rc.ctx, slog.LevelInfo, "admin change", slog.String("action", entry.Action),
		slog.String("resource", entry.Resource), slog.String("id", entry.ResourceID), slog.String("actor", entry.Actor),
		slog.String("request_id", rc.requestID))
	var applyErr error
	if f := rc.api.cfg.OnChange; f != nil {
		if err := f(rc.ctx); err != nil {
			applyErr = internal(fmt.Errorf("on change: %w", err),
				"the change was saved (see GET %s/audit) but the gateway could not apply it yet: %v; it takes effect on the next successful reload", basePath, err)
		}
	}
	// The change is committed whether or not it could be applied yet:
	// its notifications go out either way.
	rc.publish(entry, events)
	return applyErr
}

// publish logs and hands over the events of a committed change.
func (rc *reqCtx) publish(entry domain.AuditEntry, events []Event) {
	for _, e := range events {
		if e.ID == "" {
			id, err := newID(prefixEvent)
			if err != nil {
				rc.api.cfg.Logger.Error("admin: event id", "event", e.Type, "err", err)
				continue
			}
			e.ID = id
		}
		if e.Time.IsZero() {
			e.Time = rc.now
		}
		rc.api.cfg.Logger.LogAttrs(rc.ctx, slog.LevelInfo, "admin event", slog.String("event", e.Type),
			slog.String("event_id", e.ID), slog.String("resource", entry.Resource), slog.String("id", entry.ResourceID),
			slog.String("actor", entry.Actor), slog.String("request_id", rc.requestID))
		if f := rc.api.cfg.Events; f != nil {
			f(rc.ctx, e)
		}
	}
}

// storeError maps store failures to problems; apiErrors and refusals pass
// through unchanged.
func storeError(err error) error {
	var ae *apiError
	var d *deniedError
	switch {
	case errors.As(err, &ae), errors.As(err, &d):
		return err
	case errors.Is(err, store.ErrConflict):
		return &apiError{Code: CodeConflict, Detail: strings.TrimSuffix(err.Error(), ": "+store.ErrConflict.Error()) + " is already taken", Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &apiError{Code: CodeNotFound, Detail: err.Error(), Err: err}
	case errors.Is(err, store.ErrBadCursor):
		return &apiError{Code: CodeInvalid, Detail: "after is not a cursor this list returned: pass the \"next\" value of the previous page, or omit after for the first page", Err: err}
	case errors.Is(err, store.ErrUnavailable):
		return unavailable(err)
	}
	return internal(err, "the store failed; nothing was changed")
}

// view runs fn in a read-only transaction, mapping store errors.
func (rc *reqCtx) view(fn func(tx store.Tx) error) error {
	if err := rc.api.cfg.Store.View(rc.ctx, fn); err != nil {
		return storeError(err)
	}
	return nil
}

// auditDenied records a refused attempt in its own transaction. The entry
// belongs to the actor's tenant, not the object's: a tenant's admins may
// read their audit log, and must not learn who in another tenant probed
// them (unbound admins see every entry).
func (a *API) auditDenied(rc *reqCtx, d *deniedError) error {
	// The admin API never takes secrets in URLs, so path and query are
	// safe to keep.
	denial := map[string]string{"method": rc.r.Method, "path": rc.r.URL.EscapedPath(), "detail": d.Detail, "request_id": rc.requestID}
	if q := rc.r.URL.RawQuery; q != "" {
		denial["query"] = q
	}
	e, err := rc.auditEntry(change{
		Action:     d.Action + ".denied",
		Resource:   d.Resource,
		ResourceID: d.ResourceID,
		TenantID:   rc.admin.TenantID,
		After:      denial,
	})
	if err != nil {
		return err
	}
	return a.cfg.Store.Update(rc.ctx, func(tx store.Tx) error { return tx.Audit(rc.ctx, e) })
}

func (rc *reqCtx) auditEntry(c change) (domain.AuditEntry, error) {
	before, err := maskedJSON(c.Before)
	if err != nil {
		return domain.AuditEntry{}, err
	}
	after, err := maskedJSON(c.After)
	if err != nil {
		return domain.AuditEntry{}, err
	}
	return domain.AuditEntry{
		At:         rc.now,
		Actor:      rc.actor(),
		Action:     c.Action,
		Resource:   c.Resource,
		ResourceID: c.ResourceID,
		TenantID:   c.TenantID,
		Before:     before,
		After:      after,
		OtherTenantID: func() string {
			if c.OtherTenantID == c.TenantID {
				return ""
			}
			return c.OtherTenantID
		}(),
	}, nil
}

// secretFields are JSON members never written to the audit log, whatever
// object they appear in. The domain types already leave hashes out of
// their JSON; this is the second lock on the same door.
var secretFields = []string{"key", "token", "hash", "key_hash", "token_hash", "secret", "password", "api_keys",
	"password_hash", "hs256_secret", "introspection_client_secret", "private_key"}

// maskedJSON encodes v for the audit log with every secret-named member
// replaced by "[masked]".
func maskedJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit encode: %w", err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		return nil, fmt.Errorf("audit encode: %w", err)
	}
	mask(tree)
	out, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("audit encode: %w", err)
	}
	return out, nil
}

func mask(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if slices.Contains(secretFields, strings.ToLower(k)) {
				t[k] = "[masked]"
				continue
			}
			mask(x)
		}
	case []any:
		for _, x := range t {
			mask(x)
		}
	}
}

// keyInPath finds a path segment holding a whole API key — one with a
// readable key id anywhere (keys.CarriesSecret: a name that merely starts
// with gk- is left alone), anything key-like where a key id belongs
// (keys.LooksWhole after /keys/) — and returns the path with that segment
// replaced by the key's id (or by "gk_…" when the id cannot be read), and
// the id.
func keyInPath(p string) (redacted, id string, found bool) {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if keys.CarriesSecret(s) || (i > 0 && segs[i-1] == "keys" && keys.LooksWhole(s)) {
			found = true
			id = keys.IDOf(s)
			segs[i] = id
			if id == "" {
				segs[i] = "gk_…"
			}
		}
	}
	if !found {
		return "", "", false
	}
	return strings.Join(segs, "/"), id, true
}
