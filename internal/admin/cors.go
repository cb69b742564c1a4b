package admin

import (
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/domain"
)

// corsInput is a route's CORS policy as sent (§8). Browsers enforce CORS;
// every mistake refused here is one a developer would otherwise meet as an
// opaque error in a browser console.
type corsInput struct {
	// AllowedOrigins are the origins of the pages that may call the route:
	// "https://app.example.com", "http://localhost:3000", a subdomain
	// pattern "https://*.example.com", or ["*"] for any page.
	AllowedOrigins []string `json:"allowed_origins"`
	// AllowedMethods a page may use; empty: the route's methods.
	AllowedMethods []string `json:"allowed_methods,omitempty"`
	// AllowedHeaders a page may send; empty or ["*"]: any. The headers the
	// route's credentials travel in are always allowed.
	AllowedHeaders []string `json:"allowed_headers,omitempty"`
	// ExposedHeaders a page may read beyond the CORS-safelisted ones and
	// the gateway's own (X-Request-Id, RateLimit, Retry-After, …).
	ExposedHeaders []string `json:"exposed_headers,omitempty"`
	// AllowCredentials lets pages send cookies, HTTP authentication and
	// client certificates; not with the "*" origin.
	AllowCredentials bool `json:"allow_credentials,omitempty"`
	// MaxAge is how long a browser may cache the preflight answer, e.g.
	// "10m"; at most 24h.
	MaxAge string `json:"max_age,omitempty"`
}

// maxCORSAge is the longest preflight cache any browser honours (Firefox;
// Chromium caps at 2h): a longer one would only mislead the operator.
const maxCORSAge = 24 * time.Hour

var (
	schemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	// labelsRE is a DNS name of at least one label.
	labelsRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	// tokenRE is an HTTP field name (RFC 9110 token).
	tokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// buildCORS validates and normalises a route's CORS policy (nil stays nil).
// routeMethods are the route's own methods (empty: any).
func buildCORS(field string, in *corsInput, routeMethods []string) (*domain.CORS, error) {
	if in == nil {
		return nil, nil
	}
	c := &domain.CORS{AllowCredentials: in.AllowCredentials}
	if len(in.AllowedOrigins) == 0 {
		return nil, invalid("%s.allowed_origins is required: the origins of the pages that may call this route, "+
			"e.g. [\"https://app.example.com\"], or [\"*\"] for any page (then without allow_credentials)", field)
	}
	for i, o := range in.AllowedOrigins {
		n, err := normOrigin(field+".allowed_origins["+strconv.Itoa(i)+"]", o)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(c.AllowedOrigins, n) {
			c.AllowedOrigins = append(c.AllowedOrigins, n)
		}
	}
	anyOrigin := slices.Contains(c.AllowedOrigins, "*")
	switch {
	case anyOrigin && len(c.AllowedOrigins) > 1:
		return nil, invalid("%s.allowed_origins: \"*\" already allows every origin; list no other origin next to it", field)
	case anyOrigin && c.AllowCredentials:
		return nil, invalid("%s.allow_credentials cannot be true with the \"*\" origin: browsers refuse "+
			"Access-Control-Allow-Origin: * on a request with credentials; list the origins instead, e.g. [\"https://app.example.com\"]", field)
	}
	for i, m := range in.AllowedMethods {
		u := strings.ToUpper(strings.TrimSpace(m))
		f := field + ".allowed_methods[" + strconv.Itoa(i) + "]"
		if !slices.Contains(httpMethods, u) {
			return nil, invalid("%s %q is not an HTTP method: use %s (empty means the route's methods)", f, m, strings.Join(httpMethods, ", "))
		}
		if len(routeMethods) > 0 && !slices.Contains(routeMethods, u) {
			return nil, invalid("%s %q is not one of the route's methods (%s): such a call would answer method.not_allowed anyway",
				f, m, strings.Join(routeMethods, ", "))
		}
		if !slices.Contains(c.AllowedMethods, u) {
			c.AllowedMethods = append(c.AllowedMethods, u)
		}
	}
	for i, h := range in.AllowedHeaders {
		l := strings.ToLower(strings.TrimSpace(h))
		if l != "*" && !tokenRE.MatchString(l) {
			return nil, invalid("%s.allowed_headers[%d] %q is not a header name, e.g. \"content-type\" (or \"*\" for any)", field, i, h)
		}
		if !slices.Contains(c.AllowedHeaders, l) {
			c.AllowedHeaders = append(c.AllowedHeaders, l)
		}
	}
	for i, h := range in.ExposedHeaders {
		h = strings.TrimSpace(h)
		switch {
		case h == "*" && c.AllowCredentials:
			return nil, invalid("%s.exposed_headers[%d] \"*\" does not work with allow_credentials: browsers then read it as a header named \"*\"; "+
				"name the headers, e.g. [\"X-Total-Count\"]", field, i)
		case h != "*" && !tokenRE.MatchString(h):
			return nil, invalid("%s.exposed_headers[%d] %q is not a header name, e.g. \"X-Total-Count\"", field, i, h)
		}
		if !slices.ContainsFunc(c.ExposedHeaders, func(x string) bool { return strings.EqualFold(x, h) }) {
			c.ExposedHeaders = append(c.ExposedHeaders, h)
		}
	}
	if in.MaxAge != "" {
		d, err := parseDuration(in.MaxAge)
		if err != nil {
			return nil, invalid("%s.max_age %v", field, err)
		}
		switch {
		case d < 0 || d > maxCORSAge:
			return nil, invalid("%s.max_age %q must be from 0 to 24h: browsers cache a preflight at most that long (Chromium at most 2h)", field, in.MaxAge)
		case d%time.Second != 0:
			return nil, invalid("%s.max_age %q must be whole seconds: Access-Control-Max-Age counts seconds", field, in.MaxAge)
		}
		c.MaxAge = domain.Duration(d)
	}
	return c, nil
}

// normOrigin checks one allowed origin and returns it as a browser
// serialises an Origin: lower case, no default port, no trailing slash.
func normOrigin(field, o string) (string, error) {
	s := strings.TrimSpace(o)
	if s == "*" {
		return s, nil
	}
	example := "e.g. \"https://app.example.com\", \"http://localhost:3000\" or \"https://*.example.com\""
	if strings.EqualFold(s, "null") {
		return "", invalid("%s \"null\" is refused: sandboxed iframes, file: pages and some redirects all send Origin: null, "+
			"so allowing it lets any of them read the answers; list real origins, or \"*\" if any page may", field)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	scheme = strings.ToLower(scheme)
	if !ok || !schemeRE.MatchString(scheme) || rest == "" {
		return "", invalid("%s %q is not an origin: write scheme://host[:port], %s", field, o, example)
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return "", invalid("%s %q has a path: an origin is scheme://host[:port] only, without a trailing slash; write %q",
			field, o, scheme+"://"+strings.ToLower(rest[:i]))
	}
	if strings.Contains(rest, "@") {
		return "", invalid("%s %q has user information: an origin is scheme://host[:port] only", field, o)
	}
	rest = strings.ToLower(rest)
	host, port := rest, ""
	if h, p, err := net.SplitHostPort(rest); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") {
		host = rest[1 : len(rest)-1]
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return "", invalid("%s %q: the port must be a number from 1 to 65535", field, o)
		}
		if scheme == "https" && n == 443 || scheme == "http" && n == 80 {
			port = "" // browsers leave the default port out of Origin
		}
	}
	name := host
	if base, ok := strings.CutPrefix(host, "*."); ok {
		// A pattern over a bare top-level domain ("*.com") would allow
		// the whole internet's pages.
		if !strings.Contains(base, ".") || !labelsRE.MatchString(base) {
			return "", invalid("%s %q: a subdomain pattern needs a domain of at least two labels after \"*.\", e.g. \"https://*.example.com\"", field, o)
		}
		name = base
	}
	switch {
	case strings.Contains(name, "*"):
		return "", invalid("%s %q: only a leading \"*.\" label is a pattern (\"https://*.example.com\"); write \"*\" alone for any origin", field, o)
	case net.ParseIP(name) != nil:
		if strings.Contains(name, ":") {
			host = "[" + name + "]"
		}
	case !labelsRE.MatchString(name):
		return "", invalid("%s %q: %q is not a host name; %s", field, o, name, example)
	}
	out := scheme + "://" + host
	if port != "" {
		out += ":" + port
	}
	return out, nil
}

func corsToInput(c *domain.CORS) *corsInput {
	if c == nil {
		return nil
	}
	in := &corsInput{AllowedOrigins: slices.Clone(c.AllowedOrigins), AllowedMethods: slices.Clone(c.AllowedMethods),
		AllowedHeaders: slices.Clone(c.AllowedHeaders), ExposedHeaders: slices.Clone(c.ExposedHeaders), AllowCredentials: c.AllowCredentials}
	if c.MaxAge > 0 {
		in.MaxAge = c.MaxAge.D().String()
	}
	return in
}
