// Package pipeline is THE request path (§4): route → extract → verify →
// identify → authorize → limit → forward. It is the only place that
// sequences the stages, the only place that renders a rejection, and the
// only place that hands call records to the call log. Each stage appends
// its checks to the decision trace.
//
// The pipeline reads only the current snapshot: no store query, no global
// lock. Per-request scratch state comes from a sync.Pool.
package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/jwt"
	"gatehouse/internal/domain"
	"gatehouse/internal/identity"
	"gatehouse/internal/keys"
	"gatehouse/internal/policy"
	"gatehouse/internal/proxy"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/reason"
	"gatehouse/internal/reqid"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
	"gatehouse/internal/tracing"
)

// Recorder receives one call record per request; it must never block and
// must copy the record (the pipeline reuses it).
type Recorder interface {
	Record(c *domain.Call) bool
}

// Options configure a Pipeline.
type Options struct {
	Snapshots *snapshot.Holder
	// Verifiers, one per credential type; the route's auth list picks.
	Verifiers []credential.Verifier
	Forwarder proxy.Forwarder
	Calls     Recorder
	// Quotas counts route and plan quotas (§9) per calendar day or month
	// (memory, or Redis in cluster mode); nil turns quotas off.
	Quotas Counter
	// Limiter counts rate limits (memory, or Redis in cluster mode); nil
	// turns the limit stage off.
	Limiter ratelimit.Limiter
	Clock   clock.Clock
	// Environment this gateway serves (live or test).
	Environment string
	// PublicURL is the base of error-page links; empty: from the request.
	PublicURL     string
	ExpiryWarning time.Duration
	// StoreUnreachable, when set, reports whether the store has stopped
	// answering this node, and since when (cluster mode: the change
	// follower's view). A credential missing from the snapshot may then
	// have been created on another node meanwhile: the gateway cannot
	// tell, and the fault is its own (§5: auth.backend_unavailable, not
	// key.unknown). Called only for such misses, never per request.
	StoreUnreachable func() (since time.Time, down bool)
	// TrustedProxies: X-Forwarded-For is believed only from these.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	// RouteHandlers serve routes of types other than "proxy" ("ai",
	// "prompt") once the request is admitted, instead of the Forwarder.
	RouteHandlers map[string]RouteHandler
	// Tracer exports a span per request and propagates W3C trace context
	// upstream; nil (off) costs nothing.
	Tracer *tracing.Tracer
	// Identity signs X-Gatehouse-Identity for services with identity_jwt
	// enabled and serves the JWKS at /.well-known/gatehouse/jwks.json; nil:
	// such services answer gateway.internal (they are never forwarded
	// without the token they ask for) and the JWKS path is not found.
	Identity *identity.Signer
}

// RouteHandler serves an admitted request on a route of its type. It
// writes the whole answer (its own errors included, in its own shape),
// fills the call record's status, code and type-specific fields, records
// its steps in the decision trace and reports a rejection or failure in
// RouteCall.Rejected — so such a call keeps its trace and gets the same
// log line as any rejection: no route type's refusal is a mystery.
type RouteHandler interface {
	ServeRoute(w http.ResponseWriter, r *http.Request, rc *RouteCall)
}

// RouteCall is what a RouteHandler knows of the admitted request, and
// what it reports back.
type RouteCall struct {
	Route    *snapshot.Route
	Identity *credential.Identity
	Snap     *snapshot.Snapshot
	Call     *domain.Call
	// Trace is the request's decision trace; the handler adds its steps
	// under StageLimit and StageForward.
	Trace *trace.Trace
	// Rejected is set by the handler to the rejection or failure it
	// answered (nil: it served the call).
	Rejected *reason.Error
}

// The stages a RouteHandler records its steps under (§4: 6 and 7).
const (
	StageLimit   = stLimit
	StageForward = stForward
)

// Pipeline is the proxy listener's http.Handler.
type Pipeline struct {
	o         Options
	verifiers map[string]credential.Verifier
	// methods and acceptsText describe every registered credential type,
	// for whoami without a route.
	methods     []string
	acceptsText string
	detectors   map[string]credential.Detector
	pool        sync.Pool
	pages       *pages
}

// New returns a pipeline.
func New(o Options) *Pipeline {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	p := &Pipeline{o: o, verifiers: map[string]credential.Verifier{}, pages: newPages()}
	for _, v := range o.Verifiers {
		p.verifiers[v.Method()] = v
		p.methods = append(p.methods, v.Method())
		if d, ok := v.(credential.Detector); ok {
			if p.detectors == nil {
				p.detectors = map[string]credential.Detector{}
			}
			p.detectors[v.Method()] = d
		}
	}
	p.acceptsText = snapshot.DescribeAccepts(p.methods, false)
	p.pool.New = func() any { return new(state) }
	return p
}

// state is one request's scratch space, pooled.
type state struct {
	trace trace.Trace
	in    credential.Input
	id    credential.Identity
	pin   policy.Input
	out   proxy.Outbound
	sub   identity.Subject
	call  domain.Call
	span  *tracing.Span
	// dryMethod and dryPath are what whoami evaluates (the request is
	// whoami's own); "" on a real request (whoami clears them before the
	// state goes back to the pool).
	dryMethod, dryPath string
	// limitKey outlives the request (it is not reset): the next request
	// this state serves reuses the key when its parts are the same.
	limitKey limitKey
}

// limitKey is the last route rate-limit key a pooled state built: "rl:",
// the route ID, the kind (":k:" credential, ":c:" consumer, "" the route)
// and the ID. A client repeating its calls gets the same key back
// instead of a new string per request.
type limitKey struct{ route, kind, id, key string }

func (k *limitKey) get(route, kind, id string) string {
	if k.key == "" || k.route != route || k.kind != kind || k.id != id {
		*k = limitKey{route: route, kind: kind, id: id, key: "rl:" + route + kind + id}
	}
	return k.key
}

// statusClientClosed is the status recorded for a call whose client went
// away before any response was written: nginx's 499 "client closed
// request", as the AI routes record it (ai.StatusClientClosed). It is
// never sent: there is nobody to send it to.
const statusClientClosed = 499

// checkDisclosure is the operator-only trace step of a rejection on a
// route with minimal disclosure (explain reads it).
const checkDisclosure = "disclosure"

// Stage names, as they appear in traces.
const (
	stListener  = "listener" // the request was refused before routing
	stRoute     = "route"
	stExtract   = "extract"
	stVerify    = "verify"
	stIdentify  = "identify"
	stLimit     = "limit"
	stForward   = "forward"
	wellKnownGH = "/.well-known/gatehouse/"
)

// unreached completes a rejected call's trace with a skip step for every
// stage of §4 after the one that rejected it: §6 asks for a step of every
// stage, and "not reached" tells the operator the request never got there
// (rather than leaving them to wonder whether the stage passed).
func unreached(t *trace.Trace) {
	order := [...]string{stRoute, stExtract, stVerify, stIdentify, "authorize", stLimit, stForward}
	i := slices.Index(order[:], t.LastStage())
	if i < 0 {
		return // a listener refusal: none of the stages ran
	}
	for _, s := range order[i+1:] {
		t.Skip(s, "-", "not reached")
	}
}

// ServeHTTP runs the pipeline for one request.
func (p *Pipeline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.o.Clock.Now()
	id := reqid.New(start)
	w.Header()["X-Request-Id"] = []string{id}
	if strings.HasPrefix(r.URL.Path, wellKnownGH) {
		p.wellKnown(w, r, id)
		return
	}
	st := p.pool.Get().(*state)
	defer func() {
		st.trace.Reset()
		st.in = credential.Input{}
		st.id = credential.Identity{}
		st.pin = policy.Input{}
		st.out = proxy.Outbound{}
		st.sub = identity.Subject{}
		st.call = domain.Call{}
		st.span = nil
		p.pool.Put(st)
	}()

	_, st.span = p.o.Tracer.Start(r)
	// The record lives in the pooled state: the call log copies it.
	call := &st.call
	*call = domain.Call{RequestID: id, Time: start, Method: r.Method, Path: r.URL.Path,
		UserAgent: r.UserAgent(), BytesIn: max(r.ContentLength, 0)}
	ip, ipSource := p.clientIP(r)
	if ip.IsValid() {
		call.ClientIP = ipString(ip, ipSource, r.RemoteAddr)
	}
	route, rerr, aborted := p.serve(w, r, st, call, ip, ipSource)
	if rerr != nil {
		p.reject(w, r, route, id, rerr, call)
	}
	call.LatencyMicros = p.o.Clock.Now().Sub(start).Microseconds()
	// A code marks a rejection or failure wherever it was decided (a
	// route handler's included, and a stream that failed after 200).
	if rerr != nil || call.Status >= 500 || call.Code != "" || aborted {
		if rerr != nil || call.Code != "" {
			unreached(&st.trace)
		}
		if rerr != nil && route != nil && route.Minimal {
			// For explain: what the caller saw is not the code above.
			st.trace.Private(stRoute, checkDisclosure, domain.OutcomeSkip, "this route's disclosure is minimal: the caller was told only the code family '"+
				reason.Family(rerr.Code)+"' and its title, not the code, detail or hint")
		}
		call.Trace = st.trace.Steps()
	}
	if p.o.Calls != nil {
		p.o.Calls.Record(call)
	}
	st.span.End(call)
	if aborted {
		// The response started and then failed: abort the connection so
		// the client sees the truncation instead of a clean end (the
		// documented way to do so in net/http). Or the client went away
		// before it started: there is nobody to answer, and a listener
		// must not write a response of its own.
		panic(http.ErrAbortHandler)
	}
}

// serve runs the stages; it returns the matched route (nil if none) and
// the rejection, or nil after forwarding.
// aborted is true when the upstream response started and then failed, or
// when the client went away before it started (proxy.ErrClientGone).
func (p *Pipeline) serve(w http.ResponseWriter, r *http.Request, st *state, call *domain.Call, ip netip.Addr, ipSource string) (_ *snapshot.Route, _ *reason.Error, aborted bool) {
	t := &st.trace
	snap := p.o.Snapshots.Load()
	if snap == nil {
		t.Fail(stRoute, "snapshot", "no snapshot loaded yet")
		return nil, &reason.Error{Code: reason.AuthBackendUnavailable, Detail: "The gateway is starting and has not loaded its configuration yet.", RetryAfter: 1}, false
	}

	// 1. route. A CORS preflight is matched with the method it asks
	// about: it is answered for the route the actual request will take.
	method := r.Method
	reqMethod, preflight := preflightMethod(r)
	if preflight {
		method = reqMethod
	}
	// A path the gateway matches as one path may be read by the upstream
	// as another (see otherReading). Dot-segments in that reading are
	// refused: "/pub/%2e%2e/secret", "/pub/..;/secret" (Tomcat, Jetty,
	// Spring) or "/pub\..\secret" (IIS) would pass /pub's checks and
	// reach /secret, or leave an upstream_path. Anything else in it is
	// refused only when it matches another route than the path does: an
	// encoded slash (a URL as a segment), a matrix parameter or a
	// backslash in a name that stays within its route passes. A plain
	// path computes no other reading and allocates nothing.
	other, hasOther := otherReading(r)
	if hasOther && hasDotSegment(other) {
		return nil, ambiguousPath(r, other, t), false
	}
	route, allow := snap.Match(r.Host, r.URL.Path, method)
	if hasOther && route != nil {
		if merged, _ := snap.Match(r.Host, other, method); merged != route {
			return nil, ambiguousPath(r, other, t), false
		}
	}
	if route == nil {
		if allow != nil {
			// A page on an allowed origin must be able to read the 405
			// too: the path's route lends its CORS policy.
			if pr := snap.PathRoute(r.Host, r.URL.Path); pr != nil && pr.CORSPolicy != nil && !preflight {
				if rerr := corsActual(w.Header(), r, pr.CORSPolicy, t); rerr != nil {
					call.RouteID, call.ServiceID, call.TenantID = pr.ID, pr.ServiceID, pr.Service.TenantID
					return pr, rerr, false
				}
			}
			a := strings.Join(allow, ", ")
			t.Fail(stRoute, "method", method+" is not allowed here; allowed: "+a)
			return nil, &reason.Error{Code: reason.MethodNotAllowed, Allow: a,
				Detail: "This path accepts " + a + ", not " + method + "."}, false
		}
		t.Fail(stRoute, "match", "no route for host "+r.Host+" and path "+r.URL.Path)
		return nil, &reason.Error{Code: reason.RouteNotFound,
			Detail: "No route matches " + method + " " + r.URL.Path + " on this gateway."}, false
	}
	call.RouteID, call.ServiceID, call.TenantID = route.ID, route.ServiceID, route.Service.TenantID
	t.Pass(stRoute, "match", route.Label)
	if preflight {
		return route, p.preflight(w, r, route, method, call, t), false
	}
	if route.CORSPolicy != nil {
		if rerr := corsActual(w.Header(), r, route.CORSPolicy, t); rerr != nil {
			return route, rerr, false
		}
	}
	if route.MaxBody > 0 && r.ContentLength > route.MaxBody {
		d := "The body is " + itoa(r.ContentLength) + " bytes; this route accepts at most " + itoa(route.MaxBody) + "."
		t.Fail(stRoute, "max_body", d)
		return route, &reason.Error{Code: reason.RequestTooLarge, Detail: d}, false
	}

	// 2.–5. extract, verify, identify, authorize
	pres, rerr := p.admit(r, st, snap, route, call, ip, ipSource)
	if rerr != nil {
		return route, rerr, false
	}
	id := &st.id
	if sv := route.Service; sv.Deprecation != nil || sv.SunsetHeader != nil {
		// §2: a deprecated service answers with Deprecation (RFC 9745)
		// and Sunset (RFC 8594) — once the caller is admitted: before, it
		// learns nothing of the service (§5). The values are the
		// snapshot's, shared and never written to.
		h := w.Header()
		if sv.Deprecation != nil {
			h["Deprecation"] = sv.Deprecation
		}
		if sv.SunsetHeader != nil {
			h["Sunset"] = sv.SunsetHeader
		}
	}

	// 6. limit
	if rerr := p.limit(r, w.Header(), route, id, st.pin.Subscription, call.Time, t, &st.limitKey); rerr != nil {
		return route, rerr, false
	}
	counted, rerr := p.quotas(r, route, id, st.pin.Subscription, call.Time, t)
	if rerr != nil {
		return route, rerr, false
	}

	// 7. forward (or a route type's own handler)
	//
	// The credential's notices (spec §3) go on every answer the key gets,
	// whoever produces it: set before Forward, and still the only ones the
	// client sees — both engines drop an upstream's Gatehouse-* fields
	// (and its RateLimit fields when limit set the gateway's) instead of
	// letting them replace or join these (proxy's response header rule,
	// headers.go); a route type's handler (AI, prompt) answers itself.
	h := w.Header()
	if id.RotatedHeader != "" {
		h["Gatehouse-Credential-Rotated"] = []string{id.RotatedHeader}
	}
	if id.ExpiresHeader != "" {
		h["Gatehouse-Credential-Expires"] = []string{id.ExpiresHeader}
	}
	if rh := p.o.RouteHandlers[route.Type]; rh != nil && route.Type != "" && route.Type != "proxy" {
		rc := RouteCall{Route: route, Identity: id, Snap: snap, Call: call, Trace: t}
		rh.ServeRoute(w, r, &rc)
		if e := rc.Rejected; e != nil {
			if e.Entry().Status < 500 && !forwarded(call) {
				// The handler refused the call itself (an unknown model, a
				// budget used up, a body it cannot read): as a quota's own
				// refusal, it counts against no quota. A call a provider
				// answered — its failure (5xx) or its own refusal (a 400
				// passed on) — was forwarded, as a proxy route's, and counts.
				counted.undo(p, r, call.Time)
			}
			p.logRejected(r, call, e)
		} else {
			t.Pass(stForward, route.Type, "served by the "+route.Type+" handler")
		}
		return route, nil, false
	}
	if route.MaxBody > 0 && r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, route.MaxBody)
	}
	st.out = proxy.Outbound{
		Upstream: route.Service.Upstream,
		Path:     upstreamPath(route, r),
		RawQuery: stripQueryKey(r.URL.RawQuery, pres.Source == authheader.SourceQuery),
		Identity: proxy.Identity{
			Tenant:     id.Consumer.Tenant.Slug,
			Consumer:   id.Consumer.Name,
			Credential: id.CredentialID,
			Scopes:     id.ScopeHeader,
			RequestID:  call.RequestID,
		},
		ClientIP: call.ClientIP,
		OwnCORS:  route.CORSPolicy != nil,
	}
	if !route.ForwardCredential {
		st.out.DropHeaders = credentialHeaders
	}
	if ij := route.Service.IdentityJWT; ij != nil && ij.Enabled {
		if st.out.Identity.Token, rerr = p.identityToken(st, route.Service, id, call); rerr != nil {
			return route, rerr, false
		}
	}
	st.out.Traceparent, st.out.Tracestate = st.span.Traceparent()
	res, err := p.o.Forwarder.Forward(w, r, &st.out)
	call.Status = res.Status
	call.BytesOut = res.BytesOut
	if res.BytesIn > 0 {
		call.BytesIn = res.BytesIn
	}
	call.UpstreamMicros = res.Upstream.Microseconds()
	call.Engine = res.Engine
	if err != nil {
		if errors.Is(err, proxy.ErrClientGone) {
			// Nobody is left to answer, and it is neither the service's
			// failure nor a rejection: no code (the metrics' upstream
			// errors must not count abandoned uploads), the status says
			// the client closed the request, and the connection is
			// aborted instead of answered.
			call.Status = statusClientClosed
			t.Fail(stForward, "client", err.Error())
			return route, nil, true
		}
		if re, ok := err.(*reason.Error); ok {
			check := "upstream"
			if re.Code == reason.RequestMalformed || re.Code == reason.RequestTooLarge || re.Code == reason.RequestReadTimeout {
				// The client's body failed, not the upstream: the trace
				// must not send the operator after the service.
				check = "request body"
			}
			forwardFailed(t, check, re)
			return route, re, false
		}
		re := &reason.Error{Code: reason.UpstreamUnavailable, Debug: err.Error(), Err: err}
		forwardFailed(t, "upstream", re)
		return route, re, false
	}
	if res.Err != nil {
		// The client saw the connection cut, not the status the upstream
		// began with. The record says whose failure it was: the upstream's
		// (its code — upstream.timeout for a body that stalled), or
		// nobody's when the client left (no code: it is not the service's
		// fault, and the metrics' upstream errors must not count it).
		var re *reason.Error
		switch {
		case errors.As(res.Err, &re):
			call.Code = re.Code
		case errors.Is(res.Err, proxy.ErrClientWrite) || r.Context().Err() != nil:
			t.Fail(stForward, "client", "the client went away during the response: "+res.Err.Error())
			return route, nil, true
		default:
			call.Code = reason.UpstreamUnavailable
		}
		t.Fail(stForward, "upstream", "the service's response started, then failed")
		t.Private(stForward, "upstream", domain.OutcomeFail, res.Engine+" → "+res.Target+": response started, then failed: "+res.Err.Error())
		return route, nil, true
	}
	// The target is the operator's to know: a trace kept for the
	// service's own 5xx may otherwise be shared with the caller.
	t.PrivateJoin(stForward, "upstream", domain.OutcomePass, res.Engine, " → ", res.Target)
	return route, nil, false
}

// forwardFailed records a forward failure: what the caller was told, and
// the operator's detail (service, target, cause) apart.
func forwardFailed(t *trace.Trace, check string, re *reason.Error) {
	told := re.Detail
	if told == "" {
		told = re.Entry().Meaning
	}
	t.Fail(stForward, check, told)
	if re.Debug != "" {
		t.Private(stForward, check, domain.OutcomeFail, re.Debug)
	}
}

// identityToken is the X-Gatehouse-Identity value for an admitted request
// to svc, from the signer's cache (no signing, no allocation) unless the
// caller's token is new or half its lifetime old. A service that asks for
// the token is never forwarded without it: the upstream may rely on it.
func (p *Pipeline) identityToken(st *state, svc *snapshot.Service, id *credential.Identity, call *domain.Call) (string, *reason.Error) {
	t := &st.trace
	if p.o.Identity == nil {
		t.Fail(stForward, "identity", "the service asks for X-Gatehouse-Identity but this gateway has no identity signer")
		return "", &reason.Error{Code: reason.GatewayInternal,
			Debug: "service " + svc.Name + " has identity_jwt enabled, but the pipeline was built without an identity signer"}
	}
	ij := svc.IdentityJWT
	st.sub = identity.Subject{ServiceID: svc.ID, Audience: ij.Audience, TTL: ij.TTL.D(),
		TenantID: id.Consumer.TenantID, Tenant: id.Consumer.Tenant.Slug, ConsumerID: id.Consumer.ID, Consumer: id.Consumer.Name,
		CredentialID: id.CredentialID, CredentialType: call.CredentialType, Scopes: id.ScopeHeader}
	if st.sub.Audience == "" {
		st.sub.Audience = svc.Name
	}
	tok, err := p.o.Identity.Token(&st.sub, call.Time)
	if err != nil {
		t.Fail(stForward, "identity", "the identity token could not be signed: "+err.Error())
		return "", &reason.Error{Code: reason.GatewayInternal, Err: err,
			Debug: "service " + svc.Name + " has identity_jwt enabled and the token could not be signed: " + err.Error()}
	}
	t.Pass(stForward, "identity", "signed identity token attached (X-Gatehouse-Identity)")
	return tok, nil
}

// admit runs the stages that decide who is calling and whether they may
// call route: extract → verify → identify → authorize. The real request
// path and the whoami dry run share it, so they cannot disagree.
func (p *Pipeline) admit(r *http.Request, st *state, snap *snapshot.Snapshot, route *snapshot.Route, call *domain.Call, ip netip.Addr, ipSource string) (authheader.Credential, *reason.Error) {
	pres, rerr := p.authenticate(r, st, snap, route, call, ip)
	if rerr != nil {
		return pres, rerr
	}
	// 5. authorize
	method, path := r.Method, r.URL.Path
	if st.dryPath != "" {
		method, path = st.dryMethod, st.dryPath
	}
	st.pin = policy.Input{Snap: snap, Route: route, Identity: &st.id, ClientIP: ip, IPSource: ipSource, Header: r.Header,
		Method: method, Path: path, Trace: &st.trace}
	if rerr := policy.Authorize(&st.pin); rerr != nil {
		return pres, rerr
	}
	return pres, nil
}

// authenticate runs extract → verify → identify. With a nil route (whoami
// without a path) every registered credential type is accepted. ip is the
// resolved client address, which verifiers that count failures per client
// use.
func (p *Pipeline) authenticate(r *http.Request, st *state, snap *snapshot.Snapshot, route *snapshot.Route, call *domain.Call, ip netip.Addr) (authheader.Credential, *reason.Error) {
	t := &st.trace
	accepts := p.acceptsText
	queryKey := false
	if route != nil {
		accepts, queryKey = route.AcceptsText, route.QueryKey
	}
	// 2. extract
	pres, rerr := authheader.FromRequest(r.Header, r.URL.RawQuery, queryKey)
	if rerr != nil {
		if rerr.Code == reason.AuthSchemeUnsupported {
			e := *rerr
			e.Detail += "; this route accepts " + accepts + "."
			rerr = &e
		}
		t.Fail(stExtract, "credential", rerr.Detail)
		return pres, rerr
	}
	if det, ok := p.detect(r, route); ok {
		if pres.Kind != authheader.None {
			e := &reason.Error{Code: reason.AuthAmbiguous,
				Detail: "The request carries both " + det.Scheme + " and a credential in " + pres.Source + "; send one only."}
			t.Fail(stExtract, "credential", e.Detail)
			return pres, e
		}
		pres = det
	}
	if pres.Kind == authheader.None && !queryKey && authheader.QueryKeyPresent(r.URL.RawQuery) {
		d := "The key was sent in the URL (?api_key=), which this route does not read: URLs end up in logs and browser history. Send it as 'Authorization: Bearer gk_…' or 'X-API-Key: gk_…'."
		t.Fail(stExtract, "credential", d)
		return pres, &reason.Error{Code: reason.AuthMissing, Detail: d}
	}
	v, rerr := p.pick(route, pres)
	if rerr != nil {
		t.Fail(stExtract, "credential", rerr.Detail)
		return pres, rerr
	}
	t.PassJoin(stExtract, "credential", v.Method(), " from ", pres.Source)
	call.CredentialType = v.Method()

	// 3. verify
	st.in = credential.Input{Request: r, Snap: snap, Presented: pres, ClientIP: ip, Env: p.o.Environment, Now: call.Time,
		ExpiryWarning: p.o.ExpiryWarning, Trace: t}
	st.id, rerr = v.Verify(&st.in)
	if rerr != nil {
		if rerr.Code == reason.KeyUnknown || (rerr.Code == reason.SigInvalid && !rerr.Possession) {
			rerr = p.staleMiss(rerr, snap, t)
		}
		call.CredentialID = rerr.CredentialID
		if rerr.Possession {
			// A lifecycle refusal (revoked, expired, rotated) after proof:
			// the record names the owner, so its tenant sees the call.
			if k := snap.Key(rerr.CredentialID); k != nil {
				call.ConsumerID, call.TenantID = k.ConsumerID, k.Consumer.TenantID
			}
		}
		return pres, rerr
	}
	id := &st.id
	call.CredentialID = id.CredentialID
	call.ConsumerID = id.Consumer.ID
	call.TenantID = id.Consumer.TenantID

	// 4. identify
	if rerr := identify(id, t); rerr != nil {
		return pres, rerr
	}
	return pres, nil
}

// staleMiss turns a credential the snapshot does not hold into the
// gateway's own failure while the store is unreachable (StoreUnreachable):
// the snapshot stopped following the other nodes' changes then, and the
// credential may have been created since. Otherwise miss stands.
func (p *Pipeline) staleMiss(miss *reason.Error, snap *snapshot.Snapshot, t *trace.Trace) *reason.Error {
	if p.o.StoreUnreachable == nil {
		return miss
	}
	since, down := p.o.StoreUnreachable()
	if !down {
		return miss
	}
	d := "This credential is not in the gateway's copy of its configuration, which it cannot refresh right now " +
		"(its store is unreachable since " + since.UTC().Format(time.RFC3339) + "): a credential created since then " +
		"is not known here yet. Retry shortly; if it persists, ask the gateway's operator."
	t.Fail(stVerify, "snapshot", d)
	t.Private(stVerify, "snapshot", domain.OutcomeFail, "snapshot version "+itoa(snap.Version)+" built at "+
		snap.BuiltAt.UTC().Format(time.RFC3339)+"; without the store, "+miss.Code+" cannot be told from a credential created on another node")
	// The credential id stays as private as the miss had it: a signature's
	// keyid that exists must not show, here either (§5).
	return &reason.Error{Code: reason.AuthBackendUnavailable, Detail: d, RetryAfter: 5, CredentialID: miss.CredentialID, PrivateID: miss.PrivateID,
		Debug: "store unreachable: " + miss.Code + " not trusted from a stale snapshot", Err: miss}
}

// limit applies the route's rate limit, keyed by consumer, credential or
// route, and sets the RateLimit headers.
func (p *Pipeline) limit(r *http.Request, h http.Header, route *snapshot.Route, id *credential.Identity, sub *domain.Subscription, now time.Time, t *trace.Trace, lk *limitKey) *reason.Error {
	if p.o.Limiter != nil && sub != nil && sub.Plan != nil && sub.Plan.RateLimit != nil && sub.Plan.RateLimit.Limit > 0 {
		if rerr := p.planLimit(r, h, sub, id, now, t); rerr != nil {
			return rerr
		}
	}
	if route.Limit == nil || p.o.Limiter == nil {
		t.Skip(stLimit, "rate", "no route limit configured")
		return nil
	}
	var key string
	switch route.LimitBy {
	case "credential":
		key = lk.get(route.ID, ":k:", id.CredentialID)
	case "route":
		key = lk.get(route.ID, "", "")
	default:
		key = lk.get(route.ID, ":c:", id.Consumer.ID)
	}
	d, err := p.o.Limiter.Allow(r.Context(), key, *route.Limit, now)
	if err != nil {
		t.Fail(stLimit, "rate", "limit store unavailable and configured to fail closed: "+err.Error())
		return &reason.Error{Code: reason.AuthBackendUnavailable, RetryAfter: 1, CredentialID: id.CredentialID, Possession: true,
			Detail: "The gateway cannot check this route's rate limit right now; retry shortly.", Err: err}
	}
	ratelimit.Headers(h, d)
	if !d.Allowed {
		secs := int((d.RetryAfter + time.Second - 1) / time.Second)
		dt := "Rate limit of " + route.LimitText + " exceeded" + degradedShare(d, route.Limit.Limit) + "; retry in " + itoa(int64(secs)) + "s."
		t.Fail(stLimit, "rate", dt)
		return &reason.Error{Code: reason.RateExceeded, Detail: dt, RetryAfter: max(secs, 1), CredentialID: id.CredentialID}
	}
	if d.Degraded {
		t.Pass(stLimit, "rate", route.LimitText+": counted on this node only (shared counter store unavailable)")
	} else {
		t.Pass(stLimit, "rate", route.LimitText)
	}
	return nil
}

// degradedShare explains a refusal the per-node fallback made while the
// shared counter store (Redis) is unreachable: each node then admits its
// share of the configured limit, which the caller may meet well below it.
func degradedShare(d ratelimit.Decision, configured int) string {
	if !d.Degraded {
		return ""
	}
	if d.Limit.Limit > 0 && d.Limit.Limit < configured {
		return " (while the gateway's shared counter store is unreachable, this node admits its share of it: " +
			itoa(int64(d.Limit.Limit)) + " per " + d.Limit.Period.String() + ")"
	}
	return " (counted on this node only while the gateway's shared counter store is unreachable)"
}

// Counter counts calls per key over a window (ai.MemCounter and
// ai.RedisCounter are two): Add adds delta and returns the new count; the
// key may be forgotten ttl later.
type Counter interface {
	Add(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
}

// quotas applies the plan's quota and the route's (§9): one more call in
// the calendar period, refused with quota.exceeded (429, retry when the
// period ends) once the count passes the limit. Counted only for calls
// that passed every check before it, the rate limits included. A call a
// quota refuses is charged to none: the refusing quota's count is taken
// back, and so is the plan's when the route's quota refuses after it —
// refused calls never use up what a subscription pays for, and a limit
// raised later in the period is not eaten by calls it refused. It returns
// what it counted, for a route handler's own refusal to take back.
func (p *Pipeline) quotas(r *http.Request, route *snapshot.Route, id *credential.Identity, sub *domain.Subscription, now time.Time, t *trace.Trace) (counted quotaCounts, _ *reason.Error) {
	if p.o.Quotas == nil {
		return counted, nil
	}
	if sub != nil && sub.Plan != nil && sub.Plan.Quota != nil {
		ck, rerr := p.quota(r, "plan", "sub:"+sub.ID, sub.Plan.Quota, func() string { return "the plan of subscription " + sub.ID }, id, now, t)
		if rerr != nil {
			return counted, rerr
		}
		counted.plan, counted.planKey = sub.Plan.Quota, ck
	}
	if q := route.Quota; q != nil {
		// whose is said only when the quota refuses: no text per call.
		var key string
		var whose func() string
		switch q.By {
		case domain.LimitByCredential:
			key, whose = route.ID+":k:"+id.CredentialID, func() string { return "credential " + id.CredentialID }
		case domain.LimitByRoute:
			key, whose = route.ID, func() string { return "this route (all callers together)" }
		default:
			key, whose = route.ID+":c:"+id.Consumer.ID, func() string { return "application '" + id.Consumer.Name + "'" }
		}
		ck, rerr := p.quota(r, "route", key, q, whose, id, now, t)
		if rerr != nil {
			counted.undo(p, r, now)
			return quotaCounts{}, rerr
		}
		counted.route, counted.routeKey = q, ck
	}
	return counted, nil
}

// forwarded reports whether a route handler's call reached a provider
// (an AI call with attempts), so it counts even when it failed.
func forwarded(call *domain.Call) bool {
	return call.AI != nil && len(call.AI.Attempts) > 0
}

// quotaCounts is what quotas counted for one call: the plan's and the
// route's quota and their counter keys (a key empty when not counted).
type quotaCounts struct {
	plan, route       *domain.Quota
	planKey, routeKey string
}

// undo takes back the call's counts: it was refused after all.
func (c quotaCounts) undo(p *Pipeline, r *http.Request, now time.Time) {
	if c.planKey != "" {
		p.uncount(r, "plan", c.planKey, c.plan, now)
	}
	if c.routeKey != "" {
		p.uncount(r, "route", c.routeKey, c.route, now)
	}
}

// quota counts one call against q under key and refuses it past the limit.
// It returns the counter's key (empty when nothing was counted), for
// quotas to take the call back if a later quota refuses it.
func (p *Pipeline) quota(r *http.Request, name, key string, q *domain.Quota, whose func() string, id *credential.Identity, now time.Time, t *trace.Trace) (string, *reason.Error) {
	start, end := q.Window(now)
	ck := "q:" + key + ":" + strconv.FormatInt(start.Unix(), 10)
	n, err := p.o.Quotas.Add(r.Context(), ck, 1, end.Sub(now)+time.Minute)
	text := strconv.FormatInt(q.Limit, 10) + " calls per " + q.Period
	if err != nil {
		// As AI budgets: the counter failing admits the call, logged.
		p.o.Logger.Warn("quota counter failed: call admitted uncounted", "quota", name, "err", err)
		t.Pass(stLimit, "quota", text+": not counted (counter store unavailable)")
		return "", nil
	}
	if n > q.Limit {
		p.uncount(r, name, ck, q, now)
		secs := int(end.Sub(now).Seconds()) + 1
		dt := "The quota of " + whose() + " is " + text + " and it is used up; it resets at " + end.Format(time.RFC3339) + "."
		t.Fail(stLimit, "quota", dt)
		return "", &reason.Error{Code: reason.QuotaExceeded, Detail: dt, RetryAfter: secs, CredentialID: id.CredentialID, Possession: true,
			RateLimitPolicy: `"` + name + `-quota";q=` + strconv.FormatInt(q.Limit, 10) + ";w=" + strconv.FormatInt(int64(end.Sub(start)/time.Second), 10)}
	}
	t.Pass(stLimit, "quota", text+": "+strconv.FormatInt(n, 10)+" used")
	return ck, nil
}

// uncount takes back one call counted under the counter key ck: the call
// was refused after all. A failure is logged; the call then stays counted,
// the error on the side of the limit.
func (p *Pipeline) uncount(r *http.Request, name, ck string, q *domain.Quota, now time.Time) {
	_, end := q.Window(now)
	// Not cancelled with the request: a client that hangs up after its
	// refusal must not leave the call counted.
	if _, err := p.o.Quotas.Add(context.WithoutCancel(r.Context()), ck, -1, end.Sub(now)+time.Minute); err != nil {
		p.o.Logger.Warn("quota counter failed: a refused call stays counted", "quota", name, "err", err)
	}
}

// planLimit applies the rate limit of the subscription's plan, counted per
// subscription (one consumer, one service).
func (p *Pipeline) planLimit(r *http.Request, h http.Header, sub *domain.Subscription, id *credential.Identity, now time.Time, t *trace.Trace) *reason.Error {
	pl := sub.Plan.RateLimit
	l := ratelimit.Limit{Limit: pl.Limit, Period: pl.Period.D(), Name: "plan"}
	d, err := p.o.Limiter.Allow(r.Context(), "rl:sub:"+sub.ID, l, now)
	if err != nil {
		t.Fail(stLimit, "plan", "limit store unavailable and configured to fail closed: "+err.Error())
		return &reason.Error{Code: reason.AuthBackendUnavailable, RetryAfter: 1, CredentialID: id.CredentialID, Possession: true,
			Detail: "The gateway cannot check this subscription's rate limit right now; retry shortly.", Err: err}
	}
	ratelimit.Headers(h, d)
	text := itoa(int64(pl.Limit)) + " requests per " + pl.Period.D().String()
	if !d.Allowed {
		secs := int((d.RetryAfter + time.Second - 1) / time.Second)
		dt := "The plan of subscription " + sub.ID + " allows " + text + degradedShare(d, pl.Limit) + "; retry in " + itoa(int64(secs)) + "s."
		t.Fail(stLimit, "plan", dt)
		return &reason.Error{Code: reason.RateExceeded, Detail: dt, RetryAfter: max(secs, 1), CredentialID: id.CredentialID}
	}
	t.Pass(stLimit, "plan", "plan "+sub.Plan.Name+": "+text)
	return nil
}

var credentialHeaders = []string{"Authorization", "X-Api-Key"}

// detect asks the accepted verifiers that find credentials outside the
// Authorization value (signatures, certificates).
func (p *Pipeline) detect(r *http.Request, route *snapshot.Route) (authheader.Credential, bool) {
	if len(p.detectors) == 0 {
		return authheader.Credential{}, false
	}
	methods := p.methods
	if route != nil {
		methods = route.Accepts
	}
	for _, m := range methods {
		if d := p.detectors[m]; d != nil {
			if c, ok := d.Detect(r); ok {
				return c, true
			}
		}
	}
	return authheader.Credential{}, false
}

// pick chooses the verifier for what was presented, in the route's order.
func (p *Pipeline) pick(route *snapshot.Route, pres authheader.Credential) (credential.Verifier, *reason.Error) {
	methods, accepts := p.methods, p.acceptsText
	if route != nil {
		methods, accepts = route.Accepts, route.AcceptsText
	}
	if pres.Kind == authheader.None {
		if len(methods) == 1 {
			// A route that takes only a certificate or only a signature
			// says so with that scheme's own code.
			switch methods[0] {
			case domain.AuthMTLS:
				return nil, &reason.Error{Code: "mtls.certificate_missing", Detail: "No client certificate was presented; this route requires one (mutual TLS)."}
			case domain.AuthHTTPSignature:
				return nil, &reason.Error{Code: "sig.missing", Detail: "The request carries no Signature-Input and Signature fields; this route requires an RFC 9421 signature."}
			}
		}
		e := &reason.Error{Code: reason.AuthMissing, Detail: "No credential was sent. This route accepts " + accepts + "."}
		if !hasMethod(methods, domain.AuthAPIKey) {
			// The catalogue's hint names an API key; this route takes none.
			e.Hint = "Send " + accepts + "."
		}
		return nil, e
	}
	for _, m := range methods {
		v := p.verifiers[m]
		if v == nil || !v.Recognizes(pres) {
			continue
		}
		// An opaque bearer that is not a gk_ key goes to introspection
		// when the route accepts it, even if API keys come first (the
		// API-key verifier would only find it among imported keys).
		if m == domain.AuthAPIKey && pres.Kind == authheader.Bearer && !keys.HasPrefix(pres.Token) &&
			hasMethod(methods, domain.AuthIntrospection) && p.verifiers[domain.AuthIntrospection] != nil {
			continue
		}
		return v, nil
	}
	if pres.Kind == authheader.Bearer && hasMethod(methods, domain.AuthJWT) &&
		!keys.HasPrefix(pres.Token) && !jwt.LooksLikeJWT(pres.Token) {
		// §5 token.unrecognized: the route takes bearer tokens, this one
		// is neither of the kinds it can read, and it does not introspect.
		return nil, &reason.Error{Code: reason.TokenUnrecognized,
			Detail: "The bearer value is neither a Gatehouse API key (gk_…) nor a JWT, and this route does not introspect opaque tokens. This route accepts " + accepts + "."}
	}
	if pres.Kind == authheader.Other {
		return nil, &reason.Error{Code: reason.AuthSchemeUnsupported,
			Detail: "The Authorization scheme '" + pres.Scheme + "' is not accepted here. This route accepts " + accepts + "."}
	}
	return nil, &reason.Error{Code: reason.AuthMethodNotAllowed,
		Detail: "The request carries " + presentedText(pres) + ", which this route does not accept. This route accepts " + accepts + "."}
}

// presentedText names the credential a request carries and where, for
// auth.method_not_allowed: "not accepted" alone leaves the caller guessing
// whether the kind of credential or only its place is wrong. It is not
// derived from the scheme alone: an API key is a Bearer value too, and an
// X-API-Key value has no scheme at all.
//
// The name comes from the request alone, by the rules that send a value to
// a verifier (the gk_ prefix, the JWT shape, the scheme, the header), never
// from a lookup: the caller has proved nothing yet, so the detail must not
// hint whether a key exists or whose it is (§5). The result is never empty.
func presentedText(c authheader.Credential) string {
	switch c.Kind {
	case authheader.Bearer:
		const where = " in 'Authorization: Bearer …'"
		switch {
		case keys.HasPrefix(c.Token):
			return "an API key" + where
		case jwt.LooksLikeJWT(c.Token):
			return "a JWT" + where
		}
		return "an opaque bearer token (neither a Gatehouse API key nor a JWT)" + where
	case authheader.APIKeyScheme:
		where := " in 'Authorization: ApiKey …'"
		switch c.Source {
		case authheader.SourceXAPIKey:
			where = " in the X-API-Key header"
		case authheader.SourceQuery:
			where = " in the URL (?api_key=)"
		}
		// These places carry API keys only, but a JWT pasted into one is
		// still a JWT; calling it a key would send the caller after the
		// wrong fix.
		if !keys.HasPrefix(c.Token) && jwt.LooksLikeJWT(c.Token) {
			return "a JWT" + where
		}
		return "an API key" + where
	case authheader.Basic:
		return "a user name and password in 'Authorization: Basic …'"
	}
	return "a credential"
}

func hasMethod(methods []string, m string) bool {
	for _, x := range methods {
		if x == m {
			return true
		}
	}
	return false
}

// identify checks the owner chain of a verified credential: consumer, then
// tenant. Deletion and suspension take effect on every credential at once
// because they are read here, from the owner, not copied onto each key.
func identify(id *credential.Identity, t *trace.Trace) *reason.Error {
	c := id.Consumer
	// Built only for a failure: an admitted request allocates nothing here.
	owner := func() string { return "Credential " + id.CredentialID + " belongs to application '" + c.Name + "'" }
	switch c.Status {
	case domain.StatusDeleted:
		d := owner() + ", which was deleted"
		if c.DeletedAt != nil {
			d += " at " + c.DeletedAt.UTC().Format(time.RFC3339)
		}
		t.Fail(stIdentify, "consumer", d+".")
		return &reason.Error{Code: reason.ConsumerDeleted, Detail: d + ".", CredentialID: id.CredentialID, Possession: true}
	case domain.StatusSuspended:
		d := owner() + ", which is suspended"
		if c.SuspendedAt != nil {
			d += " since " + c.SuspendedAt.UTC().Format(time.RFC3339)
		}
		t.Fail(stIdentify, "consumer", d+".")
		return &reason.Error{Code: reason.ConsumerSuspended, Detail: d + ".", CredentialID: id.CredentialID, Possession: true}
	}
	t.Pass(stIdentify, "consumer", "application active")
	if c.Tenant.Status != domain.StatusActive {
		d := owner() + " of tenant '" + c.Tenant.Slug + "', which is suspended"
		if c.Tenant.SuspendedAt != nil {
			d += " since " + c.Tenant.SuspendedAt.UTC().Format(time.RFC3339)
		}
		t.Fail(stIdentify, "tenant", d+".")
		return &reason.Error{Code: reason.TenantSuspended, Detail: d + ".", CredentialID: id.CredentialID, Possession: true}
	}
	t.Pass(stIdentify, "tenant", "tenant active")
	return nil
}

// reject renders a rejection — the one place that does — and logs it with
// the request ID that the caller also sees.
func (p *Pipeline) reject(w http.ResponseWriter, r *http.Request, route *snapshot.Route, id string, e *reason.Error, call *domain.Call) {
	rd := reason.Render{RequestID: id, Instance: r.URL.Path, BaseURL: p.o.PublicURL, Host: r.Host, TLS: r.TLS != nil}
	if route != nil {
		rd.Minimal = route.Minimal
		rd.OpenAI = route.OpenAI
		rd.Scheme = challengeScheme(route.Accepts)
	}
	e.Write(w, rd)
	call.Status = e.Entry().Status
	call.Code = e.Code
	p.logRejected(r, call, e)
}

// logRejected is every rejection's log line, with the request ID the
// caller also sees: the pipeline's own (reject) and a route handler's.
func (p *Pipeline) logRejected(r *http.Request, call *domain.Call, e *reason.Error) {
	if p.o.Logger.Enabled(r.Context(), slog.LevelInfo) {
		p.o.Logger.LogAttrs(r.Context(), slog.LevelInfo, "rejected",
			slog.String("request_id", call.RequestID), slog.String("code", e.Code), slog.Int("status", call.Status),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("credential_id", e.CredentialID), slog.String("operator_detail", e.Debug))
	}
}

// Refuse answers a request the listener refused before it became an
// *http.Request (internal/front's Server.Refuse): a head it could not
// parse, a smuggling probe, an invalid Host, a head too large or too
// slow. It gets what every rejection gets — a request ID, the one
// rejection shape, a log line and a call record with the listener's
// reason in its trace. method and target are what could be read of the
// request line ("" when nothing could); err says what was wrong and
// never quotes the request's bytes.
//
// Status 499 (statusClientClosed) is a client that closed its connection
// mid-request: recorded with no code, as a client leaving during
// forwarding is, and not answered.
func (p *Pipeline) Refuse(w http.ResponseWriter, status int, method, target, remoteAddr string, err error) {
	now := p.o.Clock.Now()
	id := reqid.New(now)
	call := domain.Call{RequestID: id, Time: now, Method: method}
	if host, _, herr := net.SplitHostPort(remoteAddr); herr == nil {
		call.ClientIP = host
	}
	// The path only, as for any call: a query may carry an api_key
	// (stripQueryKey), and an absolute-form target user information. A
	// target that does not parse leaves none.
	if u, perr := url.ParseRequestURI(target); perr == nil {
		call.Path = u.Path
	}
	if status == statusClientClosed {
		call.Status = statusClientClosed
		call.Trace = []domain.TraceStep{{Stage: stListener, Check: "client", Outcome: domain.OutcomeFail, Detail: err.Error()}}
		p.o.Logger.LogAttrs(context.Background(), slog.LevelInfo, "client left",
			slog.String("request_id", id), slog.Int("status", statusClientClosed),
			slog.String("method", method), slog.String("path", call.Path), slog.String("operator_detail", err.Error()))
	} else {
		w.Header()["X-Request-Id"] = []string{id}
		code := reason.RequestMalformed
		switch status {
		case http.StatusRequestHeaderFieldsTooLarge:
			code = reason.RequestHeadTooLarge
		case http.StatusRequestTimeout:
			code = reason.RequestReadTimeout
		}
		e := &reason.Error{Code: code, Detail: "The listener refused the request: " + err.Error() + ".", Debug: err.Error()}
		e.Write(w, reason.Render{RequestID: id, Instance: call.Path, BaseURL: p.o.PublicURL})
		call.Status, call.Code = e.Entry().Status, code
		call.Trace = []domain.TraceStep{{Stage: stListener, Check: "request", Outcome: domain.OutcomeFail, Detail: err.Error()}}
		p.o.Logger.LogAttrs(context.Background(), slog.LevelInfo, "rejected",
			slog.String("request_id", id), slog.String("code", code), slog.Int("status", call.Status),
			slog.String("method", method), slog.String("path", call.Path), slog.String("operator_detail", err.Error()))
	}
	if p.o.Calls != nil {
		p.o.Calls.Record(&call)
	}
}

// challengeScheme is the WWW-Authenticate scheme a 401 on a route names:
// Basic when Basic is the only credential the route takes in the
// Authorization header (a Bearer challenge there would send the client
// after a token the route refuses), else Bearer ("" keeps the default).
func challengeScheme(accepts []string) string {
	basic := false
	for _, m := range accepts {
		switch m {
		case domain.AuthBasic:
			basic = true
		case domain.AuthAPIKey, domain.AuthJWT, domain.AuthIntrospection:
			return ""
		}
	}
	if basic {
		return "Basic"
	}
	return ""
}

func (p *Pipeline) baseURL(r *http.Request) string {
	if p.o.PublicURL != "" {
		return p.o.PublicURL
	}
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// clientIP returns the address the gateway attributes the request to and
// its source. X-Forwarded-For is believed only when the socket peer is a
// trusted proxy; then the rightmost address that is not itself a trusted
// proxy is the client (everything left of it could be forged).
func (p *Pipeline) clientIP(r *http.Request) (netip.Addr, string) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, "socket"
	}
	a := ap.Addr().Unmap()
	if len(p.o.TrustedProxies) == 0 || !p.trusted(a) {
		return a, "socket"
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			c, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return a, "socket"
			}
			c = c.Unmap()
			if !p.trusted(c) {
				return c, "X-Forwarded-For"
			}
		}
	}
	return a, "socket"
}

// ipString is ip.String() for the ip and source clientIP returned for a
// request whose RemoteAddr is remoteAddr. An IPv4 address from the socket
// is taken from remoteAddr's text: clientIP parsed it from there, and an
// unbracketed "a.b.c.d:port" that netip accepted is already canonical (no
// leading zeros); the listener keeps one such string per connection, so
// the call record costs no allocation for it. A bracketed address
// ("[::ffff:a.b.c.d]:port", unmapped by clientIP) is formatted.
func ipString(ip netip.Addr, source, remoteAddr string) string {
	if source == "socket" && ip.Is4() && remoteAddr != "" && remoteAddr[0] != '[' {
		if i := strings.LastIndexByte(remoteAddr, ':'); i > 0 {
			return remoteAddr[:i]
		}
	}
	return ip.String()
}

func (p *Pipeline) trusted(a netip.Addr) bool {
	for _, pr := range p.o.TrustedProxies {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// upstreamPath applies strip_prefix and upstream_path to the request's
// escaped path, so %2F and friends reach the upstream as sent. The route
// was matched on the decoded path, so the prefix to strip is found there
// and then mapped onto the escaped path (escapedPrefix): "/strip%2Fx/y"
// matched /strip/x and must be forwarded as "/y", not as sent with its
// prefix kept, as a plain string prefix test on the escaped path did.
// Mapping, rather than refusing an escape inside the prefix, keeps every
// byte after the prefix exactly as the client sent it, which is what the
// upstream gets for any other path of the route.
func upstreamPath(rt *snapshot.Route, r *http.Request) string {
	ep := r.URL.EscapedPath()
	matched := ""
	if rt.StripPrefix {
		// The longest of the route's paths that prefixes the request's,
		// as routing chose it (snapshot.Match): of "/api" and "/api/v2",
		// /api/v2/x strips "/api/v2", whichever is listed first.
		path := r.URL.Path
		for _, pre := range rt.Paths {
			pre = strings.TrimSuffix(pre, "/")
			if len(pre) > len(matched) && strings.HasPrefix(path, pre) && (len(path) == len(pre) || path[len(pre)] == '/') {
				matched = pre
			}
		}
		if matched != "" && ep != path {
			matched = escapedPrefix(ep, matched)
		}
	}
	return proxy.UpstreamPath(ep, matched, rt.StripPrefix, rt.UpstreamPath)
}

// escapedPrefix is the start of the escaped path ep that decodes to the
// decoded prefix pre ("" if none does; ep decodes to the path pre was
// found in, so there always is one).
func escapedPrefix(ep, pre string) string {
	i := 0
	for j := 0; j < len(pre); j++ {
		if i >= len(ep) {
			return ""
		}
		c := ep[i]
		if c == '%' && i+2 < len(ep) {
			if v, err := strconv.ParseUint(ep[i+1:i+3], 16, 8); err == nil {
				c = byte(v)
				i += 2
			}
		}
		if c != pre[j] {
			return ""
		}
		i++
	}
	return ep[:i]
}

// stripQueryKey removes api_key parameters so the key never reaches the
// upstream URL.
func stripQueryKey(q string, fromQuery bool) string {
	if !fromQuery || q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	out := parts[:0]
	for _, s := range parts {
		if s == "api_key" || strings.HasPrefix(s, "api_key=") {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, "&")
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// ambiguousPath refuses a path that an upstream could read as other, a
// path the matched route does not cover.
func ambiguousPath(r *http.Request, other string, t *trace.Trace) *reason.Error {
	sent := r.URL.RawPath
	if sent == "" {
		sent = r.URL.Path
	}
	t.Fail(stRoute, "path", "the path "+sent+" can be read as "+other+", which the matched route does not cover")
	return &reason.Error{Code: reason.RequestPathAmbiguous,
		Detail: "The path " + sent + " reads as " + other + " to a service that decodes it, takes '\\' for '/', drops ';' parameters " +
			"and merges slashes, which is not the path the gateway routes; send it in its plain form."}
}

// otherReading is the request's path as an upstream more lenient than the
// gateway reads it, and whether there is any reason to compute it. The
// gateway routes on the decoded path (r.URL.Path) and forwards the path
// as sent, so each way an upstream may read that path differently is a
// way to be matched by one route and served by another:
//   - it decodes and merges doubled slashes (nginx's merge_slashes):
//     "/pub%2F%2Fadmin" is "/pub/admin", and decoded dot-segments
//     ("%2e%2e", RFC 3986 §6.2.2.2) are resolved;
//   - it reads "\" (sent raw or as %5C) as "/" (IIS, some Node and Python
//     frameworks): "/pub\admin" is "/pub/admin";
//   - it drops ";" path parameters from each segment (Tomcat, Jetty,
//     Spring): "/pub/..;/admin" is "/pub/../admin", "/admin;x/y" is
//     "/admin/y".
//
// All three are applied at once, as one upstream may do all of them. A
// backslash is not refused outright: it is rare but legitimate in a
// segment ("/users/CORP%5Cjane", a Windows account name), and read as "/"
// it is only a risk when it forms a dot-segment or leads to another route,
// which the caller checks. The literal forms of "//", "." and ".." never
// get here (the proxy router redirects them to the clean path), so a path
// with no escapes, no backslash and no ";" has no other reading; checking
// for them costs two byte scans and no allocation.
func otherReading(r *http.Request) (string, bool) {
	p := r.URL.Path
	escapedNotClean := r.URL.RawPath != "" && !CleanPath(p)
	if !escapedNotClean && strings.IndexByte(p, '\\') < 0 && strings.IndexByte(p, ';') < 0 {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(p))
	inParam := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/' || c == '\\':
			inParam = false
			if s := b.String(); s != "" && s[len(s)-1] == '/' {
				continue
			}
			b.WriteByte('/')
		case c == ';':
			inParam = true
		case !inParam:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// hasDotSegment reports a "." or ".." segment in p.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// CleanPath reports whether p is an absolute path that ServeMux's
// canonicalisation leaves as it is: no "//", "." or ".." segments (a
// trailing slash is kept).
func CleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		return len(p) == len(np)+1 && strings.HasPrefix(p, np)
	}
	return np == p
}
