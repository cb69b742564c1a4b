package reason

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Error is a rejection with layers, in the manner of Ory fosite: a stable
// code, a caller-safe detail and hint, and an operator-only debug text.
// What reaches the caller is decided in one place, View, from the catalogue
// entry, the caller's proof of possession and the route's disclosure level.
type Error struct {
	Code string
	// Detail is told to the caller: it may only say what the caller's own
	// input shows or, for codes marked Possession, what the credential the
	// caller proved to hold shows.
	Detail string
	// Hint overrides the catalogue's hint (e.g. to name who can approve).
	Hint string
	// Debug is for the operator only: the trace and the call log carry it,
	// never a response.
	Debug string
	// CredentialID is the public id of the credential, when the caller sent
	// one whose id could be read.
	CredentialID string
	// PrivateID marks a CredentialID the caller did not send (an RFC 9421
	// signature names its key by keyid; the gateway's credential id is
	// its own): the call record and the log carry it, the caller sees it
	// only once Possession is proven.
	PrivateID bool
	// Possession is true once the caller proved it holds the credential
	// (the secret matched, the signature verified).
	Possession bool
	// Scope lists the scopes required, for insufficient_scope.
	Scope string
	// Allow lists the route's methods, for 405.
	Allow string
	// RetryAfter in seconds, for 429 and 503 (0: none).
	RetryAfter int
	// RateLimitPolicy is a RateLimit-Policy list member (`"name";q=N;w=S`)
	// for a 429 that no rate limiter answered (a quota, an AI budget; a
	// limiter sets both fields itself): §5 wants RateLimit-Policy and
	// RateLimit on every 429, so Write adds it to the policies already set
	// and makes RateLimit `"name";r=0;t=<RetryAfter>`.
	RateLimitPolicy string
	// Param names the offending request field (e.g. "messages[1].role"),
	// rendered as "param" in the OpenAI shape so SDKs surface it.
	Param string
	// Err is the underlying cause, if any (operator only).
	Err error
}

// New returns an Error with a caller-safe detail.
func New(code, detail string) *Error { return &Error{Code: code, Detail: detail} }

// Error implements error with the code, the detail and the debug text: it
// is for logs and the operator, never written to a caller as is.
func (e *Error) Error() string {
	s := e.Code
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Debug != "" {
		s += " [" + e.Debug + "]"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Entry returns the catalogue entry of the error's code (gateway.internal
// for an uncatalogued code, which a test prevents).
func (e *Error) Entry() Entry {
	if en, ok := byCode[e.Code]; ok {
		return en
	}
	return byCode[GatewayInternal]
}

// View is what a caller is told.
type View struct {
	Code         string
	Status       int
	Title        string
	Detail       string
	Hint         string
	CredentialID string
	Bearer       string // RFC 6750 error attribute; "-" for no WWW-Authenticate
	Scope        string
	Param        string
}

// View decides what the caller learns. It is the one place that applies
// disclosure by possession (§5): a code that reveals facts about a
// credential is never shown to a caller that has not proved it holds it
// (such an error is a gateway bug; it is told key.unknown instead), and a
// route with minimal disclosure gets only the code family and title.
func (e *Error) View(minimal bool) View {
	en := e.Entry()
	v := View{Code: en.Code, Status: en.Status, Title: en.Title, Detail: e.Detail, Hint: e.Hint,
		CredentialID: e.CredentialID, Bearer: en.Bearer, Scope: e.Scope, Param: e.Param}
	if e.PrivateID && !e.Possession {
		v.CredentialID = ""
	}
	if v.Hint == "" {
		v.Hint = en.Hint
	}
	if en.Possession && !e.Possession {
		k := byCode[KeyUnknown]
		v = View{Code: k.Code, Status: k.Status, Title: k.Title, Hint: k.Hint, Bearer: k.Bearer, CredentialID: e.CredentialID}
	}
	if minimal {
		fam := v.Code
		if i := strings.IndexByte(fam, '.'); i > 0 {
			fam = fam[:i]
		}
		// RFC 6750 §3.1's three errors map to 400, 401 and 403; minimal
		// disclosure keeps the one that matches the status (a 403 for
		// scope is insufficient_scope, not invalid_token).
		bearer := v.Bearer
		if bearer != "-" && bearer != BearerNone && bearer != BearerInsufficientScope {
			bearer = BearerInvalidToken
			if v.Status == 400 {
				bearer = BearerInvalidRequest
			}
		}
		v = View{Code: fam, Status: v.Status, Title: "Request rejected", Bearer: bearer,
			Hint: "Quote the request ID to the API operator."}
	}
	return v
}

// Render says how to write a rejection.
type Render struct {
	RequestID string
	// Instance is the request path (never the query: it may carry a key).
	Instance string
	// BaseURL is the public base URL the error page links are built on,
	// e.g. "https://api.example.com". Empty: built from Host and TLS (the
	// request's own), or a relative link when Host is empty too.
	BaseURL string
	Host    string
	TLS     bool
	Minimal bool
	// OpenAI wraps the fields as {"error":{…}} for OpenAI SDKs (§5).
	OpenAI bool
	// Scheme for WWW-Authenticate ("Bearer" unless the route uses Basic).
	Scheme string
}

// ErrorsPath is where the gateway serves a page for each code.
const ErrorsPath = "/.well-known/gatehouse/errors/"

// Write writes the rejection: status, problem+json (or OpenAI) body,
// WWW-Authenticate per RFC 6750, X-Request-Id, Allow and Retry-After.
func (e *Error) Write(w http.ResponseWriter, r Render) {
	v := e.View(r.Minimal)
	h := w.Header()
	if r.RequestID != "" && len(h["X-Request-Id"]) == 0 {
		h["X-Request-Id"] = []string{r.RequestID}
	}
	if wa := wwwAuthenticateCached(v, r.Scheme); wa != nil {
		h["Www-Authenticate"] = wa
	}
	if e.Allow != "" && v.Status == http.StatusMethodNotAllowed {
		h["Allow"] = []string{e.Allow}
	}
	if e.RetryAfter > 0 {
		h["Retry-After"] = []string{strconv.Itoa(e.RetryAfter)}
	}
	if e.RateLimitPolicy != "" {
		// The limit that refused (a quota, a budget) is the one the
		// RateLimit field describes; a rate limit that allowed the call
		// before it keeps its policy listed beside it. A new slice: the
		// policy already there may be a snapshot's shared value.
		name, _, _ := strings.Cut(e.RateLimitPolicy, ";")
		policy := e.RateLimitPolicy
		if prev := h["Ratelimit-Policy"]; len(prev) > 0 {
			policy = strings.Join(prev, ", ") + ", " + policy
		}
		h["Ratelimit-Policy"] = []string{policy}
		h["Ratelimit"] = []string{name + ";r=0;t=" + strconv.Itoa(max(e.RetryAfter, 1))}
	}
	h["Cache-Control"] = noStore
	bp := bufs.Get().(*[]byte)
	b := (*bp)[:0]
	if r.OpenAI {
		h["Content-Type"] = contentJSON
		b = appendOpenAI(b, v, r)
	} else {
		h["Content-Type"] = contentProblem
		b = appendProblem(b, v, r)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	defer func() { *bp = b; bufs.Put(bp) }()
	w.WriteHeader(v.Status)
	_, _ = w.Write(b)
}

// Shared header values. net/http never modifies a header's value slice,
// so constant ones are shared rather than allocated per rejection.
var (
	noStore        = []string{"no-store"}
	contentJSON    = []string{"application/json"}
	contentProblem = []string{"application/problem+json"}
	bufs           = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
	// wwwCache holds the WWW-Authenticate value of every (scheme, code)
	// whose value does not depend on the request (all but scope ones).
	wwwCache sync.Map // wwwKey → []string
)

type wwwKey struct{ scheme, code, bearer string }

// wwwAuthenticateCached returns the header value slice, built once per
// scheme and code (scope values vary per route and are built each time).
func wwwAuthenticateCached(v View, scheme string) []string {
	if v.Bearer == "-" && !signatureChallenge(v) {
		return nil
	}
	if v.Scope != "" {
		return []string{wwwAuthenticate(v, scheme)}
	}
	k := wwwKey{scheme, v.Code, v.Bearer}
	if c, ok := wwwCache.Load(k); ok {
		return c.([]string)
	}
	val := []string{wwwAuthenticate(v, scheme)}
	wwwCache.Store(k, val)
	return val
}

// Body returns the body Write would send (problem+json or OpenAI shape).
func (e *Error) Body(r Render) []byte {
	v := e.View(r.Minimal)
	if r.OpenAI {
		return appendOpenAI(nil, v, r)
	}
	return appendProblem(nil, v, r)
}

// WWWAuthenticate returns the header value Write would send ("" for none).
func (e *Error) WWWAuthenticate(r Render) string { return wwwAuthenticate(e.View(r.Minimal), r.Scheme) }

// signatureChallenge: RFC 9110 §11.6.1, a 401 "MUST send a
// WWW-Authenticate header field containing at least one challenge
// applicable to the target resource". An RFC 9421 signature has no
// registered scheme; its 401s challenge with "Signature", as the
// signature drafts before it did, rather than with none.
func signatureChallenge(v View) bool {
	// "sig" alone: minimal disclosure shows the family only.
	return v.Status == 401 && (strings.HasPrefix(v.Code, "sig.") || v.Code == "sig")
}

func wwwAuthenticate(v View, scheme string) string {
	if v.Bearer == "-" {
		if signatureChallenge(v) {
			return `Signature realm="gatehouse"`
		}
		return ""
	}
	if scheme == "" {
		scheme = "Bearer"
		if strings.HasPrefix(v.Code, "basic.") {
			// RFC 7617 §2: a 401 for Basic credentials challenges with
			// Basic (which has no error attributes).
			scheme = "Basic"
		}
	}
	s := scheme + ` realm="gatehouse"`
	if scheme == "Basic" {
		return s + `, charset="UTF-8"`
	}
	if v.Bearer == BearerNone {
		// RFC 6750 §3.1: "If the request lacks any authentication
		// information …, the resource server SHOULD NOT include an error
		// code or other error information."
		return s
	}
	s += `, error="` + v.Bearer + `", error_description="` + v.Code + `"`
	if v.Bearer == BearerInsufficientScope && v.Scope != "" {
		s += `, scope="` + v.Scope + `"`
	}
	return s
}

func appendProblem(b []byte, v View, r Render) []byte {
	b = append(b, `{"type":"`...)
	if r.BaseURL != "" {
		b = appendStringBody(b, r.BaseURL)
	} else if r.Host != "" {
		if r.TLS {
			b = append(b, "https://"...)
		} else {
			b = append(b, "http://"...)
		}
		b = appendStringBody(b, r.Host)
	}
	b = append(b, ErrorsPath...)
	b = appendStringBody(b, v.Code)
	b = append(b, '"')
	b = append(b, `,"title":`...)
	b = appendString(b, v.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(v.Status), 10)
	b = append(b, `,"code":`...)
	b = appendString(b, v.Code)
	if v.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, v.Detail)
	}
	if v.Hint != "" {
		b = append(b, `,"hint":`...)
		b = appendString(b, v.Hint)
	}
	if r.RequestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendString(b, r.RequestID)
	}
	if v.CredentialID != "" {
		b = append(b, `,"credential_id":`...)
		b = appendString(b, v.CredentialID)
	}
	if r.Instance != "" {
		b = append(b, `,"instance":`...)
		b = appendString(b, r.Instance)
	}
	return append(b, "}\n"...)
}

// appendOpenAI writes {"error":{"message","type","code","param","request_id"}}
// so OpenAI SDKs surface our code and request ID in their exception text.
func appendOpenAI(b []byte, v View, r Render) []byte {
	msg := v.Title
	if v.Detail != "" {
		msg = v.Detail
	}
	msg += " (" + v.Code
	if r.RequestID != "" {
		msg += ", request " + r.RequestID
	}
	msg += ")"
	if v.Hint != "" {
		msg += " " + v.Hint
	}
	typ := "invalid_request_error"
	switch {
	case v.Status == 401:
		typ = "authentication_error"
	case v.Status == 403:
		typ = "permission_error"
	case v.Status == 429:
		typ = "rate_limit_error"
	case v.Status >= 500:
		typ = "api_error"
	}
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"code":`...)
	b = appendString(b, v.Code)
	if v.Param != "" {
		b = append(b, `,"param":`...)
		b = appendString(b, v.Param)
		b = append(b, `,"request_id":`...)
	} else {
		b = append(b, `,"param":null,"request_id":`...)
	}
	b = appendString(b, r.RequestID)
	return append(b, "}}\n"...)
}

const hexDigits = "0123456789abcdef"

// plain marks the bytes copied as they are: printable ASCII other than
// the quote, the backslash and the HTML-sensitive <, > and &.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\\<>&` {
		t[c] = false
	}
	return t
}()

// appendString appends s as a JSON string. Hand-written instead of
// encoding/json because it runs on every rejection (garbage-key floods) and
// costs no allocation this way.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendStringBody(b, s)
	return append(b, '"')
}

// appendStringBody appends s JSON-escaped, without the quotes.
func appendStringBody(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
