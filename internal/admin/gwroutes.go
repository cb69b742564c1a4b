package admin

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// routeRequest creates a route, or (PATCH) holds the fields to change.
type routeRequest struct {
	// Service is the service's id or name.
	Service string   `json:"service"`
	Name    string   `json:"name,omitempty"`
	Hosts   []string `json:"hosts,omitempty"`
	// Paths are prefixes starting with "/".
	Paths   []string `json:"paths"`
	Methods []string `json:"methods,omitempty"`
	// Auth lists accepted methods in order; default ["api_key"].
	Auth              []string `json:"auth,omitempty"`
	Scopes            []string `json:"scopes,omitempty"`
	StripPrefix       bool     `json:"strip_prefix,omitempty"`
	UpstreamPath      string   `json:"upstream_path,omitempty"`
	QueryKey          bool     `json:"query_key,omitempty"`
	ForwardCredential bool     `json:"forward_credential,omitempty"`
	Disclosure        string   `json:"disclosure,omitempty"`   // full (default) or minimal
	ErrorFormat       string   `json:"error_format,omitempty"` // problem (default) or openai
	MaxBody           int64    `json:"max_body,omitempty"`     // bytes; 0 = gateway default
	Type              string   `json:"type,omitempty"`         // proxy (default), ai or prompt
	// Prompt is the prompt a route of type "prompt" serves: its id, name
	// (in the service's tenant) or tenant-slug/name.
	Prompt string `json:"prompt,omitempty"`
	// RateLimit limits calls on the route; null (PATCH) removes it.
	RateLimit *rateLimitInput `json:"rate_limit,omitempty"`
	// Quota bounds the calls on the route per day or month (§9,
	// quota.exceeded); null (PATCH) removes it.
	Quota *quotaInput `json:"quota,omitempty"`
	// CORS lets browser pages on other origins call the route; null
	// (PATCH) removes it.
	CORS *corsInput `json:"cors,omitempty"`
}

var (
	httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
	authMethods = []string{domain.AuthAPIKey, domain.AuthJWT, domain.AuthIntrospection, domain.AuthHTTPSignature, domain.AuthMTLS, domain.AuthBasic}
)

func routeToRequest(r domain.Route, serviceRef string) routeRequest {
	return routeRequest{Service: serviceRef, Name: r.Name, Hosts: slices.Clone(r.Hosts), Paths: slices.Clone(r.Paths),
		Methods: slices.Clone(r.Methods), Auth: slices.Clone(r.Auth), Scopes: slices.Clone(r.Scopes), StripPrefix: r.StripPrefix,
		UpstreamPath: r.UpstreamPath, QueryKey: r.QueryKey, ForwardCredential: r.ForwardCredential, Disclosure: r.Disclosure,
		ErrorFormat: r.ErrorFormat, MaxBody: r.MaxBody, Type: r.Type, Prompt: r.PromptID, RateLimit: rateLimitToInput(r.RateLimit), Quota: quotaToInput(r.Quota),
		CORS: corsToInput(r.CORS)}
}

// buildRoute validates every field but the service.
func buildRoute(req routeRequest) (domain.Route, error) {
	r := domain.Route{Name: req.Name, StripPrefix: req.StripPrefix, UpstreamPath: req.UpstreamPath, QueryKey: req.QueryKey,
		ForwardCredential: req.ForwardCredential, Disclosure: req.Disclosure, ErrorFormat: req.ErrorFormat, MaxBody: req.MaxBody, Type: req.Type}
	if r.Name != "" {
		if err := checkName("route", r.Name); err != nil {
			return r, err
		}
	}
	if len(req.Paths) == 0 {
		return r, invalid("paths is required: at least one path prefix starting with \"/\", e.g. [\"/v1/orders\"]")
	}
	for i, p := range req.Paths {
		switch {
		case !strings.HasPrefix(p, "/"):
			return r, invalid("paths[%d] %q must start with \"/\", e.g. %q", i, p, "/"+strings.TrimLeft(p, " "))
		case strings.ContainsFunc(p, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }):
			return r, invalid("paths[%d] %q contains whitespace or a control character", i, p)
		case strings.ContainsAny(p, "?#"):
			return r, invalid("paths[%d] %q contains '?' or '#': a route matches paths, not queries or fragments", i, p)
		case len(p) > 1024:
			return r, invalid("paths[%d] is %d bytes long; at most 1024", i, len(p))
		}
		if !slices.Contains(r.Paths, p) {
			r.Paths = append(r.Paths, p)
		}
	}
	for i, m := range req.Methods {
		u := strings.ToUpper(strings.TrimSpace(m))
		if !slices.Contains(httpMethods, u) {
			return r, invalid("methods[%d] %q is not an HTTP method: use %s (empty means all)", i, m, strings.Join(httpMethods, ", "))
		}
		if !slices.Contains(r.Methods, u) {
			r.Methods = append(r.Methods, u)
		}
	}
	for i, m := range req.Auth {
		if !slices.Contains(authMethods, m) {
			return r, invalid("auth[%d] %q is not an auth method: use %s", i, m, strings.Join(authMethods, ", "))
		}
		if !slices.Contains(r.Auth, m) {
			r.Auth = append(r.Auth, m)
		}
	}
	if len(r.Auth) == 0 {
		r.Auth = []string{domain.AuthAPIKey}
	}
	sc, err := checkScopes("scopes", req.Scopes)
	if err != nil {
		return r, err
	}
	r.Scopes = sc
	for i, h := range req.Hosts {
		l := strings.ToLower(strings.TrimSpace(h))
		if !hostRE.MatchString(l) {
			return r, invalid("hosts[%d] %q is not a host name: e.g. \"api.example.com\", \"*.example.com\" or \"api.example.com:8443\"", i, h)
		}
		if !slices.Contains(r.Hosts, l) {
			r.Hosts = append(r.Hosts, l)
		}
	}
	if r.UpstreamPath != "" && !strings.HasPrefix(r.UpstreamPath, "/") {
		return r, invalid("upstream_path %q must start with \"/\"", r.UpstreamPath)
	}
	if r.QueryKey && !slices.Contains(r.Auth, domain.AuthAPIKey) {
		return r, invalid("query_key needs \"api_key\" in auth: ?api_key= carries an API key")
	}
	if err := oneOf("disclosure", r.Disclosure, "", domain.DisclosureFull, domain.DisclosureMinimal); err != nil {
		return r, err
	}
	if err := oneOf("error_format", r.ErrorFormat, "", domain.ErrorFormatProblem, domain.ErrorFormatOpenAI); err != nil {
		return r, err
	}
	if err := oneOf("type", r.Type, "", domain.RouteProxy, domain.RouteAI, domain.RoutePrompt); err != nil {
		return r, err
	}
	switch {
	case r.Type == domain.RoutePrompt && req.Prompt == "":
		return r, invalid("prompt is required for a route of type \"prompt\": the id or name of the prompt it serves (gatehouse prompt list)")
	case r.Type != domain.RoutePrompt && req.Prompt != "":
		return r, invalid("prompt is only for routes of type \"prompt\"; this route's type is %q", cmp.Or(r.Type, domain.RouteProxy))
	}
	if r.MaxBody < 0 {
		return r, invalid("max_body %d must be 0 (the gateway default) or a positive number of bytes", r.MaxBody)
	}
	rl, err := buildRateLimit("rate_limit", req.RateLimit)
	if err != nil {
		return r, err
	}
	r.RateLimit = rl
	if r.Quota, err = buildQuota("quota", req.Quota); err != nil {
		return r, err
	}
	if r.CORS, err = buildCORS("cors", req.CORS, r.Methods); err != nil {
		return r, err
	}
	return r, nil
}

// loadRoute reads a route and its service inside tx and checks reach.
func (rc *reqCtx) loadRoute(tx store.Tx, id string) (domain.Route, domain.Service, error) {
	r, err := tx.GetRoute(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return r, domain.Service{}, notFound("route %q not found; list them with gatehouse route list", id)
	}
	if err != nil {
		return r, domain.Service{}, err
	}
	s, err := tx.GetService(rc.ctx, r.ServiceID)
	if err != nil {
		return r, s, fmt.Errorf("service %s of route %s: %w", r.ServiceID, r.ID, err)
	}
	return r, s, rc.reach("route", r.ID, r.ID, s.TenantID)
}

func (a *API) listRoutes(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	var f store.ListFilter
	var keep func(domain.Route) (bool, error)
	if ref := rc.query("service"); ref != "" {
		err := rc.view(func(tx store.Tx) error {
			s, err := rc.loadService(tx, ref)
			f.ServiceID = s.ID
			return err
		})
		if err != nil {
			return nil, err
		}
	} else if s := rc.scope(); s != "" {
		tenantOf := map[string]string{}
		keep = func(r domain.Route) (bool, error) {
			t, ok := tenantOf[r.ServiceID]
			if !ok {
				err := a.cfg.Store.View(rc.ctx, func(tx store.Tx) error {
					svc, err := tx.GetService(rc.ctx, r.ServiceID)
					t = svc.TenantID
					return err
				})
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return false, err
				}
				tenantOf[r.ServiceID] = t
			}
			return t == s, nil
		}
	}
	items, next, err := collect(p, func(p store.Page) ([]domain.Route, string, error) {
		f.Page = p
		return a.cfg.Store.ListRoutes(rc.ctx, f)
	}, keep)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

func (a *API) createRoute(rc *reqCtx) (any, error) {
	var req routeRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	if req.Service == "" {
		return nil, invalid("service is required: the id or name of the service this route forwards to (gatehouse service list)")
	}
	r, err := buildRoute(req)
	if err != nil {
		return nil, err
	}
	if r.ID, err = newID(prefixRoute); err != nil {
		return nil, internal(err, "could not generate an id")
	}
	r.CreatedAt, r.UpdatedAt = rc.now, rc.now
	if r.Type == domain.RoutePrompt {
		if r.PromptID, err = rc.routePromptID(req.Prompt, req.Service); err != nil {
			return nil, err
		}
	}
	// An unknown or unreachable service is answered before a clash.
	if err := rc.view(func(tx store.Tx) error { _, err := rc.loadService(tx, req.Service); return err }); err != nil {
		return nil, err
	}
	if o, err := a.routeClash(rc, r); err != nil {
		return nil, err
	} else if o != nil {
		return nil, a.clashError(rc, o)
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		s, err := rc.loadService(tx, req.Service)
		if err != nil {
			return change{}, err
		}
		r.ServiceID = s.ID
		if r.Type == domain.RoutePrompt {
			if err := rc.checkRoutePrompt(tx, r.PromptID, s); err != nil {
				return change{}, err
			}
		}
		if err := tx.PutRoute(rc.ctx, r); err != nil {
			return change{}, err
		}
		return change{Resource: "route", ResourceID: r.ID, TenantID: s.TenantID, After: r}, nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (a *API) getRoute(rc *reqCtx) (any, error) {
	var r domain.Route
	err := rc.view(func(tx store.Tx) (err error) {
		r, _, err = rc.loadRoute(tx, rc.r.PathValue("id"))
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (a *API) updateRoute(rc *reqCtx) (any, error) {
	var cur domain.Route
	if err := rc.view(func(tx store.Tx) (err error) { cur, _, err = rc.loadRoute(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	if cur.Declared {
		return nil, declared("route", cur.ID)
	}
	req := routeToRequest(cur, cur.ServiceID)
	present, err := rc.decodePatch(&req)
	if err != nil {
		return nil, err
	}
	if _, ok := present["prompt"]; !ok && req.Type != domain.RoutePrompt {
		req.Prompt = "" // a route leaving type "prompt" leaves its prompt
	}
	next, err := buildRoute(req)
	if err != nil {
		return nil, err
	}
	if next.Type == domain.RoutePrompt {
		if next.PromptID, err = rc.routePromptID(req.Prompt, req.Service); err != nil {
			return nil, err
		}
	}
	next.ID = cur.ID
	// Checked only when what the route matches changes: a route that
	// clashed before the check existed can still have its scopes edited.
	if !slices.Equal(next.Paths, cur.Paths) || !slices.Equal(next.Hosts, cur.Hosts) || !slices.Equal(next.Methods, cur.Methods) {
		o, err := a.routeClash(rc, next)
		if err != nil {
			return nil, err
		}
		if o != nil {
			return nil, a.clashError(rc, o)
		}
	}
	var out domain.Route
	err = rc.commit(func(tx store.Tx) (change, error) {
		r, oldSvc, err := rc.loadRoute(tx, cur.ID)
		if err != nil {
			return change{}, err
		}
		if r.Declared {
			return change{}, declared("route", r.ID)
		}
		svc := oldSvc
		if req.Service != r.ServiceID {
			// Moving a route: the admin must reach the new service too.
			if svc, err = rc.loadService(tx, req.Service); err != nil {
				return change{}, err
			}
		}
		next.ID, next.ServiceID, next.CreatedAt, next.UpdatedAt = r.ID, svc.ID, r.CreatedAt, rc.now
		if next.Type == domain.RoutePrompt {
			if err := rc.checkRoutePrompt(tx, next.PromptID, svc); err != nil {
				return change{}, err
			}
		}
		if err := tx.PutRoute(rc.ctx, next); err != nil {
			return change{}, err
		}
		out = next
		return change{Resource: "route", ResourceID: r.ID, TenantID: svc.TenantID, Before: r, After: next}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *API) deleteRoute(rc *reqCtx) (any, error) {
	err := rc.commit(func(tx store.Tx) (change, error) {
		r, s, err := rc.loadRoute(tx, rc.r.PathValue("id"))
		if err != nil {
			return change{}, err
		}
		if r.Declared {
			return change{}, declared("route", r.ID)
		}
		if err := tx.DeleteRoute(rc.ctx, r.ID); err != nil {
			return change{}, err
		}
		return change{Resource: "route", ResourceID: r.ID, TenantID: s.TenantID, Before: r}, nil
	})
	return nil, err
}

// routeClash returns an existing route (other than r) that would serve
// the same requests as r — a path in common, hosts in common (either
// route without hosts matches every host) and methods in common (likewise)
// — or nil. Two such routes would leave which one serves a request to the
// router's order, which nobody chose; the second is refused (409) naming
// the first. Routes are read outside the change's transaction: two
// clashing routes created at the same instant can both pass, and the
// router still serves one of them.
func (a *API) routeClash(rc *reqCtx, r domain.Route) (*domain.Route, error) {
	page := store.Page{Limit: 500}
	for {
		items, next, err := a.cfg.Store.ListRoutes(rc.ctx, store.ListFilter{Page: page})
		if err != nil {
			return nil, storeError(err)
		}
		for i := range items {
			o := &items[i]
			if o.ID != r.ID && overlap(o.Paths, r.Paths) && (len(o.Hosts) == 0 || len(r.Hosts) == 0 || overlapFold(o.Hosts, r.Hosts)) &&
				(len(o.Methods) == 0 || len(r.Methods) == 0 || overlap(o.Methods, r.Methods)) {
				return o, nil
			}
		}
		if next == "" {
			return nil, nil
		}
		page.After = next
	}
}

func overlap(a, b []string) bool {
	return slices.ContainsFunc(a, func(s string) bool { return slices.Contains(b, s) })
}

func overlapFold(a, b []string) bool {
	return slices.ContainsFunc(a, func(s string) bool {
		return slices.ContainsFunc(b, func(t string) bool { return strings.EqualFold(s, t) })
	})
}

// clashError is routeClash's refusal. To an admin bound to a tenant, a
// route of another tenant is not described: only that one exists.
func (a *API) clashError(rc *reqCtx, o *domain.Route) error {
	if scope := rc.scope(); scope != "" {
		var other bool
		err := rc.view(func(tx store.Tx) error {
			svc, err := tx.GetService(rc.ctx, o.ServiceID)
			other = err != nil || svc.TenantID != scope
			return nil
		})
		if err != nil || other {
			return conflict("a route of another tenant already serves these requests: give this route another path, host or method")
		}
	}
	name := o.ID
	if o.Name != "" {
		name = o.Name + " (" + o.ID + ")"
	}
	return conflict("route %s already serves these requests (paths %s, hosts %s, methods %s): give this route another path, host or method, or change that one",
		name, strings.Join(o.Paths, ", "), orAll(o.Hosts), orAll(o.Methods))
}

func orAll(list []string) string {
	if len(list) == 0 {
		return "all"
	}
	return strings.Join(list, ", ")
}
