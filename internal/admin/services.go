package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"gatehouse/internal/domain"
	"gatehouse/internal/identity"
	"gatehouse/internal/store"
)

// serviceRequest creates a service, or (PATCH) holds the fields to change.
type serviceRequest struct {
	// Tenant is the owning tenant's id or slug; it cannot change later.
	Tenant string `json:"tenant"`
	// Name is unique across the gateway.
	Name string `json:"name"`
	// Targets are base URLs ("http://host:port") or {"url","weight"}.
	Targets          []targetInput   `json:"targets"`
	Visibility       string          `json:"visibility,omitempty"` // private (default) or published
	ApprovalRequired bool            `json:"approval_required,omitempty"`
	Timeouts         timeoutsRequest `json:"timeouts,omitzero"`
	Engine           string          `json:"engine,omitempty"`      // "", "fast" or "httputil"
	HostHeader       string          `json:"host_header,omitempty"` // "" or "preserve"
	// Environment pins the service to live or test keys on a gateway that
	// serves both ("" accepts the gateway's).
	Environment string `json:"environment,omitempty"`
	EjectAfter  int    `json:"eject_after,omitempty"`
	EjectFor    string `json:"eject_for,omitempty"`
	Version     string `json:"version,omitempty"`
	// IdentityJWT adds the gateway-signed identity token
	// (X-Gatehouse-Identity) to every request forwarded to the service;
	// null (PATCH) removes it.
	IdentityJWT *identityJWTInput `json:"identity_jwt,omitempty"`
	// Lifecycle (§2): draft (only the tenant's test keys reach it),
	// active (default), deprecated (needs sunset; answers carry
	// Deprecation and Sunset), retired (answers service.retired, 410).
	Lifecycle string `json:"lifecycle,omitempty"`
	// Sunset is when a deprecated service stops (RFC 3339; RFC 8594).
	Sunset string `json:"sunset,omitempty"`
	// Successor is the service (id or name) that replaces this one, named
	// to callers of the deprecated or retired one.
	Successor string `json:"successor,omitempty"`
}

// identityJWTInput is a service's identity_jwt as sent.
type identityJWTInput struct {
	// Enabled sends the token; default true when identity_jwt is sent.
	// false keeps audience and ttl while sending none.
	Enabled *bool `json:"enabled,omitempty"`
	// Audience is the token's "aud", what the upstream checks it was
	// meant for; default the service's name (stored, so a later rename
	// does not change it).
	Audience string `json:"audience,omitempty"`
	// TTL is the token's lifetime, whole seconds from 10s to 1h; default
	// 60s. The gateway reuses a token for half of it.
	TTL string `json:"ttl,omitempty"`
}

func identityJWTToInput(ij *domain.IdentityJWT) *identityJWTInput {
	if ij == nil {
		return nil
	}
	on := ij.Enabled
	return &identityJWTInput{Enabled: &on, Audience: ij.Audience, TTL: fmtDuration(ij.TTL.D())}
}

// buildIdentityJWT validates and completes a service's identity_jwt (nil
// stays nil); defaults are stored, so GET shows what the upstream gets.
func buildIdentityJWT(field string, in *identityJWTInput, serviceName string) (*domain.IdentityJWT, error) {
	if in == nil {
		return nil, nil
	}
	ij := &domain.IdentityJWT{Enabled: in.Enabled == nil || *in.Enabled, Audience: strings.TrimSpace(in.Audience),
		TTL: domain.Duration(identity.DefaultTTL)}
	if ij.Audience == "" {
		ij.Audience = serviceName
	}
	switch {
	case len(ij.Audience) > 256:
		return nil, invalid("%s.audience is %d characters long; at most 256", field, len(ij.Audience))
	case strings.ContainsFunc(ij.Audience, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }):
		return nil, invalid("%s.audience %q contains whitespace or a control character: use a name or URL such as \"orders\" or \"https://orders.internal\"",
			field, ij.Audience)
	}
	if in.TTL != "" {
		d, err := parseDuration(in.TTL)
		if err != nil {
			return nil, invalid("%s.ttl %v", field, err)
		}
		switch {
		case d < identity.MinTTL || d > identity.MaxTTL:
			return nil, invalid("%s.ttl %q must be from %s to %s: the token is short-lived, and the gateway reuses it for half its lifetime",
				field, in.TTL, identity.MinTTL, "1h")
		case d%time.Second != 0:
			return nil, invalid("%s.ttl %q must be whole seconds (JWT times are seconds), e.g. \"60s\"", field, in.TTL)
		}
		ij.TTL = domain.Duration(d)
	}
	return ij, nil
}

// timeoutsRequest carries durations as strings so an error names the field.
type timeoutsRequest struct {
	Connect  string `json:"connect,omitempty"`
	Response string `json:"response,omitempty"`
	Read     string `json:"read,omitempty"`
	Write    string `json:"write,omitempty"`
	Idle     string `json:"idle,omitempty"`
}

// targetInput is one target as sent: a URL string or {"url","weight"}. It
// is kept raw so the validation error can name its index.
type targetInput json.RawMessage

// MarshalJSON writes the raw target.
func (t targetInput) MarshalJSON() ([]byte, error) {
	if len(t) == 0 {
		return []byte("null"), nil
	}
	return t, nil
}

// UnmarshalJSON keeps the raw target.
func (t *targetInput) UnmarshalJSON(b []byte) error {
	*t = slices.Clone(b)
	return nil
}

func fmtDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func serviceToRequest(s domain.Service, tenantRef string) serviceRequest {
	req := serviceRequest{Tenant: tenantRef, Name: s.Name, Visibility: s.Visibility, ApprovalRequired: s.ApprovalRequired,
		Engine: s.Engine, HostHeader: s.HostHeader, Environment: s.Environment, EjectAfter: s.EjectAfter, EjectFor: fmtDuration(s.EjectFor.D()), Version: s.Version,
		IdentityJWT: identityJWTToInput(s.IdentityJWT), Lifecycle: s.Lifecycle, Successor: s.Successor,
		Timeouts: timeoutsRequest{Connect: fmtDuration(s.Timeouts.Connect.D()), Response: fmtDuration(s.Timeouts.Response.D()),
			Read: fmtDuration(s.Timeouts.Read.D()), Write: fmtDuration(s.Timeouts.Write.D()), Idle: fmtDuration(s.Timeouts.Idle.D())}}
	if s.Sunset != nil {
		req.Sunset = s.Sunset.UTC().Format(time.RFC3339)
	}
	for _, t := range s.Targets {
		b, _ := json.Marshal(t)
		req.Targets = append(req.Targets, targetInput(b))
	}
	return req
}

// buildService validates every field but the tenant.
func buildService(req serviceRequest) (domain.Service, error) {
	s := domain.Service{Name: req.Name, Visibility: req.Visibility, ApprovalRequired: req.ApprovalRequired,
		Engine: req.Engine, HostHeader: req.HostHeader, Environment: req.Environment, EjectAfter: req.EjectAfter, Version: req.Version}
	if err := checkName("service", s.Name); err != nil {
		return s, err
	}
	if len(req.Targets) == 0 {
		return s, invalid("targets is required: at least one upstream base URL, e.g. [\"http://10.0.0.5:8080\"]")
	}
	for i, raw := range req.Targets {
		t, err := parseTarget(i, raw)
		if err != nil {
			return s, err
		}
		s.Targets = append(s.Targets, t)
	}
	if s.Visibility == "" {
		s.Visibility = domain.VisibilityPrivate
	}
	if err := oneOf("visibility", s.Visibility, domain.VisibilityPrivate, domain.VisibilityPublished); err != nil {
		return s, err
	}
	if err := oneOf("engine", s.Engine, "", "fast", "httputil"); err != nil {
		return s, err
	}
	if err := oneOf("host_header", s.HostHeader, "", "preserve"); err != nil {
		return s, err
	}
	if err := oneOf("environment", s.Environment, "", domain.EnvLive, domain.EnvTest); err != nil {
		return s, err
	}
	if s.EjectAfter < 0 || s.EjectAfter > 1000 {
		return s, invalid("eject_after %d must be from 0 (default 3) to 1000 consecutive failures", s.EjectAfter)
	}
	if len(s.Version) > 50 {
		return s, invalid("version is %d characters long; at most 50", len(s.Version))
	}
	durs := []struct {
		field string
		in    string
		out   *domain.Duration
	}{
		{"eject_for", req.EjectFor, &s.EjectFor},
		{"timeouts.connect", req.Timeouts.Connect, &s.Timeouts.Connect},
		{"timeouts.response", req.Timeouts.Response, &s.Timeouts.Response},
		{"timeouts.read", req.Timeouts.Read, &s.Timeouts.Read},
		{"timeouts.write", req.Timeouts.Write, &s.Timeouts.Write},
		{"timeouts.idle", req.Timeouts.Idle, &s.Timeouts.Idle},
	}
	for _, d := range durs {
		if d.in == "" {
			continue
		}
		v, err := parseDuration(d.in)
		if err != nil {
			return s, invalid("%s %v", d.field, err)
		}
		if v < 0 || v > 24*time.Hour {
			return s, invalid("%s %q must be between 0s (the gateway default) and 24h", d.field, d.in)
		}
		*d.out = domain.Duration(v)
	}
	ij, err := buildIdentityJWT("identity_jwt", req.IdentityJWT, s.Name)
	if err != nil {
		return s, err
	}
	s.IdentityJWT = ij
	s.Lifecycle = req.Lifecycle
	if s.Lifecycle == "" {
		s.Lifecycle = domain.LifecycleActive
	}
	if err := oneOf("lifecycle", s.Lifecycle, domain.LifecycleDraft, domain.LifecycleActive, domain.LifecycleDeprecated, domain.LifecycleRetired); err != nil {
		return s, err
	}
	if req.Sunset != "" {
		t, err := time.Parse(time.RFC3339, req.Sunset)
		if err != nil {
			return s, invalid("sunset %q is not an RFC 3339 time such as \"2027-06-30T00:00:00Z\"", req.Sunset)
		}
		t = t.UTC()
		s.Sunset = &t
	}
	switch s.Lifecycle {
	case domain.LifecycleDeprecated:
		if s.Sunset == nil {
			return s, invalid("sunset is required with lifecycle deprecated: the RFC 3339 time the service stops, e.g. \"2027-06-30T00:00:00Z\" (callers see it in the Sunset header)")
		}
	case domain.LifecycleDraft, domain.LifecycleActive:
		s.Sunset = nil // kept only while deprecated or retired
	}
	s.Successor = strings.TrimSpace(req.Successor)
	return s, nil
}

// settleLifecycle completes s's lifecycle inside tx against prev (nil on
// create): the successor reference becomes a service id (it must exist
// and not be s), and DeprecatedAt is when s became deprecated — set now
// on the change to deprecated, kept while deprecated or retired.
func (rc *reqCtx) settleLifecycle(tx store.Tx, s *domain.Service, prev *domain.Service) error {
	// Resolved only when it changes: a PATCH of other fields carries the
	// stored id back, and must not fail because that service has since
	// been deleted or lies beyond the editor's tenant.
	if s.Successor != "" && (prev == nil || s.Successor != prev.Successor) {
		succ, err := rc.loadService(tx, s.Successor)
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == CodeNotFound {
			return invalid("successor %q: no such service: give the id or name of the service that replaces this one", s.Successor)
		}
		if err != nil {
			return err
		}
		if succ.ID == s.ID {
			return invalid("successor is the service itself: name the service that replaces it")
		}
		s.Successor = succ.ID
	}
	s.DeprecatedAt = nil
	switch s.Lifecycle {
	case domain.LifecycleDeprecated, domain.LifecycleRetired:
		if prev != nil && prev.DeprecatedAt != nil {
			s.DeprecatedAt = prev.DeprecatedAt
		} else {
			now := rc.now
			s.DeprecatedAt = &now
		}
	}
	return nil
}

func parseTarget(i int, raw targetInput) (domain.Target, error) {
	field := fmt.Sprintf("targets[%d]", i)
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return domain.Target{URL: s, Weight: 1}, checkTargetURL(field, s)
	}
	var obj struct {
		URL    string `json:"url"`
		Weight *int   `json:"weight"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil {
		return domain.Target{}, invalid("%s must be a URL string or {\"url\":\"http://host:port\",\"weight\":1}", field)
	}
	t := domain.Target{URL: obj.URL, Weight: 1}
	if obj.Weight != nil {
		if *obj.Weight < 1 || *obj.Weight > 1000 {
			return t, invalid("%s.weight %d must be from 1 to 1000", field, *obj.Weight)
		}
		t.Weight = *obj.Weight
	}
	if obj.URL == "" {
		return t, invalid("%s.url is required", field)
	}
	return t, checkTargetURL(field+".url", obj.URL)
}

// declared is the 409 for objects that gatehouse.yaml owns.
func declared(kind, name string) error {
	return &apiError{Code: CodeDeclared,
		Detail: fmt.Sprintf("%s %q is declared in gatehouse.yaml and read-only through the API: change it in the file and reload the gateway", kind, name)}
}

// loadService resolves an id or name inside tx and checks reach.
func (rc *reqCtx) loadService(tx store.Tx, ref string) (domain.Service, error) {
	if ref == "" {
		return domain.Service{}, invalid("service is required: a service id or name (gatehouse service list)")
	}
	s, err := tx.GetService(rc.ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return s, notFound("service %q not found (looked up as id and as name); list them with gatehouse service list", ref)
	}
	if err != nil {
		return s, err
	}
	return s, rc.reach("service", s.ID, ref, s.TenantID)
}

// checkServiceName refuses a name another service uses (names are global).
func (rc *reqCtx) checkServiceName(tx store.Tx, name, selfID string) error {
	other, err := tx.GetService(rc.ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case other.ID != selfID:
		return conflict("service name %q is already taken (service names are unique across the gateway); pick another", name)
	}
	return nil
}

func (a *API) listServices(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{Page: p, Name: rc.query("name"), TenantID: rc.scope()}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	items, next, err := a.cfg.Store.ListServices(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

func (a *API) createService(rc *reqCtx) (any, error) {
	var req serviceRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	if req.Tenant == "" {
		return nil, invalid("tenant is required: the id or slug of the tenant that publishes the service")
	}
	s, err := buildService(req)
	if err != nil {
		return nil, err
	}
	if s.ID, err = newID(prefixService); err != nil {
		return nil, internal(err, "could not generate an id")
	}
	s.CreatedAt, s.UpdatedAt = rc.now, rc.now
	err = rc.commit(func(tx store.Tx) (change, error) {
		t, err := rc.loadTenant(tx, req.Tenant)
		if err != nil {
			return change{}, err
		}
		s.TenantID = t.ID
		if err := rc.checkServiceName(tx, s.Name, ""); err != nil {
			return change{}, err
		}
		if err := rc.settleLifecycle(tx, &s, nil); err != nil {
			return change{}, err
		}
		if err := tx.PutService(rc.ctx, s); err != nil {
			return change{}, err
		}
		return change{Resource: "service", ResourceID: s.ID, TenantID: s.TenantID, After: s}, nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (a *API) getService(rc *reqCtx) (any, error) {
	var s domain.Service
	err := rc.view(func(tx store.Tx) (err error) {
		s, err = rc.loadService(tx, rc.r.PathValue("id"))
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (a *API) updateService(rc *reqCtx) (any, error) {
	var cur domain.Service
	if err := rc.view(func(tx store.Tx) (err error) { cur, err = rc.loadService(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	if cur.Declared {
		return nil, declared("service", cur.Name)
	}
	req := serviceToRequest(cur, cur.TenantID)
	if _, err := rc.decodePatch(&req); err != nil {
		return nil, err
	}
	next, err := buildService(req)
	if err != nil {
		return nil, err
	}
	var out domain.Service
	err = rc.commit(func(tx store.Tx) (change, error) {
		s, err := rc.loadService(tx, cur.ID)
		if err != nil {
			return change{}, err
		}
		if s.Declared {
			return change{}, declared("service", s.Name)
		}
		if req.Tenant != s.TenantID {
			t, err := tx.GetTenant(rc.ctx, req.Tenant)
			if err != nil || t.ID != s.TenantID {
				return change{}, invalid("tenant cannot change: a service stays in its tenant; create a new service in the other tenant instead")
			}
		}
		if next.Name != s.Name {
			if err := rc.checkServiceName(tx, next.Name, s.ID); err != nil {
				return change{}, err
			}
		}
		next.ID, next.TenantID, next.CreatedAt, next.UpdatedAt = s.ID, s.TenantID, s.CreatedAt, rc.now
		if err := rc.settleLifecycle(tx, &next, &s); err != nil {
			return change{}, err
		}
		if err := tx.PutService(rc.ctx, next); err != nil {
			return change{}, err
		}
		out = next
		return change{Resource: "service", ResourceID: s.ID, TenantID: s.TenantID, Before: s, After: next}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *API) deleteService(rc *reqCtx) (any, error) {
	var cur domain.Service
	if err := rc.view(func(tx store.Tx) (err error) { cur, err = rc.loadService(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	if cur.Declared {
		return nil, declared("service", cur.Name)
	}
	routes, _, err := a.cfg.Store.ListRoutes(rc.ctx, store.ListFilter{ServiceID: cur.ID, Page: store.Page{Limit: 10}})
	if err != nil {
		return nil, storeError(err)
	}
	if len(routes) > 0 {
		ids := make([]string, len(routes))
		for i, r := range routes {
			ids[i] = r.ID
		}
		return nil, conflict("service %s is still used by route(s) %s; delete or move those routes first (gatehouse route list --service %s)",
			cur.Name, strings.Join(ids, ", "), cur.Name)
	}
	var open []string
	for _, state := range []string{domain.SubscriptionPending, domain.SubscriptionApproved} {
		subs, _, err := a.cfg.Store.ListSubscriptions(rc.ctx, store.ListFilter{ServiceID: cur.ID, State: state, Page: store.Page{Limit: 10}})
		if err != nil {
			return nil, storeError(err)
		}
		for _, s := range subs {
			open = append(open, s.ID)
		}
	}
	if len(open) > 0 {
		return nil, conflict("service %s has open subscription(s) %s; reject or revoke them first (gatehouse subscription list --service %s)",
			cur.Name, strings.Join(open, ", "), cur.Name)
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		s, err := rc.loadService(tx, cur.ID)
		if err != nil {
			return change{}, err
		}
		if err := tx.DeleteService(rc.ctx, s.ID); err != nil {
			return change{}, err
		}
		return change{Resource: "service", ResourceID: s.ID, TenantID: s.TenantID, Before: s}, nil
	})
	return nil, err
}
