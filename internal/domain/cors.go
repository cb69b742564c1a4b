package domain

// CORS is a route's cross-origin policy for browsers (§8): which web
// origins may call the route from a page, with what. The gateway answers
// the browser's preflight itself and puts the Access-Control-* fields on
// every answer to an allowed origin, rejections included, so a page can
// read the gateway's problem+json instead of an opaque CORS error.
type CORS struct {
	// AllowedOrigins are exact origins ("https://app.example.com",
	// "http://localhost:3000"), subdomain patterns
	// ("https://*.example.com": one or more labels before the domain, same
	// scheme and port) or the single entry "*" (any origin, without
	// credentials). Stored normalised: lower case, no default port.
	AllowedOrigins []string `json:"allowed_origins"`
	// AllowedMethods a browser may use; empty means the route's methods
	// (any, if the route names none).
	AllowedMethods []string `json:"allowed_methods,omitempty"`
	// AllowedHeaders a page may send (lower case); empty or "*" means any.
	// The headers the route's credentials travel in are always allowed.
	AllowedHeaders []string `json:"allowed_headers,omitempty"`
	// ExposedHeaders a page may read beyond the CORS-safelisted ones.
	ExposedHeaders []string `json:"exposed_headers,omitempty"`
	// AllowCredentials lets pages send cookies, HTTP authentication and
	// client certificates (fetch's credentials: "include"). Never with
	// the "*" origin: browsers refuse that combination.
	AllowCredentials bool `json:"allow_credentials,omitempty"`
	// MaxAge is how long a browser may cache a preflight answer (whole
	// seconds, at most 24h); zero sends no Access-Control-Max-Age, and
	// browsers then cache it for 5 seconds.
	MaxAge Duration `json:"max_age,omitempty"`
}
