package pipeline

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

// CORS (§8). A browser asks before a cross-origin call that is not
// "simple" — every call carrying a key header is not — with a preflight:
// OPTIONS with Origin and Access-Control-Request-Method, and never a
// credential. The gateway answers it itself, right after the route match,
// so a preflight is never refused for a missing credential (the classic
// false "invalid key"). The actual request then carries the
// Access-Control-Allow-* fields on every answer to an allowed origin,
// rejections included: without them the browser hides the problem+json
// from the page and the developer sees an opaque CORS error instead of the
// reason code.
//
// Disclosure: a refused origin learns that its own Origin is not allowed,
// never the list of allowed origins. The list is route configuration, not a
// secret, but nothing is proved at this point (a preflight carries no
// credential, and the origin is checked before the credential), and it may
// name internal or staging sites; the operator sees it in the trace.
// Allowed methods and headers are told: a preflight's answer lists them
// anyway.

// Canonical names of the fields CORS reads and writes.
const (
	hOrigin        = "Origin"
	hSecFetchSite  = "Sec-Fetch-Site"
	hReqMethod     = "Access-Control-Request-Method"
	hReqHeaders    = "Access-Control-Request-Headers"
	hAllowOrigin   = "Access-Control-Allow-Origin"
	hAllowCreds    = "Access-Control-Allow-Credentials"
	hAllowMethods  = "Access-Control-Allow-Methods"
	hAllowHeaders  = "Access-Control-Allow-Headers"
	hExposeHeaders = "Access-Control-Expose-Headers"
	hMaxAge        = "Access-Control-Max-Age"
	hVary          = "Vary"
	checkCORS      = "cors"
)

// preflightMethod returns the method a CORS preflight asks about, if r is
// one. For any other method it costs one comparison.
func preflightMethod(r *http.Request) (string, bool) {
	if r.Method != http.MethodOptions {
		return "", false
	}
	// §8: a preflight is OPTIONS with Access-Control-Request-Method, and is
	// never refused for a missing credential — with or without Origin
	// (browsers always send one; a hand-made probe may not).
	m := r.Header[hReqMethod]
	if len(m) == 0 || m[0] == "" {
		return "", false
	}
	return m[0], true
}

// preflight answers a CORS preflight for route: 204 with the
// Access-Control-Allow-* fields, or the rejection. No credential is looked
// for; the call is recorded like any other, with no credential type.
func (p *Pipeline) preflight(w http.ResponseWriter, r *http.Request, route *snapshot.Route, method string, call *domain.Call, t *trace.Trace) *reason.Error {
	var origin string
	if o := r.Header[hOrigin]; len(o) > 0 {
		origin = o[0]
	}
	c := route.CORSPolicy
	if origin == "" {
		d := "The preflight (OPTIONS with Access-Control-Request-Method) names no Origin, so there is no page origin to allow; " +
			"a browser always sends one. (A preflight carries no credential; this is not an authentication failure.)"
		t.Fail(stRoute, checkCORS, d)
		return &reason.Error{Code: reason.CORSOriginNotAllowed, Detail: d}
	}
	if c == nil {
		d := "This route takes no cross-origin calls from browsers: it has no CORS policy, so the preflight from origin " +
			quoteOrigin(origin) + " is refused. (A preflight carries no credential; this is not an authentication failure.)"
		dbg := "route " + route.ID + " has no cors: set cors.allowed_origins on it to let pages on other origins call it"
		t.Fail(stRoute, checkCORS, d)
		t.Private(stRoute, checkCORS, domain.OutcomeFail, dbg)
		return &reason.Error{Code: reason.CORSOriginNotAllowed, Detail: d, Debug: dbg}
	}
	acao, detail, ok := c.Match(origin)
	if !ok {
		return originRefused(origin, c, t)
	}
	if !c.AllowsMethod(method) {
		d := "The preflight from origin " + quoteOrigin(origin) + " asks for " + method +
			", which pages on other origins may not use on this route; allowed: " + c.MethodsText + "."
		t.Fail(stRoute, checkCORS, d)
		return &reason.Error{Code: reason.CORSMethodNotAllowed, Detail: d}
	}
	if bad, found := c.DisallowedHeader(r.Header[hReqHeaders]); found {
		d := "The preflight from origin " + quoteOrigin(origin) + " asks to send the header " + quoteOrigin(bad) +
			", which this route does not allow from pages on other origins; allowed: " + c.HeadersText + "."
		t.Fail(stRoute, checkCORS, d)
		return &reason.Error{Code: reason.CORSHeaderNotAllowed, Detail: d}
	}
	t.Pass(stRoute, checkCORS, detail)
	t.Skip(stExtract, "credential", "CORS preflight: answered by the gateway; a browser never sends a credential on a preflight")
	h := w.Header()
	h[hAllowOrigin] = acao
	if c.AllowCredentials != nil {
		h[hAllowCreds] = c.AllowCredentials
	}
	if c.AllowMethods != nil {
		h[hAllowMethods] = c.AllowMethods
	} else {
		h[hAllowMethods] = r.Header[hReqMethod][:1:1] // any method: the one asked for
	}
	if rh := r.Header[hReqHeaders]; len(rh) > 0 {
		h[hAllowHeaders] = rh // every one was checked above
	}
	if c.MaxAge != nil {
		h[hMaxAge] = c.MaxAge
	}
	h[hVary] = c.VaryPreflight
	w.WriteHeader(http.StatusNoContent)
	call.Status = http.StatusNoContent
	t.Pass(stForward, "preflight", "answered by the gateway: 204, the upstream was not called")
	return nil
}

// cors checks an actual request's Origin on a route with a CORS policy
// and, for an allowed origin, sets the fields every answer carries from
// here on (rejections too). A request without Origin, or from the
// gateway's own origin, is not a cross-origin one and passes untouched but
// for Vary.
func corsActual(h http.Header, r *http.Request, c *snapshot.CORS, t *trace.Trace) *reason.Error {
	h[hVary] = c.Vary
	o := r.Header[hOrigin]
	if len(o) == 0 || o[0] == "" {
		t.Skip(stRoute, checkCORS, "no Origin: not a cross-origin call from a browser")
		return nil
	}
	if sameOrigin(r, o[0]) {
		t.Skip(stRoute, checkCORS, "same-origin call: CORS does not apply")
		return nil
	}
	acao, detail, ok := c.Match(o[0])
	if !ok {
		return originRefused(o[0], c, t)
	}
	h[hAllowOrigin] = acao
	if c.AllowCredentials != nil {
		h[hAllowCreds] = c.AllowCredentials
	}
	h[hExposeHeaders] = c.ExposeHeaders
	t.Pass(stRoute, checkCORS, detail)
	return nil
}

// originRefused is cors.origin_not_allowed: the caller is told its own
// origin, the operator the allowed ones.
func originRefused(origin string, c *snapshot.CORS, t *trace.Trace) *reason.Error {
	d := "Origin " + quoteOrigin(origin) + " is not allowed to call this route from a browser."
	dbg := "allowed origins: " + c.OriginsText
	t.Fail(stRoute, checkCORS, d)
	t.Private(stRoute, checkCORS, domain.OutcomeFail, dbg)
	return &reason.Error{Code: reason.CORSOriginNotAllowed, Detail: d, Debug: dbg}
}

// sameOrigin reports a call from a page the gateway's own host served. A
// browser says so in Sec-Fetch-Site, which a page cannot set; older ones
// are recognised by the Origin's host and port matching Host (the scheme
// is not compared: TLS may end in front of the gateway).
func sameOrigin(r *http.Request, origin string) bool {
	if sf := r.Header[hSecFetchSite]; len(sf) > 0 && sf[0] == "same-origin" {
		return true
	}
	_, hostport, ok := strings.Cut(origin, "://")
	return ok && r.Host != "" && strings.EqualFold(hostport, r.Host)
}

// maxEcho bounds how much of a caller's Origin or header name a detail
// repeats.
const maxEcho = 200

func quoteOrigin(s string) string {
	if len(s) > maxEcho {
		n := maxEcho
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return "'" + s + "'"
}

// corsDryRun is whoami's view of the cors step for a page on origin (the
// ?origin= parameter): what a browser call carrying a credential would
// meet, preflight included.
func corsDryRun(route *snapshot.Route, origin string, t *trace.Trace) *reason.Error {
	c := route.CORSPolicy
	if c == nil {
		d := "This route has no CORS policy: a page on origin " + quoteOrigin(origin) +
			" cannot call it (its preflight is refused, and the answer carries no Access-Control-Allow-Origin)."
		t.Fail(stRoute, checkCORS, d)
		return &reason.Error{Code: reason.CORSOriginNotAllowed, Detail: d}
	}
	_, detail, ok := c.Match(origin)
	if !ok {
		return originRefused(origin, c, t)
	}
	t.Pass(stRoute, checkCORS, detail)
	return nil
}
