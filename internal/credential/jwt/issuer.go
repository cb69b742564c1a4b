package jwt

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/credential/jwt/jose"
)

// Defaults for Issuer fields left zero.
const (
	DefaultLeeway          = 60 * time.Second
	DefaultRefetchInterval = 30 * time.Second
	DefaultRefreshInterval = 10 * time.Minute
	DefaultMaxTokenBytes   = 8 << 10
	// MinHS256SecretBytes is RFC 7518 §3.2: an HS256 key is at least as
	// long as the hash output.
	MinHS256SecretBytes = 32
)

// DefaultAlgorithms are allowed when Issuer.Algorithms is empty. "Ed25519"
// is RFC 9864's fully-specified name for what "EdDSA" means here.
func DefaultAlgorithms() []string { return []string{"RS256", "PS256", "ES256", "EdDSA", "Ed25519"} }

// DefaultBindingClaims are the claims a token is mapped to a consumer by,
// in this order, when Issuer.BindingClaims is empty.
func DefaultBindingClaims() []string { return []string{"sub", "client_id", "azp"} }

// Issuer is one trusted token issuer. Build it with NewIssuer, which fills
// defaults and refuses a configuration that could not verify tokens safely
// (so a bad issuer stops the gateway at startup, not each request).
type Issuer struct {
	// Name is the operator's name for the issuer ("okta-prod"): it appears
	// in traces, credential ids and bindings.
	Name string
	// Issuer is the exact iss value tokens carry. No normalisation: a
	// trailing slash matters (RFC 7519 §4.1.1 compares case-sensitively).
	Issuer string
	// JWKSURL or DiscoveryURL (an OpenID provider's base URL or its
	// /.well-known/openid-configuration) locate the signing keys; one of
	// them is needed unless only HS256 is allowed.
	JWKSURL      string
	DiscoveryURL string
	// Audiences: a token's aud must contain one of them. Empty requires
	// AnyAudience, an explicit opt-out (RFC 8725 §3.9).
	Audiences   []string
	AnyAudience bool
	// Algorithms allowed (default RS256, PS256, ES256, EdDSA, Ed25519, plus
	// HS256 when HS256Secret is set). "none" is never allowed.
	Algorithms []string
	// HS256Secret enables HS256 with this shared secret (≥ 32 bytes). The
	// secret is never used with a kid from the key set.
	HS256Secret []byte
	// Leeway for exp, nbf and iat: 0 means DefaultLeeway; negative means
	// none (exp == now is then rejected, RFC 7519 §4.1.4).
	Leeway time.Duration
	// RequiredClaims must be present (exp always is: a token without it
	// would be valid forever).
	RequiredClaims []string
	// Typ, when set, is the required header typ, e.g. "at+jwt" (RFC 9068
	// §4); "application/" and letter case are ignored (RFC 7515 §4.1.9).
	Typ string
	// BindingClaims are tried in order to find the token's consumer
	// (default sub, client_id, azp).
	BindingClaims []string
	// RefetchInterval is the least time between two fetches triggered by
	// an unknown kid; RefreshInterval the background refresh period.
	RefetchInterval time.Duration
	RefreshInterval time.Duration
	// MaxTokenBytes bounds this issuer's tokens (default 8 KiB).
	MaxTokenBytes int

	algs       []string
	typ        string // normalised Typ
	leeway     time.Duration
	asymmetric bool // an asymmetric algorithm is allowed: a key set is needed
	built      bool // made by NewIssuer
}

// NewIssuer returns a validated copy of cfg with defaults filled in.
func NewIssuer(cfg Issuer) (*Issuer, error) {
	iss := cfg
	iss.Audiences = append([]string(nil), cfg.Audiences...)
	iss.RequiredClaims = append([]string(nil), cfg.RequiredClaims...)
	iss.BindingClaims = append([]string(nil), cfg.BindingClaims...)
	iss.Algorithms = append([]string(nil), cfg.Algorithms...)
	iss.HS256Secret = append([]byte(nil), cfg.HS256Secret...)
	if err := iss.validate(); err != nil {
		name := cfg.Name
		if name == "" {
			name = cfg.Issuer
		}
		return nil, fmt.Errorf("issuer %q: %w", name, err)
	}
	return &iss, nil
}

func (iss *Issuer) validate() error {
	if iss.Name == "" {
		return errors.New("no name")
	}
	if iss.Issuer == "" {
		return errors.New("no iss value (Issuer)")
	}
	if iss.JWKSURL != "" && iss.DiscoveryURL != "" {
		return errors.New("set JWKSURL or DiscoveryURL, not both")
	}
	for _, u := range []struct{ field, v string }{{"JWKSURL", iss.JWKSURL}, {"DiscoveryURL", iss.DiscoveryURL}} {
		if u.v == "" {
			continue
		}
		if err := checkURL(u.v); err != nil {
			return fmt.Errorf("%s: %w", u.field, err)
		}
	}
	if len(iss.HS256Secret) > 0 && len(iss.HS256Secret) < MinHS256SecretBytes {
		return fmt.Errorf("the HS256 secret is %d bytes; RFC 7518 §3.2 requires at least %d (use 32 random bytes)",
			len(iss.HS256Secret), MinHS256SecretBytes)
	}
	algs := iss.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms()
		if len(iss.HS256Secret) > 0 {
			algs = append(algs, "HS256")
		}
	}
	iss.algs = nil
	iss.asymmetric = false
	for _, a := range algs {
		switch {
		case strings.EqualFold(a, "none"):
			return errors.New("alg none can never be allowed (RFC 8725 §3.2)")
		case !jose.Supported(a):
			return fmt.Errorf("unsupported algorithm %q (supported: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, Ed25519, HS256)", a)
		case jose.Symmetric(a):
			if len(iss.HS256Secret) == 0 {
				return fmt.Errorf("%s is allowed but no HS256 secret is configured", a)
			}
		default:
			iss.asymmetric = true
		}
		if !contains(iss.algs, a) {
			iss.algs = append(iss.algs, a)
		}
	}
	if len(iss.HS256Secret) > 0 && !contains(iss.algs, "HS256") {
		return errors.New("an HS256 secret is configured but HS256 is not in Algorithms")
	}
	if iss.asymmetric && iss.JWKSURL == "" && iss.DiscoveryURL == "" {
		if len(iss.Algorithms) == 0 && len(iss.HS256Secret) > 0 {
			// Only a secret configured: HS256 alone.
			iss.algs, iss.asymmetric = []string{"HS256"}, false
		} else {
			return errors.New("asymmetric algorithms are allowed but neither JWKSURL nor DiscoveryURL is set")
		}
	}
	if len(iss.Audiences) == 0 && !iss.AnyAudience {
		return errors.New("no Audiences: set the audience(s) this gateway's APIs have in tokens, or AnyAudience to accept any")
	}
	for _, a := range iss.Audiences {
		if a == "" {
			return errors.New("empty audience")
		}
	}
	for _, c := range iss.RequiredClaims {
		if c == "" {
			return errors.New("empty required claim name")
		}
	}
	switch {
	case iss.Leeway == 0:
		iss.leeway = DefaultLeeway
	case iss.Leeway < 0:
		iss.leeway = 0
	default:
		iss.leeway = iss.Leeway
	}
	iss.typ = normType(iss.Typ)
	if len(iss.BindingClaims) == 0 {
		iss.BindingClaims = DefaultBindingClaims()
	}
	if iss.RefetchInterval < 0 || iss.RefreshInterval < 0 || iss.MaxTokenBytes < 0 {
		return errors.New("negative interval or size")
	}
	if iss.RefetchInterval == 0 {
		iss.RefetchInterval = DefaultRefetchInterval
	}
	if iss.RefreshInterval == 0 {
		iss.RefreshInterval = DefaultRefreshInterval
	}
	if iss.MaxTokenBytes == 0 {
		iss.MaxTokenBytes = DefaultMaxTokenBytes
	}
	iss.built = true
	return nil
}

// checkURL accepts absolute http(s) URLs without credentials (secrets in
// URLs end up in logs).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.User != nil {
		return errors.New("credentials in the URL are not allowed")
	}
	return nil
}

// String describes the issuer without its secret, so that printing or
// logging an Issuer never leaks the HS256 key.
func (iss *Issuer) String() string {
	s := "issuer " + strconv.Quote(iss.Name) + " (iss " + strconv.Quote(iss.Issuer)
	if len(iss.HS256Secret) > 0 {
		s += ", HS256 secret of " + strconv.Itoa(len(iss.HS256Secret)) + " bytes"
	}
	return s + ")"
}

// LogValue implements slog.LogValuer without the secret.
func (iss *Issuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", iss.Name), slog.String("iss", iss.Issuer),
		slog.String("jwks_url", iss.JWKSURL), slog.String("discovery_url", iss.DiscoveryURL),
		slog.Bool("hs256", len(iss.HS256Secret) > 0))
}

// AllowedAlgorithms returns the effective allow-list.
func (iss *Issuer) AllowedAlgorithms() []string { return append([]string(nil), iss.algs...) }

// EffectiveLeeway is the leeway applied to exp, nbf and iat.
func (iss *Issuer) EffectiveLeeway() time.Duration { return iss.leeway }

func (iss *Issuer) allows(alg string) bool { return contains(iss.algs, alg) }

// normType lower-cases a media type and drops "application/" (RFC 7515
// §4.1.9 lets producers omit it).
func normType(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
