package snapshot

import (
	"slices"
	"strconv"
	"strings"

	"gatehouse/internal/domain"
)

// CORS is a route's compiled CORS policy (§8). The origin matcher and every
// Access-Control-* value are built once per snapshot; header values are
// shared slices (net/http never modifies a header's value slice), so
// answering CORS for an exact or "*" origin allocates nothing per request.
// Only a subdomain pattern's match costs one small slice: the answer must
// echo the origin that matched.
type CORS struct {
	// Any is true for the "*" origin.
	Any bool
	// Credentials is true when the route allows credentialed requests.
	Credentials bool
	// exact maps a normalised origin to its answer.
	exact    map[string]corsOrigin
	patterns []corsPattern
	// methods is nil for "any method"; headers nil for "any header".
	methods map[string]bool
	headers map[string]bool

	// OriginsText lists the allowed origins for the operator's trace
	// (the caller is not told: see the pipeline's cors step).
	OriginsText string
	// MethodsText and HeadersText name what a preflight may ask for, for
	// the details of cors.method_not_allowed and cors.header_not_allowed.
	MethodsText, HeadersText string
	// AnyDetail is the trace detail of a "*" match.
	AnyDetail string

	// Header values: Access-Control-Allow-Origin for "*",
	// -Allow-Credentials, -Expose-Headers, -Allow-Methods (nil: echo the
	// requested method), -Max-Age (nil: none), and the Vary values of an
	// actual request and of a preflight.
	Star, AllowCredentials, ExposeHeaders, AllowMethods, MaxAge []string
	Vary, VaryPreflight                                         []string
}

type corsOrigin struct {
	value  []string
	detail string
}

// corsPattern is "scheme://*.domain[:port]": prefix "scheme://", suffix
// ".domain[:port]".
type corsPattern struct {
	prefix, suffix, detail string
}

// gatewayExposed are the response fields the gateway itself sets, always
// exposed to pages: a page can then quote the request ID, honour
// Retry-After and see a rotated or expiring key, not only read the body.
var gatewayExposed = []string{"X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy",
	"Gatehouse-Credential-Rotated", "Gatehouse-Credential-Expires", "WWW-Authenticate"}

// credentialHeaders are the request fields each auth method reads: a page
// must be able to send them, so they are allowed whatever the policy lists.
func credentialHeaders(accepts []string, out map[string]bool) {
	for _, a := range accepts {
		switch a {
		case domain.AuthAPIKey:
			out["authorization"], out["x-api-key"] = true, true
		case domain.AuthJWT, domain.AuthIntrospection, domain.AuthBasic:
			out["authorization"] = true
		case domain.AuthHTTPSignature:
			out["signature"], out["signature-input"], out["content-digest"] = true, true, true
		}
	}
}

// compileCORS compiles a route's policy; nil stays nil. It trusts what the
// admin API validated and normalised, and skips what it cannot read rather
// than failing the whole snapshot for one route.
func compileCORS(c *domain.CORS, routeMethods, accepts []string) *CORS {
	if c == nil {
		return nil
	}
	p := &CORS{
		exact:         map[string]corsOrigin{},
		Star:          []string{"*"},
		Vary:          []string{"Origin"},
		VaryPreflight: []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"},
		AnyDetail:     "origin allowed: the route allows any origin (*)",
	}
	for _, o := range c.AllowedOrigins {
		o = strings.ToLower(strings.TrimSpace(o))
		if o == "*" {
			p.Any = true
			continue
		}
		scheme, host, ok := strings.Cut(o, "://")
		if !ok || host == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(host, "*."); ok && rest != "" {
			p.patterns = append(p.patterns, corsPattern{prefix: scheme + "://", suffix: "." + rest,
				detail: "origin allowed: matches " + o})
			continue
		}
		p.exact[o] = corsOrigin{value: []string{o}, detail: "origin allowed: " + o}
	}
	p.OriginsText = strings.Join(c.AllowedOrigins, ", ")
	if p.Any {
		p.OriginsText = "* (any origin)"
	}
	p.Credentials = c.AllowCredentials && !p.Any
	if p.Credentials {
		p.AllowCredentials = []string{"true"}
	}

	methods := c.AllowedMethods
	if len(methods) == 0 {
		methods = routeMethods
	}
	if len(methods) > 0 {
		p.methods = make(map[string]bool, len(methods))
		var list []string
		for _, m := range methods {
			m = strings.ToUpper(m)
			if !p.methods[m] {
				p.methods[m] = true
				list = append(list, m)
			}
		}
		p.MethodsText = strings.Join(list, ", ")
		p.AllowMethods = []string{p.MethodsText}
	} else {
		p.MethodsText = "any method"
	}

	if len(c.AllowedHeaders) > 0 && !slices.Contains(c.AllowedHeaders, "*") {
		p.headers = map[string]bool{}
		for _, h := range c.AllowedHeaders {
			p.headers[strings.ToLower(strings.TrimSpace(h))] = true
		}
		credentialHeaders(accepts, p.headers)
		list := make([]string, 0, len(p.headers))
		for h := range p.headers {
			list = append(list, h)
		}
		slices.Sort(list)
		p.HeadersText = strings.Join(list, ", ")
	} else {
		p.HeadersText = "any header"
	}

	exposed := slices.Clone(gatewayExposed)
	for _, h := range c.ExposedHeaders {
		if !slices.ContainsFunc(exposed, func(e string) bool { return strings.EqualFold(e, h) }) {
			exposed = append(exposed, h)
		}
	}
	p.ExposeHeaders = []string{strings.Join(exposed, ", ")}
	if secs := int64(c.MaxAge.D().Seconds()); secs > 0 {
		p.MaxAge = []string{strconv.FormatInt(secs, 10)}
	}
	return p
}

// Match reports whether origin (the request's Origin field) may call the
// route: the Access-Control-Allow-Origin value to answer and the trace
// detail of the match.
func (p *CORS) Match(origin string) (acao []string, detail string, ok bool) {
	if p.Any {
		return p.Star, p.AnyDetail, true
	}
	o := strings.ToLower(origin) // no copy when already lower case, as browsers send it
	if e, ok := p.exact[o]; ok {
		return e.value, e.detail, true
	}
	for i := range p.patterns {
		if p.patterns[i].match(o) {
			return []string{origin}, p.patterns[i].detail, true
		}
	}
	return nil, "", false
}

// match requires the scheme, the port (or none) and one or more whole DNS
// labels before the domain: "https://a.b.example.com" matches
// "https://*.example.com"; "https://example.com", "http://a.example.com",
// "https://a.example.com:8443" and "https://evil.com/.example.com" do not.
func (c *corsPattern) match(o string) bool {
	if len(o) <= len(c.prefix)+len(c.suffix) || !strings.HasPrefix(o, c.prefix) || !strings.HasSuffix(o, c.suffix) {
		return false
	}
	sub := o[len(c.prefix) : len(o)-len(c.suffix)]
	prev := byte('.')
	for i := 0; i < len(sub); i++ {
		b := sub[i]
		switch {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '-':
		case b == '.' && prev != '.':
		default:
			return false
		}
		prev = b
	}
	return prev != '.'
}

// AllowsMethod reports whether a preflight may ask for method.
func (p *CORS) AllowsMethod(m string) bool { return p.methods == nil || p.methods[m] }

// DisallowedHeader returns the first header of a preflight's
// Access-Control-Request-Headers list (comma-separated, as browsers send
// it) that the route does not allow.
func (p *CORS) DisallowedHeader(requested []string) (string, bool) {
	if p.headers == nil {
		return "", false
	}
	for _, line := range requested {
		for rest := line; rest != ""; {
			var h string
			h, rest, _ = strings.Cut(rest, ",")
			h = strings.TrimSpace(h)
			if h == "" {
				continue
			}
			if !p.headers[h] && !p.headers[strings.ToLower(h)] {
				return h, true
			}
		}
	}
	return "", false
}
