// Package credential is the seam every authentication scheme plugs into:
// one small interface, one implementation per scheme in a sub-package
// (apikey/ now; jwt/, introspect/, httpsig/, mtls/, basic/ later), one
// registration line in the server. The pipeline picks the verifier by the
// route's accepted methods and the shape of what was presented.
package credential

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

// Input is what a verifier sees of one request.
type Input struct {
	// Request is the request being authenticated, for schemes that need
	// more than the presented token: an RFC 9421 signature covers the
	// method, path and headers; mTLS reads r.TLS. Verifiers must not
	// consume r.Body unless they put back an equivalent reader.
	Request   *http.Request
	Snap      *snapshot.Snapshot
	Presented authheader.Credential
	// ClientIP is the address the pipeline attributes the request to
	// (X-Forwarded-For only from trusted proxies), for schemes that count
	// failures per client (basic); invalid when it could not be told.
	ClientIP netip.Addr
	// Env is the environment this gateway serves.
	Env string
	Now time.Time
	// ExpiryWarning is how long before expiry responses start to carry
	// Gatehouse-Credential-Expires (0: never).
	ExpiryWarning time.Duration
	Trace         *trace.Trace
}

// Identity is who a verified credential belongs to. Possession is proven
// once a verifier returns it.
type Identity struct {
	Type string // domain.AuthAPIKey, …
	// Environment is the credential's environment when it has one (API
	// keys: live or test), for services pinned to one.
	Environment  string
	CredentialID string
	Consumer     *snapshot.Consumer
	Scopes       []string
	ScopeHeader  string
	ExpiresAt    *time.Time
	// IPAllow is the credential's own allow-list (the consumer's is
	// checked separately by the authorize stage).
	IPAllow []netip.Prefix
	// Response headers to add when the call is allowed.
	RotatedHeader string // Gatehouse-Credential-Rotated
	ExpiresHeader string // Gatehouse-Credential-Expires
}

// Verifier verifies one kind of credential.
type Verifier interface {
	// Method is the route auth method it implements (domain.AuthAPIKey…).
	Method() string
	// Recognizes reports whether the presented credential is of this kind
	// (cheap, offline: a scheme or a prefix).
	Recognizes(p authheader.Credential) bool
	// Verify checks the credential (format, secret, lifecycle), appends its
	// steps to in.Trace, and returns the identity or the rejection.
	Verify(in *Input) (Identity, *reason.Error)
}

// Detector is implemented by verifiers whose credential is not an
// Authorization value (an RFC 9421 signature, a client certificate): the
// extract stage asks each accepted Detector when the headers carried no
// credential, and answers auth.ambiguous when both did.
type Detector interface {
	Detect(r *http.Request) (authheader.Credential, bool)
}

// TokenBinding is a jwt_binding credential as the token verifiers (jwt,
// introspect) see it: the (issuer, claim, value) it maps to a consumer,
// and the grant that bounds every token it maps.
type TokenBinding struct {
	CredentialID string // the binding's own id (crd_…)
	Consumer     *snapshot.Consumer
	// Scopes is the most a token bound here may carry: the binding's own
	// scopes, else the consumer's granted scopes (§9: a credential's
	// scopes are a subset of its consumer's), as for every other type.
	Scopes      []string
	ScopeHeader string
	ExpiresAt   *time.Time
	IPAllow     []netip.Prefix
}

// GrantScopes returns the scopes a token bound through b carries, and
// their header value. §9: "credential scopes ⊆ consumer's granted
// scopes" — an issuer decides what it puts in a token, the gateway's
// operator what an application may do: a token's scope claim (claimed)
// is cut to b's grant; a token without one carries b's grant, as an API
// key carries the scopes it was issued with. dropped lists what the token
// claimed beyond the grant, for the trace.
//
// It allocates only when the token claims a scope the grant lacks: the
// usual token, within its grant, keeps its own slice and header.
func (b *TokenBinding) GrantScopes(token []string, tokenHeader string, claimed bool) (scopes []string, header string, dropped []string) {
	if !claimed {
		return b.Scopes, b.ScopeHeader, nil
	}
	within := true
	for _, s := range token {
		if !slices.Contains(b.Scopes, s) {
			within = false
			break
		}
	}
	if within {
		return token, tokenHeader, nil
	}
	for _, s := range token {
		if slices.Contains(b.Scopes, s) {
			scopes = append(scopes, s)
		} else {
			dropped = append(dropped, s)
		}
	}
	return scopes, strings.Join(scopes, " "), dropped
}
