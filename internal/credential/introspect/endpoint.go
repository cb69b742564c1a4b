package introspect

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"
)

// Defaults for Endpoint fields left zero.
const (
	DefaultPositiveTTL      = 5 * time.Minute
	DefaultNegativeTTL      = 10 * time.Second
	DefaultTimeout          = 3 * time.Second
	DefaultMaxResponseBytes = 64 << 10
)

// DefaultBindingClaims are the members of an introspection answer a token
// is mapped to a consumer by, in this order, when Endpoint.BindingClaims
// is empty: the resource owner, then the client (client-credentials
// tokens have no owner).
func DefaultBindingClaims() []string { return []string{"sub", "client_id"} }

// Endpoint is one issuer's RFC 7662 introspection endpoint. Build it with
// NewEndpoint from a domain.Issuer (its secret opened), once per snapshot:
// the verifier's cache is keyed to the *Endpoint, so a changed
// configuration (a new pointer) is never answered from an old one.
type Endpoint struct {
	// Name is the issuer's name (domain.Issuer.Name): bindings and
	// credential ids use it, as for JWTs of the same issuer.
	Name string
	// URL is domain.Issuer.IntrospectionURL: absolute http(s), no
	// credentials in it.
	URL string
	// ClientID and ClientSecret authenticate the gateway to the endpoint
	// (client_secret_basic, RFC 6749 §2.3.1).
	ClientID     string
	ClientSecret []byte
	// Audiences: when set, an active token's aud must name one of them
	// (domain.Issuer.Audiences; empty: aud is not checked).
	Audiences []string
	// BindingClaims are tried in order to find the consumer (default sub,
	// client_id).
	BindingClaims []string
	// PositiveTTL bounds how long an active answer is reused (it is never
	// reused past the token's exp); NegativeTTL how long an inactive one is.
	PositiveTTL time.Duration
	NegativeTTL time.Duration
	// Timeout bounds one introspection call.
	Timeout time.Duration
	// MaxResponseBytes bounds the answer read.
	MaxResponseBytes int

	auth  string // the Authorization header value
	built bool
}

// NewEndpoint returns a validated copy of cfg with defaults filled in.
func NewEndpoint(cfg Endpoint) (*Endpoint, error) {
	e := cfg
	e.ClientSecret = append([]byte(nil), cfg.ClientSecret...)
	e.Audiences = append([]string(nil), cfg.Audiences...)
	e.BindingClaims = append([]string(nil), cfg.BindingClaims...)
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("introspection endpoint of issuer %q: %w", cfg.Name, err)
	}
	return &e, nil
}

func (e *Endpoint) validate() error {
	if e.Name == "" {
		return errors.New("no issuer name")
	}
	u, err := url.Parse(e.URL)
	switch {
	case e.URL == "":
		return errors.New("no introspection URL")
	case err != nil:
		return fmt.Errorf("introspection URL: %w", err)
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		return fmt.Errorf("introspection URL %q is not an absolute http(s) URL", e.URL)
	case u.User != nil:
		return errors.New("credentials in the introspection URL are not allowed (set the client id and secret)")
	case u.Fragment != "":
		return errors.New("the introspection URL has a fragment")
	}
	// RFC 7662 §2.1: "the endpoint MUST also require some form of
	// authorization": the gateway always authenticates.
	if e.ClientID == "" || len(e.ClientSecret) == 0 {
		return errors.New("introspection needs a client id and a client secret (RFC 7662 §2.1 requires the caller to authenticate)")
	}
	for _, a := range e.Audiences {
		if a == "" {
			return errors.New("empty audience")
		}
	}
	if len(e.BindingClaims) == 0 {
		e.BindingClaims = DefaultBindingClaims()
	}
	for _, c := range e.BindingClaims {
		if c == "" || c == "active" {
			return fmt.Errorf("binding claim %q cannot name a consumer", c)
		}
	}
	if e.PositiveTTL < 0 || e.NegativeTTL < 0 || e.Timeout < 0 || e.MaxResponseBytes < 0 {
		return errors.New("negative TTL, timeout or size")
	}
	if e.PositiveTTL == 0 {
		e.PositiveTTL = DefaultPositiveTTL
	}
	if e.NegativeTTL == 0 {
		e.NegativeTTL = DefaultNegativeTTL
	}
	if e.Timeout == 0 {
		e.Timeout = DefaultTimeout
	}
	if e.MaxResponseBytes == 0 {
		e.MaxResponseBytes = DefaultMaxResponseBytes
	}
	// RFC 6749 §2.3.1: id and secret are each form-urlencoded before they
	// are joined with ':' and base64-encoded, so a ':' or a non-ASCII
	// byte in either survives the round trip.
	e.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(e.ClientID)+":"+url.QueryEscape(string(e.ClientSecret))))
	e.built = true
	return nil
}

// String describes the endpoint without its secret.
func (e *Endpoint) String() string {
	return "introspection endpoint of issuer " + strconv.Quote(e.Name) + " (" + e.URL + ", client " + strconv.Quote(e.ClientID) + ")"
}

// LogValue implements slog.LogValuer without the secret.
func (e *Endpoint) LogValue() slog.Value {
	return slog.GroupValue(slog.String("issuer", e.Name), slog.String("url", e.URL), slog.String("client_id", e.ClientID))
}

// GoString keeps %#v from printing the secret.
func (e *Endpoint) GoString() string { return e.String() }
