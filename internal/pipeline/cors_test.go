package pipeline

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/apikey"
	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/proxy"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
	"gatehouse/internal/trace"
)

// callLog keeps copies of the records the pipeline hands over.
type callLog struct {
	mu    sync.Mutex
	calls []domain.Call
}

func (l *callLog) Record(c *domain.Call) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp := *c
	cp.Trace = slices.Clone(c.Trace)
	l.calls = append(l.calls, cp)
	return true
}

func (l *callLog) byID(id string) (domain.Call, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if c.RequestID == id {
			return c, true
		}
	}
	return domain.Call{}, false
}

// corsGateway is a real pipeline on a loopback listener in front of a real
// upstream (through the real forwarding engines), with routes covering
// each kind of CORS policy. The upstream answers with CORS fields of its
// own, which a route with a policy must not let through.
type corsGateway struct {
	url  string
	key  string
	hits atomic.Int64
	log  *callLog
}

func newCORSGateway(t *testing.T) *corsGateway {
	t.Helper()
	g := &corsGateway{log: &callLog{}}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.hits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Vary", "Accept-Encoding")
		w.Header().Set("X-Total", "3")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(up.Close)
	k, err := keys.Generate("live")
	if err != nil {
		t.Fatal(err)
	}
	g.key = k.Full
	strict := &domain.CORS{AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
		AllowedHeaders: []string{"content-type"}, ExposedHeaders: []string{"X-Total"}, AllowCredentials: true,
		MaxAge: domain.Duration(10 * time.Minute)}
	d := &store.Data{
		Tenants:   []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Consumers: []domain.Consumer{{ID: "c1", TenantID: "t1", Name: "app", Status: domain.StatusActive}},
		Keys:      []domain.APIKey{{ID: k.ID, ConsumerID: "c1", Environment: "live", Hash: keys.Hash(k.Full)}},
		Services:  []domain.Service{{ID: "s1", TenantID: "t1", Name: "svc", Targets: []domain.Target{{URL: up.URL, Weight: 1}}}},
		Routes: []domain.Route{
			{ID: "r_strict", ServiceID: "s1", Paths: []string{"/strict"}, Methods: []string{"GET", "POST"}, CORS: strict, MaxBody: 10},
			{ID: "r_any", ServiceID: "s1", Paths: []string{"/any"}, CORS: &domain.CORS{AllowedOrigins: []string{"*"}}},
			{ID: "r_narrow", ServiceID: "s1", Paths: []string{"/narrow"},
				CORS: &domain.CORS{AllowedOrigins: []string{"https://app.example.com"}, AllowedMethods: []string{"GET"}}},
			{ID: "r_none", ServiceID: "s1", Paths: []string{"/none"}},
		},
	}
	snap, err := snapshot.Build(d, snapshot.Options{Now: now, Upstreams: proxy.NewUpstreams(proxy.UpstreamOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	var h snapshot.Holder
	h.Store(snap)
	p := New(Options{Snapshots: &h, Verifiers: []credential.Verifier{apikey.Verifier{}}, Forwarder: proxy.New(proxy.Options{}),
		Calls: g.log, Environment: "live", Clock: clock.NewFake(now), Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

type corsAnswer struct {
	status int
	header http.Header
	body   map[string]any
	call   domain.Call
}

func (g *corsGateway) do(t *testing.T, method, path string, body string, hdr ...string) corsAnswer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		v := strings.ReplaceAll(hdr[i+1], "$KEY", g.key)
		if hdr[i] == "Host" {
			req.Host = v
			continue
		}
		req.Header.Add(hdr[i], v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := corsAnswer{status: resp.StatusCode, header: resp.Header}
	_ = json.Unmarshal(raw, &a.body)
	id := resp.Header.Get("X-Request-Id")
	var ok bool
	if a.call, ok = g.log.byID(id); !ok {
		t.Fatalf("request %s was not recorded in the call log", id)
	}
	return a
}

func TestCORS(t *testing.T) {
	g := newCORSGateway(t)
	const (
		app    = "https://app.example.com"
		sub    = "https://shop.eu.example.org"
		evil   = "https://evil.example"
		strict = "/strict/orders"
	)
	type want struct {
		status   int
		code     string
		acao     string // "" = no Access-Control-Allow-Origin at all
		creds    bool   // Access-Control-Allow-Credentials: true
		methods  string // Access-Control-Allow-Methods
		headers  string // Access-Control-Allow-Headers
		maxAge   string
		expose   []string // must be in Access-Control-Expose-Headers
		vary     []string // must be among the Vary values
		upstream bool     // the upstream was called
		credType string   // the call record's credential type
		detail   []string // in the body's detail
		notBody  []string // nowhere in the body
		opTrace  []string // in the operator's trace of the call
	}
	cases := []struct {
		desc         string
		method, path string
		body         string
		hdr          []string
		want         want
	}{
		{desc: "preflight from an allowed origin, no credential: answered 204 by the gateway",
			method: "OPTIONS", path: strict,
			hdr: []string{"Origin", app, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,x-api-key"},
			want: want{status: 204, acao: app, creds: true, methods: "GET, POST", headers: "content-type,x-api-key", maxAge: "600",
				vary: []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}}},
		{desc: "preflight from a subdomain the pattern allows: the origin is echoed",
			method: "OPTIONS", path: strict, hdr: []string{"Origin", sub, "Access-Control-Request-Method", "GET"},
			want: want{status: 204, acao: sub, creds: true, methods: "GET, POST", maxAge: "600"}},
		{desc: "preflight from a look-alike of the pattern is refused",
			method: "OPTIONS", path: strict, hdr: []string{"Origin", "https://example.org.evil.com", "Access-Control-Request-Method", "GET"},
			want: want{status: 403, code: "cors.origin_not_allowed", detail: []string{"'https://example.org.evil.com' is not allowed"}}},
		{desc: "preflight from a disallowed origin: told its own origin, not the allowed list",
			method: "OPTIONS", path: strict, hdr: []string{"Origin", evil, "Access-Control-Request-Method", "GET"},
			want: want{status: 403, code: "cors.origin_not_allowed", detail: []string{"'" + evil + "'"},
				notBody: []string{"app.example.com", "example.org"}, opTrace: []string{"allowed origins: https://app.example.com, https://*.example.org"}}},
		{desc: "preflight asking for a header beyond the allowed ones names it",
			method: "OPTIONS", path: strict,
			hdr:  []string{"Origin", app, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "content-type,x-debug"},
			want: want{status: 403, code: "cors.header_not_allowed", detail: []string{"'x-debug'", "authorization, content-type, x-api-key"}}},
		{desc: "preflight asking for a method the route does not serve is method.not_allowed",
			method: "OPTIONS", path: strict, hdr: []string{"Origin", app, "Access-Control-Request-Method", "DELETE"},
			want: want{status: 405, code: "method.not_allowed", detail: []string{"GET, POST, not DELETE"}}},
		{desc: "preflight asking for a method outside cors.allowed_methods",
			method: "OPTIONS", path: "/narrow", hdr: []string{"Origin", app, "Access-Control-Request-Method", "POST"},
			want: want{status: 403, code: "cors.method_not_allowed", detail: []string{"asks for POST", "allowed: GET"}}},
		{desc: "wildcard route: any origin, the requested method echoed, no credentials",
			method: "OPTIONS", path: "/any", hdr: []string{"Origin", "https://whatever.test", "Access-Control-Request-Method", "PUT"},
			want: want{status: 204, acao: "*", methods: "PUT"}},
		{desc: "preflight on a route without CORS: refused as CORS, never as a missing credential",
			method: "OPTIONS", path: "/none", hdr: []string{"Origin", app, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization"},
			want: want{status: 403, code: "cors.origin_not_allowed", detail: []string{"no CORS policy", "not an authentication failure"},
				opTrace: []string{"route r_none has no cors"}}},
		{desc: "preflight without Origin on a route without CORS: still never a missing-credential 401 (§8)",
			method: "OPTIONS", path: "/none", hdr: []string{"Access-Control-Request-Method", "GET"},
			want: want{status: 403, code: "cors.origin_not_allowed", detail: []string{"names no Origin", "not an authentication failure"}}},
		{desc: "preflight without Origin on a CORS route: refused as CORS, upstream not called",
			method: "OPTIONS", path: strict, hdr: []string{"Access-Control-Request-Method", "GET"},
			want: want{status: 403, code: "cors.origin_not_allowed", detail: []string{"names no Origin"}}},
		{desc: "allowed origin, a method the route does not serve: the 405 carries the CORS fields",
			method: "DELETE", path: strict, hdr: []string{"Origin", app, "Authorization", "Bearer $KEY"},
			want: want{status: 405, code: "method.not_allowed", acao: app, creds: true, vary: []string{"Origin"}}},
		{desc: "disallowed origin, a method the route does not serve: refused as CORS",
			method: "DELETE", path: strict, hdr: []string{"Origin", evil, "Authorization", "Bearer $KEY"},
			want: want{status: 403, code: "cors.origin_not_allowed"}},
		{desc: "allowed origin with a valid key: the upstream's answer with the gateway's CORS fields only",
			method: "GET", path: strict, hdr: []string{"Origin", app, "Authorization", "Bearer $KEY"},
			want: want{status: 200, acao: app, creds: true, expose: []string{"X-Request-Id", "X-Total"},
				vary: []string{"Origin", "Accept-Encoding"}, upstream: true, credType: "api_key"}},
		{desc: "allowed origin with a garbage key: the 401 carries the CORS fields, so the page can read the code",
			method: "GET", path: strict, hdr: []string{"Origin", app, "X-API-Key", "gk_live_garbage"},
			want: want{status: 401, code: "key.malformed", acao: app, creds: true, expose: []string{"X-Request-Id", "WWW-Authenticate"},
				vary: []string{"Origin"}, credType: "api_key"}},
		{desc: "allowed origin without a key: auth.missing readable by the page",
			method: "POST", path: strict, hdr: []string{"Origin", sub},
			want: want{status: 401, code: "auth.missing", acao: sub, creds: true}},
		{desc: "allowed origin, body over max_body: request.too_large readable by the page",
			method: "POST", path: strict, body: strings.Repeat("x", 64), hdr: []string{"Origin", app, "Authorization", "Bearer $KEY"},
			want: want{status: 413, code: "request.too_large", acao: app, creds: true}},
		{desc: "disallowed origin on an actual request: refused before the credential, upstream not called",
			method: "GET", path: strict, hdr: []string{"Origin", evil, "Authorization", "Bearer $KEY"},
			want: want{status: 403, code: "cors.origin_not_allowed", notBody: []string{"app.example.com"}}},
		{desc: "no Origin on a CORS route: no CORS fields but Vary",
			method: "GET", path: strict, hdr: []string{"Authorization", "Bearer $KEY"},
			want: want{status: 200, vary: []string{"Origin"}, upstream: true, credType: "api_key"}},
		{desc: "same-origin call (Origin is the gateway's own host): not refused",
			method: "POST", path: strict, hdr: []string{"Host", "api.example.net", "Origin", "https://api.example.net", "Authorization", "Bearer $KEY"},
			want: want{status: 200, upstream: true, credType: "api_key"}},
		{desc: "same-origin call by Sec-Fetch-Site: not refused",
			method: "GET", path: strict, hdr: []string{"Origin", "https://gw.internal", "Sec-Fetch-Site", "same-origin", "Authorization", "Bearer $KEY"},
			want: want{status: 200, upstream: true, credType: "api_key"}},
		{desc: "OPTIONS without Access-Control-Request-Method is no preflight: it needs a credential",
			method: "OPTIONS", path: "/any", hdr: []string{"Origin", app},
			want: want{status: 401, code: "auth.missing", acao: "*"}},
		{desc: "wildcard route, actual request with a key: Allow-Origin *",
			method: "GET", path: "/any", hdr: []string{"Origin", evil, "Authorization", "Bearer $KEY"},
			want: want{status: 200, acao: "*", upstream: true, credType: "api_key"}},
		{desc: "route without CORS, actual request: today's behaviour, the upstream's own fields pass",
			method: "GET", path: "/none", hdr: []string{"Origin", evil, "Authorization", "Bearer $KEY"},
			want: want{status: 200, acao: "*", upstream: true, credType: "api_key", vary: []string{"Accept-Encoding"}}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			before := g.hits.Load()
			a := g.do(t, tc.method, tc.path, tc.body, tc.hdr...)
			w := tc.want
			if a.status != w.status {
				t.Fatalf("status %d, want %d (body %v)", a.status, w.status, a.body)
			}
			if code, _ := a.body["code"].(string); code != w.code {
				t.Errorf("code %q, want %q", code, w.code)
			}
			if got := a.header.Values("Access-Control-Allow-Origin"); w.acao == "" && len(got) > 0 || w.acao != "" && !slices.Equal(got, []string{w.acao}) {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, w.acao)
			}
			if got := a.header.Get("Access-Control-Allow-Credentials"); (got == "true") != w.creds {
				t.Errorf("Access-Control-Allow-Credentials %q, want credentials %v", got, w.creds)
			}
			for k, v := range map[string]string{"Access-Control-Allow-Methods": w.methods, "Access-Control-Allow-Headers": w.headers,
				"Access-Control-Max-Age": w.maxAge} {
				if got := a.header.Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			exposed := strings.Split(a.header.Get("Access-Control-Expose-Headers"), ", ")
			for _, e := range w.expose {
				if !slices.Contains(exposed, e) {
					t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, e)
				}
			}
			for _, v := range w.vary {
				if !slices.Contains(a.header.Values("Vary"), v) {
					t.Errorf("Vary %q lacks %q", a.header.Values("Vary"), v)
				}
			}
			if called := g.hits.Load() > before; called != w.upstream {
				t.Errorf("upstream called: %v, want %v", called, w.upstream)
			}
			detail, _ := a.body["detail"].(string)
			for _, s := range w.detail {
				if !strings.Contains(detail, s) {
					t.Errorf("detail %q lacks %q", detail, s)
				}
			}
			body, _ := json.Marshal(a.body)
			for _, s := range w.notBody {
				if strings.Contains(string(body), s) {
					t.Errorf("the body discloses %q: %s", s, body)
				}
			}
			// The call log records it like any request.
			c := a.call
			if c.Status != w.status || c.Code != w.code || c.CredentialType != w.credType || c.RouteID == "" && w.status != 405 {
				t.Errorf("call record: status %d code %q credential type %q route %q; want %d %q %q",
					c.Status, c.Code, c.CredentialType, c.RouteID, w.status, w.code, w.credType)
			}
			ops, _ := json.Marshal(c.Trace)
			for _, s := range w.opTrace {
				if !strings.Contains(string(ops), s) {
					t.Errorf("operator trace lacks %q: %s", s, ops)
				}
			}
			if w.code != "" && strings.HasPrefix(w.code, "cors.") && !hasCORSStep(c.Trace, domain.OutcomeFail) {
				t.Errorf("no failing cors step in the trace: %s", ops)
			}
		})
	}
}

func hasCORSStep(steps []domain.TraceStep, outcome string) bool {
	for _, s := range steps {
		if s.Stage == stRoute && s.Check == checkCORS && s.Outcome == outcome {
			return true
		}
	}
	return false
}

// TestCORSWhoami: whoami's dry run with ?origin= meets the cors step first,
// as a page on that origin would.
func TestCORSWhoami(t *testing.T) {
	g := newCORSGateway(t)
	cases := []struct {
		desc, query string
		allow       bool
		code        string
		step        string // outcome of the cors step; "" = no step
	}{
		{"allowed origin: the verdict goes on to the credential", "path=/strict/x&origin=https://app.example.com", true, "", domain.OutcomePass},
		{"disallowed origin: refused at cors", "path=/strict/x&origin=https://evil.example", false, "cors.origin_not_allowed", domain.OutcomeFail},
		{"route without CORS: a page cannot call it", "path=/none&origin=https://app.example.com", false, "cors.origin_not_allowed", domain.OutcomeFail},
		{"no origin: no cors step", "path=/strict/x", true, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			req, _ := http.NewRequest("GET", g.url+WhoamiPath+"?"+tc.query, nil)
			req.Header.Set("Authorization", "Bearer "+g.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var ans whoamiAnswer
			if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || ans.Verdict == nil {
				t.Fatalf("%d: %v %+v", resp.StatusCode, err, ans)
			}
			v := ans.Verdict
			if v.Allow != tc.allow || v.Code != tc.code {
				t.Errorf("verdict allow=%v code=%q, want %v %q (%s)", v.Allow, v.Code, tc.allow, tc.code, v.Detail)
			}
			got := ""
			for _, s := range v.Trace {
				if s.Check == checkCORS {
					got = s.Outcome
				}
				if strings.Contains(s.Detail, "allowed origins") {
					t.Errorf("the caller's trace shows the operator-only allowed list: %+v", s)
				}
			}
			if got != tc.step {
				t.Errorf("cors step %q, want %q: %+v", got, tc.step, v.Trace)
			}
		})
	}
}

// TestCORSHotPathAllocations: the cors step of an allowed exact or "*"
// origin allocates nothing, and a GET pays nothing for preflight detection.
func TestCORSHotPathAllocations(t *testing.T) {
	pol := &domain.CORS{AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"}, AllowCredentials: true}
	d := &store.Data{
		Tenants:  []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Services: []domain.Service{{ID: "s1", TenantID: "t1", Name: "svc"}},
		Routes:   []domain.Route{{ID: "r1", ServiceID: "s1", Paths: []string{"/api"}, CORS: pol}},
	}
	snap, err := snapshot.Build(d, snapshot.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	route, _ := snap.Match("gw", "/api", "GET")
	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("Origin", "https://app.example.com")
	h := http.Header{}
	var tr trace.Trace
	allocs := testing.AllocsPerRun(200, func() {
		tr.Reset()
		if _, ok := preflightMethod(r); ok {
			t.Fatal("a GET taken for a preflight")
		}
		if rerr := corsActual(h, r, route.CORSPolicy, &tr); rerr != nil {
			t.Fatal(rerr)
		}
	})
	if allocs != 0 {
		t.Errorf("cors step of an allowed origin: %.0f allocations per request, want 0", allocs)
	}
	if got := h.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
}
