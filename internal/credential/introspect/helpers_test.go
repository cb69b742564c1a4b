package introspect

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/domain"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	clientID     = "gatehouse gw:1"
	clientSecret = "s3cr:et/+é"
)

// authServer is an RFC 7662 introspection endpoint on loopback. It
// insists on what RFC 7662 §2.1 and RFC 6749 §2.3.1 require of the
// gateway's request and answers from its token table.
type authServer struct {
	srv    *httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	tokens map[string]string // token → JSON answer; unknown: inactive
	// raw, when set, replaces the whole answer: status, content type, body.
	raw  func(w http.ResponseWriter) bool
	gate chan struct{} // when set, each call waits for it to close
	// lastAuth is the Authorization header of the last call.
	lastAuth string
}

func newAuthServer(t testing.TB) *authServer {
	t.Helper()
	a := &authServer{tokens: map[string]string{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *authServer) serve(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	a.mu.Lock()
	gate, raw := a.gate, a.raw
	a.lastAuth = r.Header.Get("Authorization")
	a.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	// Client authentication: client_secret_basic with each part
	// form-urlencoded (RFC 6749 §2.3.1).
	user, pass, ok := r.BasicAuth()
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if !ok || err1 != nil || err2 != nil || id != clientID || secret != clientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token_type_hint") != "access_token" || len(r.PostForm["token"]) != 1 || r.URL.RawQuery != "" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if raw != nil && raw(w) {
		return
	}
	a.mu.Lock()
	body, ok := a.tokens[r.PostForm.Get("token")]
	a.mu.Unlock()
	if !ok {
		body = `{"active":false}`
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func (a *authServer) set(token string, claims map[string]any) {
	claims["active"] = true
	b, _ := json.Marshal(claims)
	a.mu.Lock()
	a.tokens[token] = string(b)
	a.mu.Unlock()
}

// hold makes every call wait until release is called (at the latest when
// the test ends, before the server is closed: a handler that has not read
// its request body does not notice the client going away).
func (a *authServer) hold(t testing.TB) (release func()) {
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	a.mu.Lock()
	a.gate = gate
	a.mu.Unlock()
	t.Cleanup(release)
	return release
}

func (a *authServer) remove(token string) {
	a.mu.Lock()
	delete(a.tokens, token)
	a.mu.Unlock()
}

func (a *authServer) answerRaw(f func(w http.ResponseWriter) bool) {
	a.mu.Lock()
	a.raw = f
	a.mu.Unlock()
}

func (a *authServer) endpoint(t testing.TB, name string, adjust func(*Endpoint)) *Endpoint {
	t.Helper()
	cfg := Endpoint{Name: name, URL: a.srv.URL + "/oauth2/introspect", ClientID: clientID, ClientSecret: []byte(clientSecret)}
	if adjust != nil {
		adjust(&cfg)
	}
	ep, err := NewEndpoint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// binds implements Bindings as the server does over the snapshot.
type binds struct {
	mu   sync.Mutex
	eps  []*Endpoint
	byID map[string]*snapshot.Consumer // "issuer|claim|value"
	// grant, when set, is every binding's (else one holding every scope
	// the tests' answers carry).
	grant *credential.TokenBinding
}

func (b *binds) Endpoints() []*Endpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eps
}

func (b *binds) Binding(iss, claim, value string) *credential.TokenBinding {
	c := b.byID[iss+"|"+claim+"|"+value]
	if c == nil {
		return nil
	}
	if b.grant != nil {
		return b.grant
	}
	// A grant holding every scope the tests' answers carry.
	g := []string{"read", "write", "batch", "a", "b", "c"}
	return &credential.TokenBinding{CredentialID: "crd_test", Consumer: c, Scopes: g, ScopeHeader: strings.Join(g, " ")}
}

func (b *binds) setEndpoints(eps ...*Endpoint) {
	b.mu.Lock()
	b.eps = eps
	b.mu.Unlock()
}

var shop = &snapshot.Consumer{Consumer: domain.Consumer{ID: "c_shop", Name: "shop-backend", Status: domain.StatusActive}}

func newVerifier(b Bindings, o Options) *Verifier {
	o.Bindings = func(*credential.Input) Bindings { return b }
	o.Logger = slog.New(slog.DiscardHandler)
	return New(o)
}

func input(token string, now time.Time) *credential.Input {
	r := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
	return &credential.Input{Request: r, Presented: authheader.Credential{Kind: authheader.Bearer, Scheme: "Bearer", Token: token, Source: authheader.SourceAuthorization},
		Now: now, Trace: &trace.Trace{}}
}
