// Package snapshot is the immutable in-memory view of everything the
// request path reads: routes, services, tenants, consumers and keys. It is
// built from the store after every change and swapped atomically (Holder);
// nothing mutates a snapshot in place, and the request path never queries
// the store.
package snapshot

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/proxy"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
)

// Tenant is a tenant as the request path sees it.
type Tenant struct {
	domain.Tenant
}

// Consumer is a consumer with its tenant resolved.
type Consumer struct {
	domain.Consumer
	Tenant *Tenant
	// IPAllow is the parsed allow-list (empty: any address).
	IPAllow []netip.Prefix
	// ScopeHeader is the space-joined scope list, sent upstream for the
	// keys that name no scopes of their own.
	ScopeHeader string
}

// Service is a service with its tenant and compiled upstream.
type Service struct {
	domain.Service
	Tenant   *Tenant
	Upstream *proxy.Upstream
	// Deprecation and SunsetHeader are the response fields of a deprecated
	// service, built once: Deprecation (RFC 9745, "@<unix seconds>") and
	// Sunset (RFC 8594, an HTTP-date); nil otherwise.
	Deprecation, SunsetHeader []string
	// SuccessorService is the successor (nil: none); its tenant and
	// visibility decide who may be told of it.
	SuccessorService *Service
}

// Route is a route with its service resolved and its options precomputed.
type Route struct {
	domain.Route
	Service *Service
	// Minimal is true for disclosure: minimal.
	Minimal bool
	// OpenAI is true for error_format: openai.
	OpenAI bool
	// Accepts is the ordered list of accepted auth methods (never empty).
	Accepts []string
	// AcceptsText names the accepted credentials for auth.missing details.
	AcceptsText string
	// Label is the trace detail for a match, precomputed.
	Label string
	// Limit is the compiled rate limit (nil: none); LimitBy is consumer,
	// credential or route, LimitText its description for details.
	Limit     *ratelimit.Limit
	LimitBy   string
	LimitText string
	// CORSPolicy is the compiled cors (nil: the route answers no CORS, and
	// the request path pays one nil check for it).
	CORSPolicy *CORS
	// methods is nil for "any method".
	methods map[string]bool
}

// AllowsMethod reports whether the route serves method.
func (r *Route) AllowsMethod(m string) bool { return r.methods == nil || r.methods[m] }

// Snapshot is one immutable view. Safe for concurrent readers.
type Snapshot struct {
	Version int64
	BuiltAt time.Time

	tenants   map[string]*Tenant
	consumers map[string]*Consumer
	services  map[string]*Service
	routes    []*Route
	routeByID map[string]*Route
	// keys is the compact key index (keys.go); cons maps its consumer
	// slots to this snapshot's consumers.
	keys      *keyIndex
	cons      []*Consumer
	subs      map[subKey]*domain.Subscription
	approvers map[string][]string
	// ext holds what credential schemes compile from the same data (JWT
	// bindings, signature keys…): they live in packages the snapshot
	// cannot import, and must be swapped together with it.
	ext map[string]any
	// byHost maps a lower-case host to its path table; anyHost serves
	// routes without hosts.
	byHost  map[string]pathTable
	anyHost pathTable
}

// pathTable maps a normalised path prefix to the routes declaring it, in
// creation order.
type pathTable map[string][]*Route

// Options configure Build.
type Options struct {
	// Upstreams compiles services; it reuses state (health, pools) for
	// services that did not change. Nil leaves Service.Upstream nil.
	Upstreams *proxy.Upstreams
	Now       time.Time
	// Extend, when set, runs last: it compiles scheme-specific indexes
	// from d against the finished snapshot (whose consumers it may point
	// to) and attaches them with SetExt. An error fails the build.
	Extend func(s *Snapshot, d *store.Data) error
	// Keys, when set, holds the keys the store streamed into it (and
	// d.Keys, if any, are added to it); nil builds the keys from d.Keys
	// alone. A KeyLoader serves one Build, successful or not.
	Keys *KeyLoader
}

// Build compiles store data into a snapshot.
func Build(d *store.Data, opts Options) (*Snapshot, error) {
	s := &Snapshot{
		Version:   d.Version,
		BuiltAt:   opts.Now,
		tenants:   make(map[string]*Tenant, len(d.Tenants)),
		consumers: make(map[string]*Consumer, len(d.Consumers)),
		services:  make(map[string]*Service, len(d.Services)),
		byHost:    map[string]pathTable{},
		anyHost:   pathTable{},
		subs:      make(map[subKey]*domain.Subscription, len(d.Subscriptions)),
		approvers: d.Approvers,
	}
	for i := range d.Subscriptions {
		sub := &d.Subscriptions[i]
		s.subs[subKey{sub.ConsumerID, sub.ServiceID}] = sub
	}
	for i := range d.Tenants {
		t := &Tenant{Tenant: d.Tenants[i]}
		s.tenants[t.ID] = t
	}
	for i := range d.Consumers {
		c := &Consumer{Consumer: d.Consumers[i]}
		c.Tenant = s.tenants[c.TenantID]
		if c.Tenant == nil {
			return nil, fmt.Errorf("snapshot: consumer %s refers to missing tenant %s", c.ID, c.TenantID)
		}
		var err error
		if c.IPAllow, err = parsePrefixes(c.Consumer.IPAllow); err != nil {
			return nil, fmt.Errorf("snapshot: consumer %s: %w", c.ID, err)
		}
		c.ScopeHeader = strings.Join(c.Scopes, " ")
		s.consumers[c.ID] = c
	}
	if err := s.buildKeys(d, opts.Keys); err != nil {
		return nil, err
	}
	for i := range d.Services {
		sv := &Service{Service: d.Services[i]}
		sv.Tenant = s.tenants[sv.TenantID]
		if opts.Upstreams != nil {
			sv.Upstream = opts.Upstreams.For(sv.Service)
		}
		s.services[sv.ID] = sv
	}
	for _, sv := range s.services {
		if sv.Lifecycle == domain.LifecycleDeprecated {
			if sv.DeprecatedAt != nil {
				sv.Deprecation = []string{"@" + strconv.FormatInt(sv.DeprecatedAt.Unix(), 10)}
			}
			if sv.Sunset != nil {
				sv.SunsetHeader = []string{sv.Sunset.UTC().Format(http.TimeFormat)}
			}
		}
		sv.SuccessorService = s.services[sv.Successor]
	}
	if opts.Upstreams != nil {
		ids := make([]string, 0, len(s.services))
		for id := range s.services {
			ids = append(ids, id)
		}
		opts.Upstreams.Retain(ids...)
	}
	routes := make([]*Route, 0, len(d.Routes))
	for i := range d.Routes {
		r := &Route{Route: d.Routes[i]}
		r.Service = s.services[r.ServiceID]
		if r.Service == nil {
			return nil, fmt.Errorf("snapshot: route %s refers to missing service %s", r.ID, r.ServiceID)
		}
		compileRoute(r)
		routes = append(routes, r)
	}
	// Creation order decides between routes declaring the same prefix.
	sort.SliceStable(routes, func(i, j int) bool { return routes[i].CreatedAt.Before(routes[j].CreatedAt) })
	s.routes = routes
	s.routeByID = make(map[string]*Route, len(routes))
	for _, r := range routes {
		s.routeByID[r.ID] = r
	}
	for _, r := range routes {
		for _, p := range r.Paths {
			p = normalisePrefix(p)
			if len(r.Hosts) == 0 {
				s.anyHost[p] = append(s.anyHost[p], r)
				continue
			}
			for _, h := range r.Hosts {
				h = strings.ToLower(h)
				t := s.byHost[h]
				if t == nil {
					t = pathTable{}
					s.byHost[h] = t
				}
				t[p] = append(t[p], r)
			}
		}
	}
	if opts.Extend != nil {
		if err := opts.Extend(s, d); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func compileRoute(r *Route) {
	r.Minimal = r.Disclosure == domain.DisclosureMinimal
	// AI and prompt routes answer OpenAI SDKs: their errors take the
	// OpenAI shape unless the route says otherwise.
	r.OpenAI = r.ErrorFormat == domain.ErrorFormatOpenAI ||
		(r.ErrorFormat == "" && (r.Type == "ai" || r.Type == "prompt"))
	r.Accepts = r.Auth
	if len(r.Accepts) == 0 {
		r.Accepts = []string{domain.AuthAPIKey}
	}
	if len(r.Methods) > 0 {
		r.methods = make(map[string]bool, len(r.Methods))
		for _, m := range r.Methods {
			r.methods[strings.ToUpper(m)] = true
		}
	}
	r.AcceptsText = DescribeAccepts(r.Accepts, r.QueryKey)
	name := r.Name
	if name == "" {
		name = r.ID
	}
	if rl := r.RateLimit; rl != nil && rl.Limit > 0 && rl.Period > 0 {
		r.LimitBy = rl.By
		if r.LimitBy == "" {
			r.LimitBy = "consumer"
		}
		// Prepared: the RateLimit-Policy value is rendered here, once per
		// snapshot, not on every limited request.
		l := ratelimit.Limit{Limit: rl.Limit, Period: rl.Period.D(), Name: "route"}.Prepared()
		r.Limit = &l
		r.LimitText = fmt.Sprintf("%d requests per %s per %s", rl.Limit, rl.Period.D(), r.LimitBy)
	}
	r.CORSPolicy = compileCORS(r.Route.CORS, r.Methods, r.Accepts)
	r.Label = fmt.Sprintf("route %s (%s) → service %s", name, strings.Join(r.Paths, ", "), r.Service.Name)
}

// parsePrefixes parses CIDRs or single addresses.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("ip allow-list entry %q is neither a CIDR nor an address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// DescribeAccepts names, for a caller, each accepted credential type and
// where it goes (the detail of auth.missing, auth.scheme_unsupported and
// auth.method_not_allowed). Each type is named for what the caller must
// get, not only where it goes: "a bearer token" would not tell a caller
// holding an API key (also a bearer) that the route wants a JWT. A JWT and
// an opaque access token share one phrase, as they share the header.
func DescribeAccepts(methods []string, queryKey bool) string {
	var parts []string
	bearer := false // the JWT / opaque-token phrase is written
	for _, a := range methods {
		switch a {
		case domain.AuthAPIKey:
			p := "an API key in 'Authorization: Bearer gk_…', 'Authorization: ApiKey gk_…' or 'X-API-Key: gk_…'"
			if queryKey {
				p += " or '?api_key=gk_…'"
			}
			parts = append(parts, p)
		case domain.AuthJWT, domain.AuthIntrospection:
			if bearer {
				continue
			}
			bearer = true
			jwt, opaque := slices.Contains(methods, domain.AuthJWT), slices.Contains(methods, domain.AuthIntrospection)
			switch {
			case jwt && opaque:
				parts = append(parts, "a JWT or an opaque OAuth access token in 'Authorization: Bearer …'")
			case jwt:
				parts = append(parts, "a JWT in 'Authorization: Bearer …'")
			default:
				parts = append(parts, "an opaque OAuth access token in 'Authorization: Bearer …'")
			}
		case domain.AuthHTTPSignature:
			parts = append(parts, "an RFC 9421 signature (Signature-Input and Signature headers)")
		case domain.AuthMTLS:
			parts = append(parts, "a client certificate")
		case domain.AuthBasic:
			parts = append(parts, "a user name and password in 'Authorization: Basic …'")
		}
	}
	return strings.Join(parts, "; or ")
}

// normalisePrefix drops a trailing slash so that "/v1/orders/" and
// "/v1/orders" declare the same prefix; "/" stays.
func normalisePrefix(p string) string {
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		return strings.TrimRight(p, "/")
	}
	if p == "" {
		return "/"
	}
	return p
}

// Match finds the route for a request. The longest declared path prefix
// (on '/' boundaries) of the request's host, then of any host, decides;
// among its routes, the first that allows the method wins. When a prefix
// matches but no route there allows the method, Match returns the allowed
// methods (for method.not_allowed's Allow header) and a nil route.
func (s *Snapshot) Match(host, path, method string) (r *Route, allow []string) {
	if len(s.byHost) > 0 {
		if t, ok := s.byHost[hostOnly(host)]; ok {
			if r, allow = t.match(path, method); r != nil || allow != nil {
				return r, allow
			}
		}
	}
	return s.anyHost.match(path, method)
}

// PathRoute is the first route serving path on host whatever the method:
// the route whose CORS policy a 405 answer to a page still carries.
func (s *Snapshot) PathRoute(host, path string) *Route {
	if len(s.byHost) > 0 {
		if t, ok := s.byHost[hostOnly(host)]; ok {
			if rs := t.routes(path); len(rs) > 0 {
				return rs[0]
			}
		}
	}
	if rs := s.anyHost.routes(path); len(rs) > 0 {
		return rs[0]
	}
	return nil
}

// routes is the longest path prefix's routes (nil: none).
func (t pathTable) routes(path string) []*Route {
	if len(t) == 0 {
		return nil
	}
	p := path
	if p == "" {
		p = "/"
	}
	for {
		if rs, ok := t[p]; ok {
			return rs
		}
		if p == "/" {
			return nil
		}
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

func (t pathTable) match(path, method string) (*Route, []string) {
	if len(t) == 0 {
		return nil, nil
	}
	p := path
	if p == "" {
		p = "/"
	}
	for {
		if rs, ok := t[p]; ok {
			for _, r := range rs {
				if r.AllowsMethod(method) {
					return r, nil
				}
			}
			var allow []string
			for _, r := range rs {
				allow = append(allow, r.Methods...)
			}
			return nil, allow
		}
		if p == "/" {
			return nil, nil
		}
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

// hostOnly lower-cases host and drops a port, without allocating when the
// host is already lower case.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// SetExt attaches a compiled extension; only during Build (Options.Extend).
func (s *Snapshot) SetExt(name string, v any) {
	if s.ext == nil {
		s.ext = map[string]any{}
	}
	s.ext[name] = v
}

// Ext returns an extension attached at build time, or nil.
func (s *Snapshot) Ext(name string) any { return s.ext[name] }

// subKey indexes subscriptions; a struct of strings is looked up without
// allocating, unlike a concatenated key.
type subKey struct{ consumer, service string }

// Subscription returns the current subscription of a consumer to a
// service (the open one, else the latest closed one), or nil.
func (s *Snapshot) Subscription(consumerID, serviceID string) *domain.Subscription {
	return s.subs[subKey{consumerID, serviceID}]
}

// SubscriptionsOf returns a consumer's current subscriptions (one per
// service), ordered by service id. It walks every subscription: for
// whoami, not the request path.
func (s *Snapshot) SubscriptionsOf(consumerID string) []*domain.Subscription {
	var out []*domain.Subscription
	for k, sub := range s.subs {
		if k.consumer == consumerID {
			out = append(out, sub)
		}
	}
	slices.SortFunc(out, func(a, b *domain.Subscription) int { return strings.Compare(a.ServiceID, b.ServiceID) })
	return out
}

// Approvers names who can decide subscription requests for a tenant's
// services: its tenant-admins, then the gateway admins.
func (s *Snapshot) Approvers(tenantID string) []string {
	out := append([]string(nil), s.approvers[tenantID]...)
	return append(out, s.approvers[""]...)
}

// Consumer returns the consumer with id, or nil.
func (s *Snapshot) Consumer(id string) *Consumer { return s.consumers[id] }

// Tenant returns the tenant with id, or nil.
func (s *Snapshot) Tenant(id string) *Tenant { return s.tenants[id] }

// Service returns the service with id, or nil.
func (s *Snapshot) Service(id string) *Service { return s.services[id] }

// Services returns every service (in no particular order).
func (s *Snapshot) Services() []*Service {
	out := make([]*Service, 0, len(s.services))
	for _, sv := range s.services {
		out = append(out, sv)
	}
	return out
}

// Routes returns every route, in creation order.
func (s *Snapshot) Routes() []*Route { return s.routes }

// Route returns the route with id, or nil.
func (s *Snapshot) Route(id string) *Route { return s.routeByID[id] }

// Counts summarises the snapshot for status pages.
func (s *Snapshot) Counts() map[string]int {
	return map[string]int{"tenants": len(s.tenants), "consumers": len(s.consumers), "keys": s.keys.count(),
		"services": len(s.services), "routes": len(s.routes)}
}

// Holder publishes the current snapshot; readers never block.
type Holder struct{ p atomic.Pointer[Snapshot] }

// Load returns the current snapshot (nil before the first Store).
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Store publishes s.
func (h *Holder) Store(s *Snapshot) { h.p.Store(s) }
