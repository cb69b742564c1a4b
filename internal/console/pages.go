package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"gatehouse/internal/domain"
)

// Admin API answer shapes the console reads (the API's views add derived
// fields to the domain types).
type (
	keyItem struct {
		domain.APIKey
		Status string `json:"status"`
	}
	keyCreated struct {
		keyItem
		Key string `json:"key"`
	}
	credItem struct {
		domain.Credential
		Status    string `json:"status"`
		HasSecret bool   `json:"has_secret"`
	}
	credCreated struct {
		credItem
		Secret string `json:"secret"`
	}
	subItem struct {
		domain.Subscription
		Message   string   `json:"message"`
		Approvers []string `json:"approvers"`
	}
	issuerItem struct {
		domain.Issuer
		HasIntrospectionClientSecret bool `json:"has_introspection_client_secret"`
		HasHS256Secret               bool `json:"has_hs256_secret"`
	}
	adminCreated struct {
		domain.Admin
		Token string `json:"token"`
	}
)

// listLimit is the page size of the console's lists.
const listLimit = "100"

// names resolves ids to names for display, each kind loaded at most once
// per page render, through the admin API (so a tenant-bound admin sees
// only the names it may read; others show as ids).
type names struct {
	c        *Console
	ctx      context.Context
	token    string
	tenants  map[string]string
	services map[string]string
	cons     map[string]string
}

func (c *Console) names(r *http.Request, rs *reqState) *names {
	return &names{c: c, ctx: r.Context(), token: rs.se.token, cons: map[string]string{}}
}

// Tenant returns the tenant's slug (or the id when unreadable).
func (n *names) Tenant(id string) string {
	if id == "" {
		return ""
	}
	if n.tenants == nil {
		n.tenants = map[string]string{}
		var p listPage[domain.Tenant]
		if n.c.api.get(n.ctx, n.token, pathOf(url.Values{"limit": {"1000"}}, "tenants"), &p) == nil {
			for _, t := range p.Items {
				n.tenants[t.ID] = t.Slug
			}
		}
	}
	if s, ok := n.tenants[id]; ok {
		return s
	}
	return id
}

// Service returns the service's name (or the id).
func (n *names) Service(id string) string {
	if id == "" {
		return ""
	}
	if n.services == nil {
		n.services = map[string]string{}
		var p listPage[domain.Service]
		if n.c.api.get(n.ctx, n.token, pathOf(url.Values{"limit": {"1000"}}, "services"), &p) == nil {
			for _, s := range p.Items {
				n.services[s.ID] = s.Name
			}
		}
	}
	if s, ok := n.services[id]; ok {
		return s
	}
	return id
}

// maxConsumerLookups bounds the per-page consumer lookups.
const maxConsumerLookups = 200

// Consumer returns the consumer's name (or the id).
func (n *names) Consumer(id string) string {
	if id == "" {
		return ""
	}
	if s, ok := n.cons[id]; ok {
		return s
	}
	name := id
	if len(n.cons) < maxConsumerLookups {
		var cn domain.Consumer
		if n.c.api.get(n.ctx, n.token, pathOf(nil, "consumers", id), &cn) == nil {
			name = cn.Name
		}
	}
	n.cons[id] = name
	return name
}

// Tenants lists the tenants for a form's select.
func (n *names) TenantList() []domain.Tenant {
	var p listPage[domain.Tenant]
	_ = n.c.api.get(n.ctx, n.token, pathOf(url.Values{"limit": {"1000"}}, "tenants"), &p)
	return p.Items
}

// ServiceList lists the services for a form's select.
func (n *names) ServiceList() []domain.Service {
	var p listPage[domain.Service]
	_ = n.c.api.get(n.ctx, n.token, pathOf(url.Values{"limit": {"1000"}}, "services"), &p)
	return p.Items
}

// listData is a list page: its items, the filters it was asked with and
// the link to the next page.
type listData[T any] struct {
	Items   []T
	Next    string // URL of the next page, "" on the last
	Filter  url.Values
	Names   *names
	Unavail bool
}

// query copies the named filters from the page's URL (non-empty only),
// plus the page cursor and size.
func query(r *http.Request, keys ...string) url.Values {
	q := url.Values{}
	for _, k := range keys {
		if v := strings.TrimSpace(r.URL.Query().Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", listLimit)
	if a := r.URL.Query().Get("after"); a != "" {
		q.Set("after", a)
	}
	return q
}

// nextURL is the current page's URL with ?after= set to next.
func nextURL(r *http.Request, next string) string {
	if next == "" {
		return ""
	}
	q := r.URL.Query()
	q.Set("after", next)
	return r.URL.Path + "?" + q.Encode()
}

// listPageOf fetches one page of an admin list and prepares its view.
func listPageOf[T any](c *Console, r *http.Request, rs *reqState, q url.Values, segs ...string) (*listData[T], error) {
	var p listPage[T]
	if err := c.api.get(r.Context(), rs.se.token, pathOf(q, segs...), &p); err != nil {
		return nil, err
	}
	f := url.Values{}
	for k, v := range q {
		if k != "limit" && k != "after" {
			f[k] = v
		}
	}
	return &listData[T]{Items: p.Items, Next: nextURL(r, p.Next), Filter: f, Names: c.names(r, rs)}, nil
}

// back is where an action returns: the form's "back" field when it stays
// inside the console, else fallback.
func back(r *http.Request, fallback string) string {
	if b := r.PostFormValue("back"); b != "" {
		return b
	}
	return fallback
}

// optional returns a pointer to the form list, or nil when the field was
// left blank (the API then applies its default).
func optionalList(s string) *[]string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	l := formList(s)
	return &l
}

func (c *Console) post(r *http.Request, rs *reqState, body, out any, segs ...string) error {
	return c.api.do(r.Context(), rs.se.token, http.MethodPost, pathOf(nil, segs...), body, out)
}

// ---- tenants ----

func (c *Console) tenants(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[domain.Tenant](c, r, rs, query(r), "tenants")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_tenants", "", c.view(rs, "tenants", "Tenants", d))
}

func (c *Console) createTenant(w http.ResponseWriter, r *http.Request, rs *reqState) {
	var t domain.Tenant
	body := map[string]string{"slug": strings.TrimSpace(r.PostFormValue("slug")), "name": strings.TrimSpace(r.PostFormValue("name"))}
	if err := c.post(r, rs, body, &t, "tenants"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Tenant "+t.Slug+" created.", c.base+"/tenants")
}

func (c *Console) tenantOp(w http.ResponseWriter, r *http.Request, rs *reqState) {
	op := r.PathValue("op")
	if op != "suspend" && op != "resume" {
		http.NotFound(w, r)
		return
	}
	var t domain.Tenant
	if err := c.post(r, rs, nil, &t, "tenants", r.PathValue("id"), op); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Tenant "+t.Slug+" is now "+t.Status+".", back(r, c.base+"/tenants"))
}

// ---- consumers ----

func (c *Console) consumers(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[domain.Consumer](c, r, rs, query(r, "tenant", "name"), "consumers")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_consumers", "", c.view(rs, "consumers", "Consumers", d))
}

func (c *Console) createConsumer(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{
		"tenant": strings.TrimSpace(r.PostFormValue("tenant")),
		"name":   strings.TrimSpace(r.PostFormValue("name")),
		"scopes": formList(r.PostFormValue("scopes")),
	}
	if ip := formList(r.PostFormValue("ip_allow")); len(ip) > 0 {
		body["ip_allow"] = ip
	}
	var cn domain.Consumer
	if err := c.post(r, rs, body, &cn, "consumers"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Consumer "+cn.Name+" created.", c.base+"/consumers/"+url.PathEscape(cn.ID))
}

// consumerData is the consumer detail page.
type consumerData struct {
	Consumer      domain.Consumer
	Keys          []keyItem
	Credentials   []credItem
	Subscriptions []subItem
	Calls         []domain.Call
	Names         *names
}

func (c *Console) consumer(w http.ResponseWriter, r *http.Request, rs *reqState) {
	ctx, tok, id := r.Context(), rs.se.token, r.PathValue("id")
	d := consumerData{Names: c.names(r, rs)}
	if err := c.api.get(ctx, tok, pathOf(nil, "consumers", id), &d.Consumer); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	q := url.Values{"consumer": {d.Consumer.ID}, "limit": {listLimit}}
	var keys listPage[keyItem]
	var creds listPage[credItem]
	var subs listPage[subItem]
	var calls listPage[domain.Call]
	for _, call := range []struct {
		path string
		out  any
	}{
		{pathOf(q, "keys"), &keys},
		{pathOf(q, "credentials"), &creds},
		{pathOf(q, "subscriptions"), &subs},
		{pathOf(url.Values{"consumer": {d.Consumer.ID}, "limit": {"20"}}, "calls"), &calls},
	} {
		if err := c.api.get(ctx, tok, call.path, call.out); err != nil {
			c.apiFailed(w, r, rs, err)
			return
		}
	}
	d.Keys, d.Credentials, d.Subscriptions, d.Calls = keys.Items, creds.Items, subs.Items, calls.Items
	c.tpl.render(w, http.StatusOK, "c_consumer", "", c.view(rs, "consumers", "Consumer "+d.Consumer.Name, d))
}

func (c *Console) consumerOp(w http.ResponseWriter, r *http.Request, rs *reqState) {
	id, op := r.PathValue("id"), r.PathValue("op")
	var err error
	switch op {
	case "suspend", "resume":
		err = c.post(r, rs, nil, nil, "consumers", id, op)
	case "delete":
		err = c.api.do(r.Context(), rs.se.token, http.MethodDelete, pathOf(nil, "consumers", id), nil, nil)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	verb := map[string]string{"suspend": "suspended", "resume": "resumed", "delete": "deleted"}[op]
	c.done(w, r, rs, "Consumer "+verb+".", back(r, c.base+"/consumers/"+url.PathEscape(id)))
}

// ---- keys ----

func (c *Console) keys(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[keyItem](c, r, rs, query(r, "consumer"), "keys")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_keys", "", c.view(rs, "keys", "API keys", d))
}

// secretData is the page that shows a secret exactly once.
type secretData struct {
	Heading string
	What    string // "API key", "admin token", "HMAC secret (base64)"
	Secret  string
	ID      string
	Note    string
	Back    string
}

func (c *Console) showSecret(w http.ResponseWriter, rs *reqState, nav string, d secretData) {
	c.tpl.render(w, http.StatusCreated, "c_secret", "", c.view(rs, nav, d.Heading, d))
}

func (c *Console) createKey(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{"consumer": strings.TrimSpace(r.PostFormValue("consumer"))}
	for _, f := range []string{"environment", "name", "expires_in"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			body[f] = v
		}
	}
	if s := optionalList(r.PostFormValue("scopes")); s != nil {
		body["scopes"] = *s
	}
	var k keyCreated
	if err := c.post(r, rs, body, &k, "keys"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.showSecret(w, rs, "keys", secretData{Heading: "API key created", What: "API key", Secret: k.Key, ID: k.ID,
		Note: "Copy it now: Gatehouse stores only its hash and will never show it again.",
		Back: cleanPath(c.base, back(r, c.base+"/keys"))})
}

func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{}
	if g := strings.TrimSpace(r.PostFormValue("grace")); g != "" {
		body["grace"] = g
	}
	var k keyCreated
	if err := c.post(r, rs, body, &k, "keys", r.PathValue("id"), "rotate"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.showSecret(w, rs, "keys", secretData{Heading: "Key rotated", What: "successor API key", Secret: k.Key, ID: k.ID,
		Note: "The old key " + k.Predecessor + " keeps working until its grace period ends. Copy the new key now: it is shown only once.",
		Back: cleanPath(c.base, back(r, c.base+"/keys"))})
}

func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request, rs *reqState) {
	id := r.PathValue("id")
	if err := c.post(r, rs, map[string]string{"reason": strings.TrimSpace(r.PostFormValue("reason"))}, nil, "keys", id, "revoke"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Key "+id+" revoked: its next request answers key.revoked.", back(r, c.base+"/keys"))
}

// ---- credentials ----

func (c *Console) credentials(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[credItem](c, r, rs, query(r, "consumer", "type", "tenant"), "credentials")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_credentials", "", c.view(rs, "credentials", "Credentials", d))
}

func (c *Console) createCredential(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{}
	for _, f := range []string{"consumer", "type", "issuer", "subject", "claim", "value", "key_id", "algorithm",
		"public_key", "username", "password", "fingerprint_sha256"} {
		if v := r.PostFormValue(f); strings.TrimSpace(v) != "" {
			if f != "password" && f != "public_key" {
				v = strings.TrimSpace(v)
			}
			body[f] = v
		}
	}
	var cr credCreated
	if err := c.post(r, rs, body, &cr, "credentials"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	if cr.Secret != "" {
		c.showSecret(w, rs, "credentials", secretData{Heading: "HMAC credential created", What: "shared secret (base64)", Secret: cr.Secret, ID: cr.ID,
			Note: "Give it to the client for key id " + cr.KeyID + " now: it is stored sealed and never shown again.", Back: c.base + "/credentials"})
		return
	}
	c.done(w, r, rs, "Credential "+cr.ID+" ("+cr.Type+") created.", c.base+"/credentials")
}

func (c *Console) revokeCredential(w http.ResponseWriter, r *http.Request, rs *reqState) {
	id := r.PathValue("id")
	if err := c.post(r, rs, map[string]string{"reason": strings.TrimSpace(r.PostFormValue("reason"))}, nil, "credentials", id, "revoke"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Credential "+id+" revoked.", back(r, c.base+"/credentials"))
}

// ---- services ----

func (c *Console) services(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[domain.Service](c, r, rs, query(r, "tenant", "name"), "services")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_services", "", c.view(rs, "services", "Services", d))
}

func (c *Console) createService(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{
		"tenant":            strings.TrimSpace(r.PostFormValue("tenant")),
		"name":              strings.TrimSpace(r.PostFormValue("name")),
		"targets":           formList(r.PostFormValue("targets")),
		"approval_required": r.PostFormValue("approval_required") == "on",
	}
	for _, f := range []string{"visibility", "version", "environment"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			body[f] = v
		}
	}
	var s domain.Service
	if err := c.post(r, rs, body, &s, "services"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Service "+s.Name+" created.", c.base+"/services")
}

func (c *Console) deleteService(w http.ResponseWriter, r *http.Request, rs *reqState) {
	if err := c.api.do(r.Context(), rs.se.token, http.MethodDelete, pathOf(nil, "services", r.PathValue("id")), nil, nil); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Service deleted.", c.base+"/services")
}

// ---- routes ----

func (c *Console) routesPage(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[domain.Route](c, r, rs, query(r, "service"), "routes")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_routes", "", c.view(rs, "routes", "Routes", d))
}

func (c *Console) createRoute(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{
		"service": strings.TrimSpace(r.PostFormValue("service")),
		"paths":   formList(r.PostFormValue("paths")),
	}
	if v := strings.TrimSpace(r.PostFormValue("name")); v != "" {
		body["name"] = v
	}
	if m := formList(strings.ToUpper(r.PostFormValue("methods"))); len(m) > 0 {
		body["methods"] = m
	}
	if a := r.PostForm["auth"]; len(a) > 0 {
		body["auth"] = a
	}
	if s := formList(r.PostFormValue("scopes")); len(s) > 0 {
		body["scopes"] = s
	}
	if h := formList(r.PostFormValue("hosts")); len(h) > 0 {
		body["hosts"] = h
	}
	if r.PostFormValue("strip_prefix") == "on" {
		body["strip_prefix"] = true
	}
	var rt domain.Route
	if err := c.post(r, rs, body, &rt, "routes"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Route "+rt.ID+" created for "+strings.Join(rt.Paths, ", ")+".", c.base+"/routes")
}

func (c *Console) deleteRoute(w http.ResponseWriter, r *http.Request, rs *reqState) {
	if err := c.api.do(r.Context(), rs.se.token, http.MethodDelete, pathOf(nil, "routes", r.PathValue("id")), nil, nil); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Route deleted.", c.base+"/routes")
}

// ---- subscriptions ----

// subscriptionsData is the approval inbox plus the filtered list.
type subscriptionsData struct {
	Inbox []subItem
	*listData[subItem]
}

func (c *Console) subscriptions(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[subItem](c, r, rs, query(r, "state", "consumer", "service", "tenant"), "subscriptions")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	var inbox listPage[subItem]
	if err := c.api.get(r.Context(), rs.se.token, pathOf(url.Values{"state": {domain.SubscriptionPending}, "limit": {listLimit}}, "subscriptions"), &inbox); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	// The inbox holds what this admin can decide: a tenant-admin sees the
	// pending requests of her own tenant's services, not her consumers'
	// requests to other tenants (listed below, with their approvers).
	decide := inbox.Items[:0]
	for _, s := range inbox.Items {
		if a := rs.se.admin; a.Role == domain.RoleAdmin || (a.Role == domain.RoleTenantAdmin && s.ServiceTenantID == a.TenantID) {
			decide = append(decide, s)
		}
	}
	c.tpl.render(w, http.StatusOK, "c_subscriptions", "", c.view(rs, "subscriptions", "Subscriptions", subscriptionsData{Inbox: decide, listData: d}))
}

func (c *Console) createSubscription(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{"consumer": strings.TrimSpace(r.PostFormValue("consumer")), "service": strings.TrimSpace(r.PostFormValue("service"))}
	if n := strings.TrimSpace(r.PostFormValue("note")); n != "" {
		body["note"] = n
	}
	var s subItem
	if err := c.post(r, rs, body, &s, "subscriptions"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	msg := "Subscription " + s.ID + " is " + s.State + "."
	if s.Message != "" {
		msg = s.Message
	}
	c.done(w, r, rs, msg, c.base+"/subscriptions")
}

func (c *Console) subscriptionOp(w http.ResponseWriter, r *http.Request, rs *reqState) {
	op := r.PathValue("op")
	if op != "approve" && op != "reject" && op != "revoke" {
		http.NotFound(w, r)
		return
	}
	body := map[string]any{}
	if n := strings.TrimSpace(r.PostFormValue("note")); n != "" {
		body["note"] = n
	}
	var s subItem
	if err := c.post(r, rs, body, &s, "subscriptions", r.PathValue("id"), op); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	msg := "Subscription " + s.ID + " is now " + s.State + "."
	if s.Message != "" {
		msg = s.Message
	}
	c.done(w, r, rs, msg, back(r, c.base+"/subscriptions"))
}

// ---- issuers ----

func (c *Console) issuers(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[issuerItem](c, r, rs, query(r, "name"), "issuers")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_issuers", "", c.view(rs, "issuers", "JWT issuers", d))
}

func (c *Console) createIssuer(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{}
	for _, f := range []string{"name", "issuer", "jwks_url", "discovery_url", "introspection_url", "leeway", "typ"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			body[f] = v
		}
	}
	for _, f := range []string{"audiences", "algorithms", "required_claims"} {
		if l := formList(r.PostFormValue(f)); len(l) > 0 {
			body[f] = l
		}
	}
	var is issuerItem
	if err := c.post(r, rs, body, &is, "issuers"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Issuer "+is.Name+" trusted.", c.base+"/issuers")
}

func (c *Console) deleteIssuer(w http.ResponseWriter, r *http.Request, rs *reqState) {
	if err := c.api.do(r.Context(), rs.se.token, http.MethodDelete, pathOf(nil, "issuers", r.PathValue("id")), nil, nil); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Issuer deleted.", c.base+"/issuers")
}

// ---- admins ----

func (c *Console) admins(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[domain.Admin](c, r, rs, query(r), "admins")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_admins", "", c.view(rs, "admins", "Admins", d))
}

func (c *Console) createAdmin(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{"name": strings.TrimSpace(r.PostFormValue("name")), "role": strings.TrimSpace(r.PostFormValue("role"))}
	if t := strings.TrimSpace(r.PostFormValue("tenant")); t != "" {
		body["tenant"] = t
	}
	var a adminCreated
	if err := c.post(r, rs, body, &a, "admins"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.showSecret(w, rs, "admins", secretData{Heading: "Admin created", What: "admin token for " + a.Name + " (" + a.Role + ")", Secret: a.Token, ID: a.ID,
		Note: "Hand it over now: only its hash is stored.", Back: c.base + "/admins"})
}

func (c *Console) deleteAdmin(w http.ResponseWriter, r *http.Request, rs *reqState) {
	if err := c.api.do(r.Context(), rs.se.token, http.MethodDelete, pathOf(nil, "admins", r.PathValue("id")), nil, nil); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Admin deleted: its token stopped working.", c.base+"/admins")
}

// ---- alerts and audit ----

// alertsData lists alerts as the API answers them. The alerts endpoint
// belongs to the analytics work (issue 7); until a gateway serves it the
// page says so.
type alertsData struct {
	Items   []map[string]any
	Unavail bool
}

func (c *Console) alerts(w http.ResponseWriter, r *http.Request, rs *reqState) {
	var p listPage[map[string]any]
	d := alertsData{}
	if err := c.api.get(r.Context(), rs.se.token, pathOf(url.Values{"limit": {listLimit}}, "alerts"), &p); err != nil {
		if !isStatus(err, http.StatusNotFound) && !isStatus(err, http.StatusMethodNotAllowed) {
			c.apiFailed(w, r, rs, err)
			return
		}
		d.Unavail = true
	}
	d.Items = p.Items
	c.tpl.render(w, http.StatusOK, "c_alerts", "", c.view(rs, "alerts", "Alerts", d))
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[domain.AuditEntry](c, r, rs, query(r, "tenant", "action", "resource", "resource_id", "actor"), "audit")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_audit", "", c.view(rs, "audit", "Audit log", d))
}
