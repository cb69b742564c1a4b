package pipeline

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/apikey"
	"gatehouse/internal/credential/basic"
	"gatehouse/internal/credential/introspect"
	"gatehouse/internal/credential/jwt"
	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/proxy"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
)

// Phrases of the accepted credential types, as auth.method_not_allowed
// (and auth.missing) name them.
const (
	acceptsKey    = "an API key in 'Authorization: Bearer gk_…', 'Authorization: ApiKey gk_…' or 'X-API-Key: gk_…'"
	acceptsJWT    = "a JWT in 'Authorization: Bearer …'"
	acceptsBasic  = "a user name and password in 'Authorization: Basic …'"
	acceptsBearer = "a JWT or an opaque OAuth access token in 'Authorization: Bearer …'"
	acceptsOpaque = "an opaque OAuth access token in 'Authorization: Bearer …'"
)

// TestMethodNotAllowedDetail drives a real pipeline on a loopback listener,
// with the gateway's real verifiers and no JWT issuer, introspection
// endpoint or Basic user configured, through every way a request can
// carry a credential type its route does not take. The detail must name
// what the request carries, correctly and never as an empty word (an API
// key used to be called a JWT bearer token, and an X-API-Key value "a
// credential" with a blank where its type should be), and each type the
// route accepts in words a caller can act on ("a JWT", not "a bearer
// token", which an API key also is).
func TestMethodNotAllowedDetail(t *testing.T) {
	known, err := keys.Generate("live")
	if err != nil {
		t.Fatal(err)
	}
	unknown, _ := keys.Generate("live")
	testEnv, _ := keys.Generate("test")
	const tokJWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	const tokOpaque = "2YotnFZFEjr1zCsicMWpAA"

	d := &store.Data{
		Tenants:   []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Consumers: []domain.Consumer{{ID: "c1", TenantID: "t1", Name: "app", Status: domain.StatusActive}},
		Keys:      []domain.APIKey{{ID: known.ID, ConsumerID: "c1", Environment: "live", Hash: keys.Hash(known.Full)}},
		Services:  []domain.Service{{ID: "s1", TenantID: "t1", Name: "svc"}},
		Routes: []domain.Route{
			{ID: "r_jwt", ServiceID: "s1", Paths: []string{"/jwt"}, Auth: []string{domain.AuthJWT}},
			{ID: "r_jwt_q", ServiceID: "s1", Paths: []string{"/jwt-query"}, Auth: []string{domain.AuthJWT}, QueryKey: true},
			{ID: "r_key", ServiceID: "s1", Paths: []string{"/key"}, Auth: []string{domain.AuthAPIKey}},
			{ID: "r_basic", ServiceID: "s1", Paths: []string{"/basic"}, Auth: []string{domain.AuthBasic}},
			{ID: "r_jwt_basic", ServiceID: "s1", Paths: []string{"/jwt-basic"}, Auth: []string{domain.AuthJWT, domain.AuthBasic}},
			{ID: "r_bearer", ServiceID: "s1", Paths: []string{"/bearer"}, Auth: []string{domain.AuthJWT, domain.AuthIntrospection}},
			{ID: "r_opaque", ServiceID: "s1", Paths: []string{"/opaque"}, Auth: []string{domain.AuthIntrospection}},
			{ID: "r_key_basic", ServiceID: "s1", Paths: []string{"/key-basic"}, Auth: []string{domain.AuthAPIKey, domain.AuthBasic}},
		},
	}
	snap, err := snapshot.Build(d, snapshot.Options{Now: now, Upstreams: proxy.NewUpstreams(proxy.UpstreamOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	var h snapshot.Holder
	h.Store(snap)
	quiet := slog.New(slog.DiscardHandler)
	p := New(Options{Snapshots: &h, Forwarder: proxy.New(proxy.Options{}), Calls: &callLog{}, Environment: "live",
		Clock: clock.NewFake(now), Logger: quiet,
		Verifiers: []credential.Verifier{
			apikey.Verifier{},
			jwt.New(jwt.Options{Logger: quiet}),
			introspect.New(introspect.Options{Logger: quiet}),
			basic.New(basic.Options{Logger: quiet}),
		}})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)

	notAccepted := func(carries, accepts string) string {
		return "The request carries " + carries + ", which this route does not accept. This route accepts " + accepts + "."
	}
	cases := []struct {
		desc       string
		path       string
		hdr        []string
		wantDetail string
		// wantWWW is a substring of WWW-Authenticate; default the Bearer
		// invalid_token challenge (a Basic-only route challenges Basic).
		wantWWW string
	}{
		// The reported defect: a JWT-only route and a Gatehouse key.
		{desc: "API key as Bearer on a JWT-only route", path: "/jwt", hdr: []string{"Authorization", "Bearer " + known.Full},
			wantDetail: notAccepted("an API key in 'Authorization: Bearer …'", acceptsJWT)},
		{desc: "API key in X-API-Key on a JWT-only route", path: "/jwt", hdr: []string{"X-API-Key", known.Full},
			wantDetail: notAccepted("an API key in the X-API-Key header", acceptsJWT)},
		{desc: "API key with the ApiKey scheme on a JWT-only route", path: "/jwt", hdr: []string{"Authorization", "ApiKey " + known.Full},
			wantDetail: notAccepted("an API key in 'Authorization: ApiKey …'", acceptsJWT)},
		{desc: "scheme written in lower case is named canonically", path: "/jwt", hdr: []string{"Authorization", "bearer " + known.Full},
			wantDetail: notAccepted("an API key in 'Authorization: Bearer …'", acceptsJWT)},
		{desc: "API key in the URL of a JWT-only route that reads query keys", path: "/jwt-query?api_key=" + known.Full,
			wantDetail: notAccepted("an API key in the URL (?api_key=)", acceptsJWT)},
		{desc: "test key on a JWT-only route is an API key, nothing more", path: "/jwt", hdr: []string{"Authorization", "Bearer " + testEnv.Full},
			wantDetail: notAccepted("an API key in 'Authorization: Bearer …'", acceptsJWT)},
		{desc: "Basic on a JWT-only route", path: "/jwt", hdr: []string{"Authorization", "Basic dXNlcjpwYXNz"},
			wantDetail: notAccepted("a user name and password in 'Authorization: Basic …'", acceptsJWT)},
		{desc: "JWT in X-API-Key on a JWT-only route is a JWT in the wrong place", path: "/jwt", hdr: []string{"X-API-Key", tokJWT},
			wantDetail: notAccepted("a JWT in the X-API-Key header", acceptsJWT)},

		// The reverse, and the other single types.
		{desc: "JWT on an API-key-only route", path: "/key", hdr: []string{"Authorization", "Bearer " + tokJWT},
			wantDetail: notAccepted("a JWT in 'Authorization: Bearer …'", acceptsKey)},
		{desc: "Basic on an API-key-only route", path: "/key", hdr: []string{"Authorization", "Basic dXNlcjpwYXNz"},
			wantDetail: notAccepted("a user name and password in 'Authorization: Basic …'", acceptsKey)},
		{desc: "API key as Bearer on a Basic-only route", path: "/basic", hdr: []string{"Authorization", "Bearer " + known.Full},
			wantDetail: notAccepted("an API key in 'Authorization: Bearer …'", acceptsBasic), wantWWW: "Basic realm="},
		{desc: "JWT on a Basic-only route", path: "/basic", hdr: []string{"Authorization", "Bearer " + tokJWT},
			wantDetail: notAccepted("a JWT in 'Authorization: Bearer …'", acceptsBasic), wantWWW: "Basic realm="},
		{desc: "API key in X-API-Key on a Basic-only route", path: "/basic", hdr: []string{"X-API-Key", known.Full},
			wantDetail: notAccepted("an API key in the X-API-Key header", acceptsBasic), wantWWW: "Basic realm="},
		{desc: "API key as Bearer on an introspection-only route", path: "/opaque", hdr: []string{"Authorization", "Bearer " + known.Full},
			wantDetail: notAccepted("an API key in 'Authorization: Bearer …'", acceptsOpaque)},

		// Several accepted types: each is named, in the route's order.
		{desc: "API key in X-API-Key on a JWT-or-Basic route", path: "/jwt-basic", hdr: []string{"X-API-Key", known.Full},
			wantDetail: notAccepted("an API key in the X-API-Key header", acceptsJWT+"; or "+acceptsBasic)},
		{desc: "Basic on a JWT-or-opaque-token route names the shared header once", path: "/bearer", hdr: []string{"Authorization", "Basic dXNlcjpwYXNz"},
			wantDetail: notAccepted("a user name and password in 'Authorization: Basic …'", acceptsBearer)},
		{desc: "JWT on an API-key-or-Basic route", path: "/key-basic", hdr: []string{"Authorization", "Bearer " + tokJWT},
			wantDetail: notAccepted("a JWT in 'Authorization: Bearer …'", acceptsKey+"; or "+acceptsBasic)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			status, www, body := getProblem(t, srv.URL+tc.path, tc.hdr...)
			if status != 401 || body["code"] != reason.AuthMethodNotAllowed {
				t.Fatalf("%d %v, want 401 %s", status, body, reason.AuthMethodNotAllowed)
			}
			wantWWW := tc.wantWWW
			if wantWWW == "" {
				wantWWW = `error="invalid_token"`
			}
			if !strings.Contains(www, wantWWW) {
				t.Errorf("WWW-Authenticate %q, want %q in it", www, wantWWW)
			}
			if body["detail"] != tc.wantDetail {
				t.Errorf("detail\n got %q\nwant %q", body["detail"], tc.wantDetail)
			}
			if dt, _ := body["detail"].(string); strings.Contains(dt, "  ") || strings.Contains(dt, " ,") {
				t.Errorf("detail has a blank where a word belongs: %q", dt)
			}
		})
	}

	// §5: token.unrecognized — "bearer is neither key nor JWT and no
	// introspection": on a route that takes JWTs but does not introspect,
	// an opaque bearer is not a method the route refuses but a token it
	// cannot read.
	t.Run("an opaque bearer on a JWT-only route is token.unrecognized", func(t *testing.T) {
		status, www, body := getProblem(t, srv.URL+"/jwt", "Authorization", "Bearer "+tokOpaque)
		want := "The bearer value is neither a Gatehouse API key (gk_…) nor a JWT, and this route does not introspect opaque tokens. This route accepts " + acceptsJWT + "."
		if status != 401 || body["code"] != "token.unrecognized" || body["detail"] != want || !strings.Contains(www, `error="invalid_token"`) {
			t.Errorf("%d %q %v", status, www, body)
		}
	})

	// Before possession is proved the caller learns only what its input
	// shows (§5): a key the gateway holds and one it has never seen get
	// the same answer, and the answer does not quote the key.
	t.Run("a known and an unknown key are answered alike", func(t *testing.T) {
		for _, hdr := range [][]string{{"Authorization", "Bearer "}, {"X-API-Key", ""}} {
			_, _, a := getProblem(t, srv.URL+"/jwt", hdr[0], hdr[1]+known.Full)
			_, _, b := getProblem(t, srv.URL+"/jwt", hdr[0], hdr[1]+unknown.Full)
			for _, f := range []string{"code", "title", "detail", "hint"} {
				if a[f] != b[f] {
					t.Errorf("%s: %s %q for a known key, %q for an unknown one", hdr[0], f, a[f], b[f])
				}
			}
			for _, body := range []map[string]any{a, b} {
				for _, k := range []string{known.Full, unknown.Full} {
					if raw, _ := json.Marshal(body); strings.Contains(string(raw), k) {
						t.Errorf("%s: the answer quotes the key: %s", hdr[0], raw)
					}
				}
			}
		}
	})
}

// getProblem sends a GET and decodes the problem document it answers.
func getProblem(t *testing.T, url string, hdr ...string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body
}
