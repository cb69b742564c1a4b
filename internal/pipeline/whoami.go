package pipeline

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"gatehouse/internal/credential"
	"gatehouse/internal/domain"
	"gatehouse/internal/policy"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/reason"
	"gatehouse/internal/trace"
)

// WhoamiPath is where a caller asks who the gateway thinks it is (§6).
const WhoamiPath = wellKnownGH + "whoami"

var whoamiLimit = ratelimit.Limit{Limit: 60, Period: time.Minute, Name: "whoami"}

// whoamiAnswer is the 200 answer of whoami (Appendix A).
type whoamiAnswer struct {
	Tenant         string     `json:"tenant,omitempty"`
	Consumer       string     `json:"consumer,omitempty"`
	CredentialID   string     `json:"credential_id,omitempty"`
	CredentialType string     `json:"credential_type,omitempty"`
	Scopes         []string   `json:"scopes"`
	ExpiresAt      *time.Time `json:"expires_at"`
	Environment    string     `json:"environment"`
	// Subscriptions are the consumer's subscriptions to services (§6):
	// which service, of which tenant, in which state since when.
	Subscriptions []whoamiSub `json:"subscriptions"`
	Verdict       *verdict    `json:"verdict,omitempty"`
}

// whoamiSub is one of the caller's subscriptions, as the caller sees it.
type whoamiSub struct {
	ID      string     `json:"id"`
	Service string     `json:"service"`
	Tenant  string     `json:"tenant"`
	State   string     `json:"state"`
	Plan    string     `json:"plan,omitempty"`
	Since   time.Time  `json:"since"`
	Decided *time.Time `json:"decided_at,omitempty"`
}

type verdict struct {
	Allow     bool               `json:"allow"`
	Method    string             `json:"method"`
	Path      string             `json:"path"`
	Code      string             `json:"code,omitempty"`
	Status    int                `json:"status,omitempty"`
	Detail    string             `json:"detail,omitempty"`
	Hint      string             `json:"hint,omitempty"`
	RequestID string             `json:"request_id"`
	Trace     []domain.TraceStep `json:"trace,omitempty"`
}

// whoami authenticates the presented credential exactly as a route would
// and says who the caller is, or answers the rejection. With ?path= (and
// ?method=, default GET) it runs the real admission stages of that route —
// the same code as a real request — without calling the upstream or
// consuming a quota, and returns the verdict with the caller-safe trace.
func (p *Pipeline) whoami(w http.ResponseWriter, r *http.Request, id string) {
	snap := p.o.Snapshots.Load()
	if snap == nil {
		(&reason.Error{Code: reason.AuthBackendUnavailable, Detail: "The gateway is starting.", RetryAfter: 1}).
			Write(w, reason.Render{RequestID: id, Instance: r.URL.Path, BaseURL: p.baseURL(r)})
		return
	}
	st := p.pool.Get().(*state)
	defer func() {
		st.trace.Reset()
		st.in, st.id, st.pin = credential.Input{}, credential.Identity{}, policy.Input{}
		st.dryMethod, st.dryPath = "", ""
		p.pool.Put(st)
	}()
	now := p.o.Clock.Now()
	call := &domain.Call{RequestID: id, Time: now}
	// whoami has its own small rate limit per client address, so it
	// cannot be used to probe keys at line rate.
	if p.o.Limiter != nil {
		ip, _ := p.clientIP(r)
		d, err := p.o.Limiter.Allow(r.Context(), "whoami:"+ip.String(), whoamiLimit, now)
		if err == nil && !d.Allowed {
			ratelimit.Headers(w.Header(), d)
			secs := int((d.RetryAfter + time.Second - 1) / time.Second)
			p.reject(w, r, nil, id, &reason.Error{Code: reason.RateExceeded, RetryAfter: max(secs, 1),
				Detail: "whoami answers at most 60 requests per minute per client address."}, call)
			return
		}
	}
	q := r.URL.Query()
	path := q.Get("path")
	if path == "" {
		ip, _ := p.clientIP(r)
		if _, rerr := p.authenticate(r, st, snap, nil, call, ip); rerr != nil {
			p.reject(w, r, nil, id, rerr, call)
			return
		}
		writeJSON(w, p.identityAnswer(&st.id))
		return
	}
	method := strings.ToUpper(q.Get("method"))
	if method == "" {
		method = http.MethodGet
	}
	// Only the path is evaluated and echoed: a query could carry a key.
	path, _, _ = strings.Cut(path, "?")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	host := q.Get("host")
	if host == "" {
		host = r.Host
	}
	ip, src := p.clientIP(r)
	t := &st.trace
	v := &verdict{Method: method, Path: path, RequestID: id}
	var rerr *reason.Error
	minimal := false
	route, allow := snap.Match(host, path, method)
	switch {
	case route == nil && allow != nil:
		a := strings.Join(allow, ", ")
		t.Fail(stRoute, "method", method+" is not allowed here; allowed: "+a)
		rerr = &reason.Error{Code: reason.MethodNotAllowed, Allow: a, Detail: "This path accepts " + a + ", not " + method + "."}
	case route == nil:
		t.Fail(stRoute, "match", "no route for "+path)
		rerr = &reason.Error{Code: reason.RouteNotFound, Detail: "No route matches " + method + " " + path + " on this gateway."}
	default:
		minimal = route.Minimal
		// The route's id and service name are the operator's: a caller
		// learns from its own input only that a route serves the path
		// (§5), as a real request tells it no more before its credential.
		t.Private(stRoute, "match", domain.OutcomePass, route.Label)
		t.Pass(stRoute, "match", "a route serves "+method+" "+path)
		// ?origin= asks as a page on that origin would: the cors step
		// comes first, as on a real request.
		if origin := q.Get("origin"); origin != "" {
			rerr = corsDryRun(route, origin, t)
		}
		if rerr != nil {
			break
		}
		st.dryMethod, st.dryPath = method, path
		if _, rerr = p.admit(r, st, snap, route, call, ip, src); rerr == nil {
			t.Skip(stLimit, "rate", "dry run: no quota consumed")
			t.Skip(stForward, "upstream", "dry run: the upstream was not called")
		}
	}
	if rerr == nil {
		v.Allow = true
	} else {
		view := rerr.View(minimal)
		v.Code, v.Status, v.Detail, v.Hint = view.Code, view.Status, view.Detail, view.Hint
	}
	if route == nil {
		// No route to admit against: the verdict stands, and the
		// credential is still checked as without ?path=, so the caller
		// learns who it is (or nothing, if it proves nothing) — its
		// steps stay out of the verdict's trace.
		v.Trace = trace.CallerSteps(st.trace.Steps())
		st.trace.Reset()
		if _, aerr := p.authenticate(r, st, snap, nil, call, ip); aerr != nil {
			st.id = credential.Identity{}
		}
	}
	switch {
	case route == nil:
	case minimal:
	case route != nil && rerr != nil && rerr.Code == reason.RouteNotFound:
		// Another tenant's draft (policy's lifecycle): to this caller no
		// route serves the path, so its trace says just that.
		v.Trace = []domain.TraceStep{{Stage: stRoute, Check: "match", Outcome: domain.OutcomeFail, Detail: "no route for " + path}}
	default:
		v.Trace = trace.CallerSteps(st.trace.Steps())
	}
	ans := &whoamiAnswer{Environment: p.o.Environment, Scopes: []string{}, Subscriptions: []whoamiSub{}}
	if st.id.Consumer != nil && !minimal {
		ans = p.identityAnswer(&st.id)
	}
	ans.Verdict = v
	writeJSON(w, ans)
}

func (p *Pipeline) identityAnswer(id *credential.Identity) *whoamiAnswer {
	a := &whoamiAnswer{
		Tenant: id.Consumer.Tenant.Slug, Consumer: id.Consumer.Name,
		CredentialID: id.CredentialID, CredentialType: id.Type,
		Scopes: id.Scopes, ExpiresAt: id.ExpiresAt, Environment: p.o.Environment,
		Subscriptions: []whoamiSub{},
	}
	if a.Scopes == nil {
		a.Scopes = []string{}
	}
	if snap := p.o.Snapshots.Load(); snap != nil {
		for _, sub := range snap.SubscriptionsOf(id.Consumer.ID) {
			svc := snap.Service(sub.ServiceID)
			if svc == nil {
				continue // deleted since
			}
			ws := whoamiSub{ID: sub.ID, Service: svc.Name, State: sub.State, Since: sub.RequestedAt, Decided: sub.DecidedAt}
			if svc.Tenant != nil {
				ws.Tenant = svc.Tenant.Slug
			}
			if sub.Plan != nil {
				ws.Plan = sub.Plan.Name
			}
			a.Subscriptions = append(a.Subscriptions, ws)
		}
	}
	return a
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
