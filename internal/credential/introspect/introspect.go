// Package introspect verifies opaque bearer tokens by RFC 7662 token
// introspection (spec §4, issue 4 item 2): the "introspection" method of
// credential.Verifier.
//
// # Order of checks, and why
//
//  1. Size (MaxTokenBytes), before the token goes anywhere.
//  2. An introspection endpoint must exist: a bearer value that is neither
//     a Gatehouse key nor a JWT, with no endpoint to ask, is
//     token.unrecognized (Unrecognized).
//  3. The cache, keyed by the token's SHA-256 (bounded LRU): an active
//     answer is reused until min(exp, PositiveTTL), an inactive one for
//     NegativeTTL, so a burst of garbage tokens does not become a burst
//     of calls, while a revoked token stops working within PositiveTTL.
//  4. The call: a form POST of token and token_type_hint=access_token,
//     authenticated with client_secret_basic, to each of the snapshot's
//     endpoints in order until one says active. Concurrent requests with
//     the same uncached token share one call. An endpoint that cannot be
//     reached, times out, answers 3xx/4xx/5xx, or answers something that
//     is not an RFC 7662 object is the gateway's problem:
//     auth.backend_unavailable (503, never 401), with an operator Debug
//     naming exactly what was wrong. Every endpoint saying inactive is
//     token.inactive; the reason stays in the authorization server, as
//     RFC 7662 §2.2 wants.
//  5. Confirmation (RFC 8705 §3.2): a certificate-bound token (cnf
//     x5t#S256) needs the request's client certificate (mtls.Thumbprint);
//     a token bound by a method not checked here (e.g. DPoP's jkt) is
//     refused rather than accepted as a plain bearer token.
//  6. Audience (Endpoint.Audiences), binding to a consumer by (issuer,
//     claim, value) — identity.unmapped (403) when none, as for JWTs —
//     and scopes from "scope".
//
// With several endpoints configured, an opaque token is shown to each in
// turn until one knows it: every configured authorization server is
// trusted with the tokens sent to this gateway.
//
// # Wiring
//
// Recognizes accepts a Bearer value that is neither a Gatehouse key
// (keys.HasPrefix) nor JWT-shaped (jwt.LooksLikeJWT). apikey.Verifier
// also claims such values (imported opaque keys), so on a route accepting
// both, the pipeline should ask the snapshot for an imported key with the
// token's hash first and give the token to this verifier otherwise. On a
// route that accepts jwt but not introspection, such a value is answered
// with token.unrecognized (the pipeline's pick), not auth.method_not_allowed.
package introspect

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/jwt"
	"gatehouse/internal/credential/mtls"
	"gatehouse/internal/digestcache"
	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/reason"
)

// Reason codes (catalogued in internal/reason).
const (
	CodeInactive     = "token.inactive"
	CodeUnrecognized = "token.unrecognized"
	CodeUnmapped     = jwt.IdentityUnmapped
)

// Defaults for Options fields left zero.
const (
	DefaultCacheSize     = 10000
	DefaultMaxTokenBytes = 4096
)

// Bindings is what the verifier needs from the configuration snapshot;
// the server implements it over the snapshot's issuers and jwt_binding
// credentials (the same bindings serve JWTs and opaque tokens of an
// issuer).
type Bindings interface {
	// Endpoints returns the introspection endpoints to ask, in order
	// (issuers with an IntrospectionURL, built with NewEndpoint once per
	// snapshot).
	Endpoints() []*Endpoint
	// Binding returns the jwt_binding credential that maps (issuer name,
	// claim, value), e.g. ("okta", "sub", "00u1…"), to its consumer, or
	// nil — jwt.Bindings.Binding's contract, so one implementation serves
	// both.
	Binding(issuerName, claim, value string) *credential.TokenBinding
}

type noBindings struct{}

func (noBindings) Endpoints() []*Endpoint                                  { return nil }
func (noBindings) Binding(string, string, string) *credential.TokenBinding { return nil }

// Options configures a Verifier.
type Options struct {
	// Bindings returns the bindings of the request's snapshot.
	Bindings func(in *credential.Input) Bindings
	// Client makes the calls (default: a client of its own). Redirects are
	// never followed whatever the client says: the token would go to
	// wherever the redirect points.
	Client *http.Client
	// CacheSize is how many answers to remember (default 10 000;
	// negative: none).
	CacheSize int
	// MaxTokenBytes bounds the tokens sent out (default 4 KiB).
	MaxTokenBytes int
	Logger        *slog.Logger
}

// Verifier implements credential.Verifier for opaque tokens. It is safe
// for concurrent use.
type Verifier struct {
	o      Options
	client *http.Client
	cache  *digestcache.LRU[*answer]
	group  digestcache.Flights[*outcome]

	// Failures are logged at most once per logEvery and endpoint: during
	// an outage every request fails (failures are not cached), and the
	// call log and traces already carry each one.
	logMu   sync.Mutex
	logged  map[*Endpoint]time.Time
	dropped map[*Endpoint]int
}

const logEvery = 10 * time.Second

var _ credential.Verifier = (*Verifier)(nil)

// answer is a cached introspection result; immutable once cached.
type answer struct {
	active     bool
	validUntil time.Time
	ep         *Endpoint // active: who said so
	exp        *time.Time
	scopes     []string
	scopeHdr   string
	claimed    bool // the answer has a scope member
	aud        []string
	audOK      bool
	bindings   []binding
	// x5t is the RFC 8705 §3.2 cnf "x5t#S256" of a certificate-bound
	// token ("" when unbound); cnfOther names a confirmation method this
	// gateway cannot check.
	x5t      string
	cnfOther string
	credID   string
	summary  string // trace detail
}

type binding struct{ claim, value, detail string }

// New returns a Verifier.
func New(o Options) *Verifier {
	if o.Bindings == nil {
		o.Bindings = func(*credential.Input) Bindings { return noBindings{} }
	}
	if o.MaxTokenBytes <= 0 {
		o.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	v := &Verifier{o: o}
	if o.Client != nil {
		c := *o.Client
		v.client = &c
	} else {
		v.client = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
	}
	v.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	switch {
	case o.CacheSize == 0:
		v.cache = digestcache.NewLRU[*answer](DefaultCacheSize)
	case o.CacheSize > 0:
		v.cache = digestcache.NewLRU[*answer](o.CacheSize)
	}
	return v
}

// Method implements credential.Verifier.
func (*Verifier) Method() string { return domain.AuthIntrospection }

// Recognizes implements credential.Verifier: a Bearer value that is
// neither a Gatehouse key nor JWT-shaped.
func (*Verifier) Recognizes(p authheader.Credential) bool {
	return p.Kind == authheader.Bearer && !keys.HasPrefix(p.Token) && !jwt.LooksLikeJWT(p.Token)
}

// Unrecognized is the answer for an opaque bearer value where no
// introspection endpoint can be asked.
func Unrecognized() *reason.Error {
	return reason.New(CodeUnrecognized, "The bearer value is neither a Gatehouse key (gk_…) nor a JWT, and this gateway has no introspection endpoint to ask about opaque tokens.")
}

const stage = "verify"

// Trace checks.
const (
	ckToken    = "introspect.token"
	ckCache    = "introspect.cache"
	ckCall     = "introspect.call"
	ckAudience = "introspect.audience"
	ckBinding  = "introspect.binding"
	ckConfirm  = "introspect.cnf"
)

// outcome is the result of asking the endpoints, shared by coalesced
// requests.
type outcome struct {
	a        *answer // nil: no endpoint could answer
	failures []string
	asked    string // which endpoints said inactive (operator trace)
}

// Verify implements credential.Verifier.
func (v *Verifier) Verify(in *credential.Input) (credential.Identity, *reason.Error) {
	t := in.Trace
	tok := in.Presented.Token
	if len(tok) > v.o.MaxTokenBytes {
		d := "The bearer token is " + strconv.Itoa(len(tok)) + " bytes long; opaque tokens may have at most " + strconv.Itoa(v.o.MaxTokenBytes) + "."
		t.Fail(stage, ckToken, d)
		return credential.Identity{}, reason.New(CodeUnrecognized, d)
	}
	b := v.o.Bindings(in)
	eps := b.Endpoints()
	if len(eps) == 0 {
		r := Unrecognized()
		t.Fail(stage, ckToken, r.Detail)
		return credential.Identity{}, r
	}
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
	if v.cache != nil {
		if a, ok := v.cache.Get(sum); ok {
			if in.Now.Before(a.validUntil) && (!a.active || listed(eps, a.ep)) {
				t.Pass(stage, ckCache, a.summary)
				return v.judge(in, b, a)
			}
			v.cache.Remove(sum)
		}
	}
	ctx := context.Background()
	if in.Request != nil {
		// The call serves every request that joins it: it must not end
		// when the first caller goes away.
		ctx = context.WithoutCancel(in.Request.Context())
	}
	now := in.Now
	o, shared := v.group.Do(sum, func() *outcome { return v.ask(ctx, eps, tok, sum, now) })
	via := ""
	if shared {
		via = " (one call shared by concurrent requests)"
	}
	if o.a == nil {
		d := "The gateway cannot check this token with its authorization server right now; retry shortly."
		t.Fail(stage, ckCall, d)
		debug := strings.Join(o.failures, "; ")
		t.Private(stage, ckCall, domain.OutcomeFail, debug)
		return credential.Identity{}, &reason.Error{Code: reason.AuthBackendUnavailable, Detail: d, Debug: debug, RetryAfter: 2}
	}
	if len(o.failures) > 0 {
		t.Private(stage, ckCall, domain.OutcomePass, "other endpoints failed: "+strings.Join(o.failures, "; "))
	}
	if o.a.active {
		t.Pass(stage, ckCall, o.a.summary+via)
	} else {
		t.Private(stage, ckCall, domain.OutcomeFail, "inactive according to "+o.asked+via)
	}
	return v.judge(in, b, o.a)
}

// logFailure logs a failed call, rate-limited per endpoint.
func (v *Verifier) logFailure(ep *Endpoint, err error) {
	now := time.Now()
	v.logMu.Lock()
	if v.logged == nil {
		v.logged, v.dropped = map[*Endpoint]time.Time{}, map[*Endpoint]int{}
	}
	if now.Sub(v.logged[ep]) < logEvery {
		v.dropped[ep]++
		v.logMu.Unlock()
		return
	}
	n := v.dropped[ep]
	v.logged[ep] = now
	delete(v.dropped, ep)
	if len(v.logged) > 1024 { // endpoints of old snapshots
		clear(v.logged)
		clear(v.dropped)
	}
	v.logMu.Unlock()
	v.o.Logger.Warn("introspection failed", "endpoint", ep, "err", err, "unlogged_failures_before", n)
}

// listed reports whether ep is still one of the snapshot's endpoints (the
// same configuration).
func listed(eps []*Endpoint, ep *Endpoint) bool {
	for _, e := range eps {
		if e == ep {
			return true
		}
	}
	return false
}

// ask introspects tok at each endpoint in order until one says active,
// and caches the outcome.
func (v *Verifier) ask(ctx context.Context, eps []*Endpoint, tok string, sum [32]byte, now time.Time) *outcome {
	o := &outcome{}
	var inactive []string
	negTTL := time.Duration(math.MaxInt64)
	for _, ep := range eps {
		if !ep.built {
			o.failures = append(o.failures, ep.Name+": endpoint not built with NewEndpoint")
			continue
		}
		a, err := v.call(ctx, ep, tok, now)
		if err != nil {
			o.failures = append(o.failures, "issuer '"+ep.Name+"' at "+ep.URL+": "+err.Error())
			v.logFailure(ep, err)
			continue
		}
		if a.active {
			o.a = a
			break
		}
		inactive = append(inactive, "'"+ep.Name+"'")
		negTTL = min(negTTL, ep.NegativeTTL)
	}
	o.asked = strings.Join(inactive, ", ")
	if o.a == nil && len(o.failures) == 0 {
		// Every endpoint answered, and none knows the token as active.
		o.a = &answer{validUntil: now.Add(negTTL),
			summary: "inactive according to " + o.asked + " (answer reused until " + stamp(now.Add(negTTL)) + ")"}
	}
	if o.a != nil && v.cache != nil && o.a.validUntil.After(now) {
		v.cache.Put(sum, o.a)
	}
	return o
}

// call makes one introspection request and reads its answer. Errors say
// what was wrong for the operator; they never contain the token.
func (v *Verifier) call(ctx context.Context, ep *Endpoint, tok string, now time.Time) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, ep.Timeout)
	defer cancel()
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", ep.auth)
	start := time.Now()
	resp, err := v.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, errors.New("no answer within " + ep.Timeout.String())
		}
		return nil, err
	}
	defer resp.Body.Close()
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, errors.New("HTTP " + strconv.Itoa(resp.StatusCode) + ": the endpoint refused the gateway's client credentials (check the issuer's introspection client id and secret)")
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, errors.New("HTTP " + strconv.Itoa(resp.StatusCode) + " redirect to " + strconv.Quote(resp.Header.Get("Location")) + ": not followed (the token would go there); configure the final URL")
	case resp.StatusCode != http.StatusOK:
		return nil, errors.New("HTTP " + strconv.Itoa(resp.StatusCode) + " (RFC 7662 answers 200)")
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, errors.New("malformed answer: Content-Type " + strconv.Quote(resp.Header.Get("Content-Type")) + ", not application/json")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(ep.MaxResponseBytes)+1))
	if err != nil {
		return nil, errors.New("reading the answer: " + err.Error())
	}
	if len(body) > ep.MaxResponseBytes {
		return nil, errors.New("malformed answer: larger than " + strconv.Itoa(ep.MaxResponseBytes) + " bytes")
	}
	a, err := parse(ep, body, now)
	if err != nil {
		return nil, errors.New("malformed answer: " + err.Error())
	}
	if a.active {
		a.summary = "issuer '" + ep.Name + "' says active (HTTP 200 in " + took.String() + ")"
	}
	return a, nil
}

// parse reads an RFC 7662 §2.2 answer. It insists on what the verifier
// relies on — a boolean active, a numeric exp, a string (or string array)
// scope and aud, string binding claims — and ignores the rest.
func parse(ep *Endpoint, body []byte, now time.Time) (*answer, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, errors.New("not JSON (syntax error at byte " + strconv.FormatInt(se.Offset, 10) + ")")
		}
		return nil, errors.New("not a JSON object")
	}
	if m == nil {
		return nil, errors.New("null instead of a JSON object")
	}
	raw, ok := m["active"]
	if !ok {
		return nil, errors.New(`no "active" member (RFC 7662 §2.2 requires it)`)
	}
	var active bool
	if err := json.Unmarshal(raw, &active); err != nil || isNull(raw) {
		return nil, errors.New(`"active" is ` + kind(raw) + `, not a boolean`)
	}
	if !active {
		return &answer{}, nil
	}
	a := &answer{active: true, ep: ep, validUntil: now.Add(ep.PositiveTTL)}
	if raw, ok := m["exp"]; ok && !isNull(raw) {
		var exp float64
		if err := json.Unmarshal(raw, &exp); err != nil || exp != math.Trunc(exp) || exp < 0 || exp > 1e11 {
			return nil, errors.New(`"exp" is ` + kind(raw) + `, not a NumericDate`)
		}
		e := time.Unix(int64(exp), 0).UTC()
		a.exp = &e
		if e.Before(a.validUntil) {
			a.validUntil = e
		}
	}
	if raw, ok := m["scope"]; ok && !isNull(raw) {
		a.claimed = true
		list, err := strings1(raw)
		if err != nil {
			return nil, errors.New(`"scope" is ` + kind(raw) + `, not a space-separated string`)
		}
		for _, s := range list {
			a.scopes = append(a.scopes, strings.Fields(s)...)
		}
		a.scopeHdr = strings.Join(a.scopes, " ")
	}
	if raw, ok := m["aud"]; ok && !isNull(raw) {
		list, err := strings1(raw)
		if err != nil {
			return nil, errors.New(`"aud" is ` + kind(raw) + `, not a string or an array of strings`)
		}
		a.aud = list
	}
	a.audOK = len(ep.Audiences) == 0
	for _, want := range ep.Audiences {
		for _, got := range a.aud {
			if got == want {
				a.audOK = true
			}
		}
	}
	if raw, ok := m["cnf"]; ok && !isNull(raw) {
		var cnf map[string]json.RawMessage
		if err := json.Unmarshal(raw, &cnf); err != nil || cnf == nil {
			return nil, errors.New(`"cnf" is ` + kind(raw) + `, not an object`)
		}
		for name, v := range cnf {
			if name != "x5t#S256" {
				if a.cnfOther == "" || name < a.cnfOther {
					a.cnfOther = name
				}
				continue
			}
			if err := json.Unmarshal(v, &a.x5t); err != nil || a.x5t == "" {
				return nil, errors.New(`cnf "x5t#S256" is ` + kind(v) + `, not a non-empty string`)
			}
		}
	}
	for _, c := range ep.BindingClaims {
		raw, ok := m[c]
		if !ok || isNull(raw) {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errors.New(strconv.Quote(c) + " is " + kind(raw) + ", not a string")
		}
		if s == "" {
			continue
		}
		a.bindings = append(a.bindings, binding{claim: c, value: s, detail: "issuer '" + ep.Name + "', " + c + " " + quote(s) + ": bound"})
		if a.credID == "" {
			a.credID = ep.Name + ":" + s
		}
	}
	return a, nil
}

// judge turns an answer into the identity or the rejection.
func (v *Verifier) judge(in *credential.Input, b Bindings, a *answer) (credential.Identity, *reason.Error) {
	t := in.Trace
	if !a.active {
		d := "The authorization server reports this token as not active: it expired, was revoked, or was never issued."
		t.Fail(stage, ckToken, d)
		return credential.Identity{}, reason.New(CodeInactive, d)
	}
	ep := a.ep
	if a.exp != nil && !in.Now.Before(*a.exp) {
		// Answered from the cache up to exp; a fresh answer after exp is
		// the server's word, reported as such.
		t.Pass(stage, ckToken, "active per issuer '"+ep.Name+"' though exp "+stamp(*a.exp)+" has passed by the gateway's clock")
	}
	if a.cnfOther != "" {
		d := "The token is bound to a proof (cnf " + quote(a.cnfOther) + ") that this gateway does not check, so it cannot be accepted here."
		t.Fail(stage, ckConfirm, d)
		return credential.Identity{}, reason.New(CodeInactive, d)
	}
	if a.x5t != "" {
		// RFC 8705 §3: a certificate-bound token is only good with the
		// certificate it was issued to. The caller has not proved it holds
		// that certificate, so it learns no more than that.
		got, ok := mtls.Thumbprint(in.Request)
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.x5t)) != 1 {
			d := "The token is bound to a client certificate (RFC 8705), and this request did not present that certificate."
			t.Fail(stage, ckConfirm, d)
			return credential.Identity{}, reason.New(CodeInactive, d)
		}
		t.Pass(stage, ckConfirm, "certificate-bound token: the request's client certificate matches cnf x5t#S256")
	}
	if !a.audOK {
		got := "no aud"
		if len(a.aud) > 0 {
			got = "aud " + quoteList(a.aud)
		}
		d := "The token is active, but it was issued for " + got + "; this API accepts " + quoteList(ep.Audiences) + "."
		t.Fail(stage, ckAudience, d)
		return credential.Identity{}, &reason.Error{Code: CodeInactive, Detail: d, CredentialID: a.credID, Possession: true,
			Hint: "Request a token for the audience named in the detail."}
	}
	if len(ep.Audiences) > 0 {
		t.Pass(stage, ckAudience, "aud matches")
	}
	for _, bd := range a.bindings {
		tb := b.Binding(ep.Name, bd.claim, bd.value)
		if tb == nil {
			continue
		}
		if tb.ExpiresAt != nil && !in.Now.Before(*tb.ExpiresAt) {
			d := "The token is active, but the binding of issuer '" + ep.Name + "', " + bd.claim + " " + quote(bd.value) +
				" to application '" + tb.Consumer.Name + "' expired at " + tb.ExpiresAt.UTC().Format(time.RFC3339) + "."
			t.Fail(stage, ckBinding, d)
			return credential.Identity{}, &reason.Error{Code: CodeUnmapped, Detail: d, CredentialID: a.credID, Possession: true,
				Hint: "Ask the owner of application '" + tb.Consumer.Name + "' to renew the binding (a new jwt_binding credential)."}
		}
		scopes, hdr, dropped := tb.GrantScopes(a.scopes, a.scopeHdr, a.claimed)
		if dropped == nil {
			t.Pass(stage, ckBinding, bd.detail)
		} else {
			t.Pass(stage, ckBinding, bd.detail+"; scopes the binding does not grant, dropped: "+strings.Join(dropped, ", "))
		}
		exp := a.exp
		if tb.ExpiresAt != nil && (exp == nil || tb.ExpiresAt.Before(*exp)) {
			exp = tb.ExpiresAt
		}
		return credential.Identity{Type: domain.AuthIntrospection, CredentialID: a.credID, Consumer: tb.Consumer,
			Scopes: scopes, ScopeHeader: hdr, ExpiresAt: exp, IPAllow: tb.IPAllow}, nil
	}
	var d string
	if len(a.bindings) == 0 {
		d = "The token is active, but its introspection answer has none of the members (" + strings.Join(ep.BindingClaims, ", ") +
			") that bind a token of issuer '" + ep.Name + "' to an application."
	} else {
		parts := make([]string, 0, len(a.bindings))
		for _, bd := range a.bindings {
			parts = append(parts, bd.claim+" "+quote(bd.value))
		}
		d = "The token is active, but no application is bound to issuer '" + ep.Name + "' with " + strings.Join(parts, " or ") + "."
	}
	t.Fail(stage, ckBinding, d)
	return credential.Identity{}, &reason.Error{Code: CodeUnmapped, Detail: d, CredentialID: a.credID, Possession: true}
}

// strings1 reads a JSON string or array of strings.
func strings1(raw json.RawMessage) ([]string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return list, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// kind names a JSON value's type for a Debug text (never its content: an
// answer may echo the token).
func kind(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "empty"
	}
	switch s[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}

func quoteList(l []string) string {
	q := make([]string, 0, len(l))
	for _, s := range l {
		q = append(q, quote(s))
	}
	return strings.Join(q, ", ")
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
