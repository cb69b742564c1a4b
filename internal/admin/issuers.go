package admin

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// Issuers are trusted JWT issuers (and introspection endpoints), shared by
// the whole gateway: admins create, change and delete them; every role
// reads them (a tenant-admin binds its consumers to them). Their secrets
// (hs256_secret, introspection_client_secret) are write-only: sealed under
// the master key (Config.Secrets) and never returned; the answer says only
// whether one is set.

// issuerRequest creates an issuer, or (PATCH) holds the fields to change.
// The secrets are pointers so PATCH tells "absent" (keep) from "" (remove).
type issuerRequest struct {
	Name string `json:"name"`
	// Issuer is the exact "iss" value of the tokens.
	Issuer                string `json:"issuer"`
	JWKSURL               string `json:"jwks_url,omitempty"`
	DiscoveryURL          string `json:"discovery_url,omitempty"`
	IntrospectionURL      string `json:"introspection_url,omitempty"`
	IntrospectionClientID string `json:"introspection_client_id,omitempty"`
	// IntrospectionClientSecret is write-only.
	IntrospectionClientSecret *string  `json:"introspection_client_secret,omitempty"`
	Audiences                 []string `json:"audiences,omitempty"`
	// Algorithms default to RS256, PS256, ES256, EdDSA when the issuer has
	// a key source (jwks_url, discovery_url), plus HS256 with hs256_secret.
	Algorithms     []string `json:"algorithms,omitempty"`
	Leeway         string   `json:"leeway,omitempty"` // default 60s, at most 10m
	RequiredClaims []string `json:"required_claims,omitempty"`
	Typ            string   `json:"typ,omitempty"`
	// HS256Secret (write-only) allows HS256 tokens signed with it; at
	// least 32 bytes.
	HS256Secret *string `json:"hs256_secret,omitempty"`
}

// issuerView is an issuer as the API shows it: its secrets only as flags.
type issuerView struct {
	domain.Issuer
	HasIntrospectionClientSecret bool `json:"has_introspection_client_secret"`
	HasHS256Secret               bool `json:"has_hs256_secret"`
}

func viewIssuer(i domain.Issuer) issuerView {
	return issuerView{Issuer: i, HasIntrospectionClientSecret: i.IntrospectionClientSecret != "", HasHS256Secret: i.HS256Secret != ""}
}

// JWT algorithms an issuer may allow (never "none"), and the default set.
var (
	jwtAlgorithms     = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256"}
	defaultAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}
	claimRE           = regexp.MustCompile(`^[!-~]{1,256}$`)
)

const (
	defaultLeeway    = 60 * time.Second
	maxLeeway        = 10 * time.Minute
	minHS256Secret   = 32
	maxSecretLength  = 4096
	maxIssuerLength  = 1024
	maxJWTTypeLength = 64
)

// issuerSecrets are the secrets of an issuer request after validation:
// plaintext to seal, or keep/remove instructions.
type issuerSecrets struct {
	hs256, introspection *string // nil: keep; "": remove; else: seal
}

// buildIssuer validates req into an issuer (secrets still to seal); cur is
// the stored issuer for PATCH (nil on create), whose sealed secrets count
// as present unless the request removes them.
func buildIssuer(req issuerRequest, cur *domain.Issuer) (domain.Issuer, issuerSecrets, error) {
	i := domain.Issuer{Name: req.Name, Issuer: strings.TrimSpace(req.Issuer), JWKSURL: req.JWKSURL, DiscoveryURL: req.DiscoveryURL,
		IntrospectionURL: req.IntrospectionURL, IntrospectionClientID: req.IntrospectionClientID, Typ: req.Typ}
	sec := issuerSecrets{hs256: req.HS256Secret, introspection: req.IntrospectionClientSecret}
	if err := checkName("issuer", i.Name); err != nil {
		return i, sec, err
	}
	if i.Issuer == "" {
		return i, sec, invalid("issuer is required: the exact \"iss\" value of the tokens, e.g. \"https://login.example.com/\"")
	}
	if len(i.Issuer) > maxIssuerLength || strings.ContainsFunc(i.Issuer, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return i, sec, invalid("issuer must be at most %d characters without spaces or control characters", maxIssuerLength)
	}
	for _, u := range []struct{ field, v string }{{"jwks_url", i.JWKSURL}, {"discovery_url", i.DiscoveryURL}, {"introspection_url", i.IntrospectionURL}} {
		if err := checkFetchURL(u.field, u.v); err != nil {
			return i, sec, err
		}
	}
	has := func(p *string, stored string) bool {
		if p != nil {
			return *p != ""
		}
		return stored != ""
	}
	var storedHS, storedIntro string
	if cur != nil {
		storedHS, storedIntro = cur.HS256Secret, cur.IntrospectionClientSecret
	}
	hasHS, hasIntro := has(sec.hs256, storedHS), has(sec.introspection, storedIntro)
	if p := sec.hs256; p != nil && *p != "" {
		if n := len(*p); n < minHS256Secret || n > maxSecretLength {
			return i, sec, invalid("hs256_secret has %d bytes; HS256 needs from %d to %d bytes (RFC 7518 §3.2): e.g. openssl rand -base64 48", n, minHS256Secret, maxSecretLength)
		}
	}
	if p := sec.introspection; p != nil && len(*p) > maxSecretLength {
		return i, sec, invalid("introspection_client_secret is longer than %d bytes", maxSecretLength)
	}
	switch {
	case i.IntrospectionURL != "" && (i.IntrospectionClientID == "" || !hasIntro):
		return i, sec, invalid("introspection_url needs introspection_client_id and introspection_client_secret: RFC 7662 introspection is a client-authenticated POST")
	case i.IntrospectionURL == "" && (i.IntrospectionClientID != "" || hasIntro):
		return i, sec, invalid("introspection_client_id and introspection_client_secret are for introspection_url, which is not set")
	case i.JWKSURL == "" && i.DiscoveryURL == "" && i.IntrospectionURL == "" && !hasHS:
		return i, sec, invalid("issuer %s has no way to check tokens: give jwks_url or discovery_url (signed JWTs), introspection_url (opaque tokens) or hs256_secret", i.Name)
	}
	// The asymmetric algorithms need keys to check with: by default they
	// are allowed only with a key source (an issuer allowing them without
	// one was left out of the snapshot, so every token it issued answered
	// jwt.issuer_unknown).
	keySource := i.JWKSURL != "" || i.DiscoveryURL != ""
	algs := req.Algorithms
	if len(algs) == 0 {
		if keySource {
			algs = slices.Clone(defaultAlgorithms)
		}
		if hasHS {
			algs = append(algs, "HS256")
		}
	}
	for n, a := range algs {
		if strings.EqualFold(a, "none") {
			return i, sec, invalid("algorithms[%d] \"none\" is never allowed: unsigned tokens prove nothing", n)
		}
		if !slices.Contains(jwtAlgorithms, a) {
			return i, sec, invalid("algorithms[%d] %q is not one of %s", n, a, strings.Join(jwtAlgorithms, ", "))
		}
		if !slices.Contains(i.Algorithms, a) {
			i.Algorithms = append(i.Algorithms, a)
		}
	}
	if !keySource {
		for _, a := range i.Algorithms {
			if a != "HS256" {
				return i, sec, invalid("algorithms names %s, which is checked with the issuer's public keys, but neither jwks_url nor discovery_url is set: give one, or allow only HS256", a)
			}
		}
	}
	switch hs := slices.Contains(i.Algorithms, "HS256"); {
	case hs && !hasHS:
		return i, sec, invalid("algorithms names HS256 but hs256_secret is not set: HS256 needs the shared secret (at least %d bytes)", minHS256Secret)
	case !hs && hasHS:
		return i, sec, invalid("hs256_secret is set but algorithms does not name HS256: add it, or leave the secret out")
	}
	for n, a := range req.Audiences {
		if a == "" || len(a) > maxIssuerLength || strings.ContainsFunc(a, unicode.IsControl) {
			return i, sec, invalid("audiences[%d] must be 1-%d characters without control characters", n, maxIssuerLength)
		}
		if !slices.Contains(i.Audiences, a) {
			i.Audiences = append(i.Audiences, a)
		}
	}
	if i.Audiences == nil {
		i.Audiences = []string{}
	}
	for n, c := range req.RequiredClaims {
		if !claimRE.MatchString(c) {
			return i, sec, invalid("required_claims[%d] %q must be a claim name: 1-256 printable characters without spaces", n, c)
		}
		if !slices.Contains(i.RequiredClaims, c) {
			i.RequiredClaims = append(i.RequiredClaims, c)
		}
	}
	if len(i.Typ) > maxJWTTypeLength || (i.Typ != "" && !claimRE.MatchString(i.Typ)) {
		return i, sec, invalid("typ must be at most %d printable characters, e.g. \"at+jwt\"", maxJWTTypeLength)
	}
	i.Leeway = domain.Duration(defaultLeeway)
	if req.Leeway != "" {
		d, err := parseDuration(req.Leeway)
		if err != nil {
			return i, sec, invalid("leeway %v", err)
		}
		if d < 0 || d > maxLeeway {
			return i, sec, invalid("leeway %q must be between 0s and %s", req.Leeway, maxLeeway)
		}
		i.Leeway = domain.Duration(d)
	}
	return i, sec, nil
}

// checkFetchURL validates a URL the gateway fetches (JWKS, discovery,
// introspection): http or https with a host, no credentials or fragment.
func checkFetchURL(field, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return invalid("%s is not a URL", field)
	case u.Scheme != "https" && u.Scheme != "http":
		return invalid("%s must be an https:// (or http://) URL", field)
	case u.Host == "" || u.Hostname() == "":
		return invalid("%s has no host", field)
	case u.User != nil:
		return invalid("%s must not carry credentials (user:password@): use introspection_client_id and introspection_client_secret", field)
	case u.Fragment != "":
		return invalid("%s must not have a #fragment", field)
	}
	return nil
}

// seal encrypts a secret with the gateway's master key.
func (rc *reqCtx) seal(field, plaintext string) (string, error) {
	box := rc.api.cfg.Secrets
	if box == nil {
		return "", internal(errors.New("admin: Config.Secrets is nil"),
			"%s cannot be stored: this gateway has no master key to encrypt secrets with (GATEHOUSE_MASTER_KEY)", field)
	}
	s, err := box.Seal([]byte(plaintext))
	if err != nil {
		return "", internal(err, "%s could not be encrypted", field)
	}
	return s, nil
}

// applySecrets seals new secrets into i, keeps cur's where the request
// left them out, and drops those it set to "".
func (rc *reqCtx) applySecrets(i *domain.Issuer, sec issuerSecrets, cur *domain.Issuer) error {
	for _, s := range []struct {
		field string
		in    *string
		dst   *string
		keep  string
	}{
		{"hs256_secret", sec.hs256, &i.HS256Secret, func() string {
			if cur != nil {
				return cur.HS256Secret
			}
			return ""
		}()},
		{"introspection_client_secret", sec.introspection, &i.IntrospectionClientSecret, func() string {
			if cur != nil {
				return cur.IntrospectionClientSecret
			}
			return ""
		}()},
	} {
		switch {
		case s.in == nil:
			*s.dst = s.keep
		case *s.in == "":
			*s.dst = ""
		default:
			sealed, err := rc.seal(s.field, *s.in)
			if err != nil {
				return err
			}
			*s.dst = sealed
		}
	}
	return nil
}

// loadIssuer resolves an id or name inside tx.
func (rc *reqCtx) loadIssuer(tx store.Tx, ref string) (domain.Issuer, error) {
	if ref == "" {
		return domain.Issuer{}, invalid("issuer is required: an issuer id or name (gatehouse issuer list)")
	}
	i, err := tx.GetIssuer(rc.ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return i, notFound("issuer %q not found (looked up as id and as name); list them with gatehouse issuer list", ref)
	}
	return i, err
}

// checkIssuerUnique refuses a name or iss value another issuer has.
func (rc *reqCtx) checkIssuerUnique(tx store.Tx, i domain.Issuer) error {
	if other, err := tx.GetIssuer(rc.ctx, i.Name); err == nil && other.ID != i.ID && other.Name == i.Name {
		return conflict("issuer name %q is already taken (by %s); pick another", i.Name, other.ID)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

func (a *API) listIssuers(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	items, next, err := a.cfg.Store.ListIssuers(rc.ctx, store.ListFilter{Page: p, Name: rc.query("name")})
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]issuerView, len(items))
	for n, i := range items {
		out[n] = viewIssuer(i)
	}
	return list(out, next), nil
}

func (a *API) getIssuer(rc *reqCtx) (any, error) {
	var i domain.Issuer
	if err := rc.view(func(tx store.Tx) (err error) { i, err = rc.loadIssuer(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	return viewIssuer(i), nil
}

func (a *API) createIssuer(rc *reqCtx) (any, error) {
	var req issuerRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	i, sec, err := buildIssuer(req, nil)
	if err != nil {
		return nil, err
	}
	if err := rc.applySecrets(&i, sec, nil); err != nil {
		return nil, err
	}
	if i.ID, err = newID(prefixIssuer); err != nil {
		return nil, internal(err, "could not generate an id")
	}
	i.CreatedAt, i.UpdatedAt = rc.now, rc.now
	err = rc.commit(func(tx store.Tx) (change, error) {
		if err := rc.checkIssuerUnique(tx, i); err != nil {
			return change{}, err
		}
		if err := tx.PutIssuer(rc.ctx, i); err != nil {
			return change{}, phrasedConflict(err)
		}
		return change{Resource: "issuer", ResourceID: i.ID, After: viewIssuer(i)}, nil
	})
	if err != nil {
		return nil, err
	}
	return viewIssuer(i), nil
}

func issuerToRequest(i domain.Issuer) issuerRequest {
	return issuerRequest{Name: i.Name, Issuer: i.Issuer, JWKSURL: i.JWKSURL, DiscoveryURL: i.DiscoveryURL,
		IntrospectionURL: i.IntrospectionURL, IntrospectionClientID: i.IntrospectionClientID,
		Audiences: slices.Clone(i.Audiences), Algorithms: slices.Clone(i.Algorithms), Leeway: i.Leeway.D().String(),
		RequiredClaims: slices.Clone(i.RequiredClaims), Typ: i.Typ}
}

func (a *API) updateIssuer(rc *reqCtx) (any, error) {
	var cur domain.Issuer
	if err := rc.view(func(tx store.Tx) (err error) { cur, err = rc.loadIssuer(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	if cur.Declared {
		return nil, declared("issuer", cur.Name)
	}
	req := issuerToRequest(cur)
	present, err := rc.decodePatch(&req)
	if err != nil {
		return nil, err
	}
	if _, ok := present["hs256_secret"]; ok && req.HS256Secret == nil {
		req.HS256Secret = new(string) // null removes, like ""
	}
	if _, ok := present["introspection_client_secret"]; ok && req.IntrospectionClientSecret == nil {
		req.IntrospectionClientSecret = new(string)
	}
	if _, ok := present["algorithms"]; !ok && req.HS256Secret != nil {
		// A secret added or removed without naming algorithms: follow it.
		req.Algorithms = slices.DeleteFunc(req.Algorithms, func(a string) bool { return a == "HS256" })
		if *req.HS256Secret != "" {
			req.Algorithms = append(req.Algorithms, "HS256")
		}
	}
	next, sec, err := buildIssuer(req, &cur)
	if err != nil {
		return nil, err
	}
	if err := rc.applySecrets(&next, sec, &cur); err != nil {
		return nil, err
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		i, err := rc.loadIssuer(tx, cur.ID)
		if err != nil {
			return change{}, err
		}
		if !i.UpdatedAt.Equal(cur.UpdatedAt) || i.HS256Secret != cur.HS256Secret || i.IntrospectionClientSecret != cur.IntrospectionClientSecret {
			return change{}, conflict("issuer %s changed while this request was being prepared; send it again", i.Name)
		}
		next.ID, next.CreatedAt, next.UpdatedAt = i.ID, i.CreatedAt, rc.now
		if err := rc.checkIssuerUnique(tx, next); err != nil {
			return change{}, err
		}
		if err := tx.PutIssuer(rc.ctx, next); err != nil {
			return change{}, phrasedConflict(err)
		}
		return change{Resource: "issuer", ResourceID: i.ID, Before: viewIssuer(i), After: viewIssuer(next)}, nil
	})
	if err != nil {
		return nil, err
	}
	return viewIssuer(next), nil
}

func (a *API) deleteIssuer(rc *reqCtx) (any, error) {
	var cur domain.Issuer
	if err := rc.view(func(tx store.Tx) (err error) { cur, err = rc.loadIssuer(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	if cur.Declared {
		return nil, declared("issuer", cur.Name)
	}
	bound, _, err := collect(store.Page{Limit: 10}, func(p store.Page) ([]domain.Credential, string, error) {
		return a.cfg.Store.ListCredentials(rc.ctx, store.ListFilter{Page: p, IssuerID: cur.ID, Type: domain.CredentialJWTBinding})
	}, func(c domain.Credential) (bool, error) { return c.RevokedAt == nil, nil })
	if err != nil {
		return nil, storeError(err)
	}
	if len(bound) > 0 {
		ids := make([]string, len(bound))
		for n, c := range bound {
			ids[n] = c.ID
		}
		return nil, conflict("issuer %s still has live jwt binding(s) %s; revoke them first (gatehouse credential list --issuer %s)",
			cur.Name, strings.Join(ids, ", "), cur.Name)
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		i, err := rc.loadIssuer(tx, cur.ID)
		if err != nil {
			return change{}, err
		}
		if err := tx.DeleteIssuer(rc.ctx, i.ID); err != nil {
			return change{}, err
		}
		return change{Resource: "issuer", ResourceID: i.ID, Before: viewIssuer(i)}, nil
	})
	return nil, err
}

// phrasedConflict passes on a store conflict whose message is already a
// full sentence naming the field and value, as a 409 with that message.
func phrasedConflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return &apiError{Code: CodeConflict, Detail: err.Error() + "; pick another", Err: err}
	}
	return err
}
