package jwt

import (
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/jwt/jose"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
	"gatehouse/internal/trace"
)

// Bindings is what the verifier needs from the configuration snapshot; the
// server implements it over the snapshot's issuers and jwt_binding
// credentials.
type Bindings interface {
	// Issuer returns the trusted issuer whose iss is exactly iss. It should
	// return the same *Issuer while the issuer's configuration is
	// unchanged: verified tokens are cached per *Issuer.
	Issuer(iss string) (*Issuer, bool)
	// Binding returns the jwt_binding credential that maps (issuer name,
	// claim, value), e.g. ("okta", "sub", "00u1…"), to its consumer, or
	// nil.
	Binding(issuerName, claim, value string) *credential.TokenBinding
}

type noBindings struct{}

func (noBindings) Issuer(string) (*Issuer, bool)                           { return nil, false }
func (noBindings) Binding(string, string, string) *credential.TokenBinding { return nil }

// Options configures a Verifier.
type Options struct {
	// Bindings returns the bindings of the request's snapshot.
	Bindings func(in *credential.Input) Bindings
	// Keyring holds the issuers' key sets (needed for asymmetric
	// algorithms).
	Keyring *Keyring
	// CacheSize is how many verified tokens to remember (default 10 000;
	// negative: none).
	CacheSize int
	// MaxTokenBytes is checked before anything is decoded, for every token
	// whatever its issuer (default 8 KiB). An issuer's own, smaller limit
	// is checked once its iss is read. Raise both together.
	MaxTokenBytes int
	// FetchWait is how long a request waits for an issuer's first key set
	// (default 3 s); then it answers auth.backend_unavailable.
	FetchWait time.Duration
	Logger    *slog.Logger
}

// Verifier implements credential.Verifier for JWT bearer tokens.
type Verifier struct {
	o     Options
	cache *tokenCache
}

var _ credential.Verifier = (*Verifier)(nil)

// New returns a Verifier.
func New(o Options) *Verifier {
	if o.MaxTokenBytes <= 0 {
		o.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if o.FetchWait <= 0 {
		o.FetchWait = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Bindings == nil {
		// Not wired yet: trust no issuer rather than panic.
		o.Bindings = func(*credential.Input) Bindings { return noBindings{} }
	}
	v := &Verifier{o: o}
	switch {
	case o.CacheSize == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case o.CacheSize > 0:
		v.cache = newTokenCache(o.CacheSize)
	}
	return v
}

// Method implements credential.Verifier.
func (*Verifier) Method() string { return domain.AuthJWT }

// Recognizes accepts a Bearer value whose first base64url character pair
// decodes to '{' (every JOSE header starts with it: "eyJ" for `{"`, "ew"
// for `{` and a line break) and that has a dot. The check is two bytes and
// one IndexByte: a 1 MB garbage token is not scanned twice.
func (*Verifier) Recognizes(p authheader.Credential) bool {
	return p.Kind == authheader.Bearer && LooksLikeJWT(p.Token)
}

// LooksLikeJWT reports whether s starts like a base64url JSON object and
// has a dot.
func LooksLikeJWT(s string) bool {
	if len(s) < 4 || s[0] != 'e' {
		return false
	}
	// '{' is 011110 11…: the second sextet starts with 11 (values 48–63).
	switch c := s[1]; {
	case c >= 'w' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
	default:
		return false
	}
	return strings.IndexByte(s, '.') > 0
}

const stage = "verify"

// Trace checks.
const (
	ckFormat    = "jwt.format"
	ckAlg       = "jwt.alg"
	ckIssuer    = "jwt.issuer"
	ckKey       = "jwt.key"
	ckSignature = "jwt.signature"
	ckClaims    = "jwt.claims"
	ckTime      = "jwt.time"
	ckCache     = "jwt.cache"
	ckBinding   = "jwt.binding"
	ckKeySet    = "jwt.keyset"
)

// IdentityUnmapped is the code for a valid token bound to no consumer.
const IdentityUnmapped = "identity.unmapped"

// verified is what a successful verification established; cached by
// token hash and immutable.
type verified struct {
	issStr     string
	issuer     *Issuer
	keys       *KeySet // nil for HS256
	gen        uint64  // key set generation the signature was checked with
	exp        time.Time
	validUntil time.Time // exp + leeway
	credID     string
	scopes     []string
	scopeHdr   string
	claimed    bool // the token has a scope (or scp) claim
	bindings   []binding
	summary    string // trace detail on a cache hit
	timeDetail string // trace detail on a cache hit
}

type binding struct{ claim, value, detail string }

// Verify implements credential.Verifier. The order of checks is the
// package doc's: cheap syntax, issuer, algorithm, key, signature — and only
// then claims, so a claim error never masks a bad signature and a caller
// learns claim-level detail only once it has proved the token is genuine.
func (v *Verifier) Verify(in *credential.Input) (credential.Identity, *reason.Error) {
	t := in.Trace
	tok := in.Presented.Token
	if len(tok) > v.o.MaxTokenBytes {
		return fail(t, ckFormat, &jose.Error{Code: jose.CodeMalformed, Detail: "The token is " + strconv.Itoa(len(tok)) +
			" bytes long; the limit is " + strconv.Itoa(v.o.MaxTokenBytes) + "."})
	}
	var sum [32]byte
	if v.cache != nil {
		sum = hashToken(tok)
		if e := v.cache.get(sum); e != nil {
			if id, rerr, ok := v.fromCache(in, e); ok {
				return id, rerr
			}
			v.cache.remove(sum)
		}
	}
	e, rerr := v.verify(in, tok)
	if rerr != nil {
		return credential.Identity{}, rerr
	}
	if v.cache != nil {
		v.cache.put(sum, e)
	}
	return v.bind(in, e)
}

// fromCache answers from a cached verification if it still holds: same
// issuer configuration, same key set content, not past exp + leeway.
// ok false means "verify afresh" (which also produces the exact error).
func (v *Verifier) fromCache(in *credential.Input, e *verified) (credential.Identity, *reason.Error, bool) {
	b := v.o.Bindings(in)
	if iss, ok := b.Issuer(e.issStr); !ok || iss != e.issuer {
		return credential.Identity{}, nil, false
	}
	if ks := e.keys; ks != nil {
		st := ks.current()
		if st == nil || st.gen != e.gen {
			return credential.Identity{}, nil, false
		}
		if ks.r.o.Clock.Now().Sub(st.fetchedAt) >= ks.refresh {
			// Refresh due and only cached tokens arriving: refresh in the
			// background so a removed key is noticed without Start.
			ks.tryFetch()
		}
	}
	if !in.Now.Before(e.validUntil) {
		return credential.Identity{}, nil, false
	}
	in.Trace.Pass(stage, ckCache, e.summary)
	in.Trace.Pass(stage, ckTime, e.timeDetail)
	id, rerr := v.bindWith(in, b, e)
	return id, rerr, true
}

func fail(t *trace.Trace, check string, e *jose.Error) (credential.Identity, *reason.Error) {
	t.Fail(stage, check, e.Detail)
	return credential.Identity{}, &reason.Error{Code: e.Code, Detail: e.Detail}
}

func (v *Verifier) verify(in *credential.Input, tok string) (*verified, *reason.Error) {
	t := in.Trace
	j, perr := jose.ParseCompact(tok, v.o.MaxTokenBytes)
	if perr != nil {
		_, r := fail(t, ckFormat, perr)
		return nil, r
	}
	h := &j.Header
	alg := h.Alg
	if strings.EqualFold(alg, "none") {
		_, r := fail(t, ckAlg, &jose.Error{Code: jose.CodeAlgNotAllowed,
			Detail: "The token is unsecured (alg " + strconv.Quote(alg) + "); unsigned tokens are never accepted."})
		return nil, r
	}
	if !jose.Supported(alg) {
		_, r := fail(t, ckAlg, &jose.Error{Code: jose.CodeAlgNotAllowed,
			Detail: "The algorithm " + short(alg) + " is not one this gateway verifies."})
		return nil, r
	}
	claims, perr := jose.ParseClaims(j.Payload)
	if perr != nil {
		_, r := fail(t, ckFormat, perr)
		return nil, r
	}
	issStr, isStr := claims.String("iss")
	switch {
	case !claims.Has("iss"):
		_, r := fail(t, ckFormat, &jose.Error{Code: jose.CodeIssuerUnknown, Detail: "The token has no iss claim, so no trusted issuer can verify it."})
		return nil, r
	case !isStr:
		_, r := fail(t, ckFormat, &jose.Error{Code: jose.CodeMalformed, Detail: "The token's iss is " + claims.Kind("iss").String() + "; it must be a string."})
		return nil, r
	}
	t.Pass(stage, ckFormat, "compact JWS; strict JSON header and claims; alg "+alg+kidText(h))
	if len(h.KeyParams) > 0 {
		t.Pass(stage, ckKey+"_params", "ignored for key selection (keys come only from the issuer's configuration): "+strings.Join(h.KeyParams, ", "))
	}

	b := v.o.Bindings(in)
	iss, ok := b.Issuer(issStr)
	if !ok {
		d := "The token's issuer " + short(issStr) + " is not trusted by this gateway."
		t.Fail(stage, ckIssuer, d)
		r := &reason.Error{Code: jose.CodeIssuerUnknown, Detail: d}
		if alt := slashTwin(issStr); alt != "" {
			if other, ok := b.Issuer(alt); ok {
				r.Debug = "issuer '" + other.Name + "' is configured as " + strconv.Quote(alt) + ": the token's iss differs only by a trailing slash"
				t.Private(stage, ckIssuer, domain.OutcomeFail, r.Debug)
			}
		}
		return nil, r
	}
	if !iss.built {
		t.Fail(stage, ckIssuer, "issuer configuration not validated")
		return nil, &reason.Error{Code: reason.GatewayInternal, Debug: "jwt: issuer " + strconv.Quote(iss.Name) + " was not built with NewIssuer"}
	}
	t.Pass(stage, ckIssuer, "iss "+short(issStr)+" is issuer '"+iss.Name+"'")
	if len(tok) > iss.MaxTokenBytes {
		_, r := fail(t, ckFormat, &jose.Error{Code: jose.CodeMalformed, Detail: "The token is " + strconv.Itoa(len(tok)) +
			" bytes long; tokens of this issuer may have at most " + strconv.Itoa(iss.MaxTokenBytes) + "."})
		return nil, r
	}
	if !iss.allows(alg) {
		_, r := fail(t, ckAlg, &jose.Error{Code: jose.CodeAlgNotAllowed, Detail: "The algorithm " + alg +
			" is not allowed for tokens of this issuer; allowed: " + strings.Join(iss.algs, ", ") + "."})
		return nil, r
	}
	t.Pass(stage, ckAlg, "alg "+alg+" is allowed for issuer '"+iss.Name+"'")

	e := &verified{issStr: issStr, issuer: iss}
	var serr *jose.Error
	keyDesc := "configured secret"
	if jose.Symmetric(alg) {
		// HS256 uses only the configured secret. A kid naming one of the
		// issuer's public keys is the HS/RS key-confusion attack
		// (CVE-2015-9235 class): say so rather than "bad signature".
		if ks := v.keysIfAny(iss); ks != nil && h.HasKid {
			if st := ks.current(); st != nil && len(st.byKid[h.Kid]) > 0 {
				k := st.byKid[h.Kid][0]
				_, r := fail(t, ckKey, &jose.Error{Code: jose.CodeAlgNotAllowed, Detail: "The token says HS256 but its kid " +
					short(h.Kid) + " names the issuer's " + k.Describe() + " public key; HS256 never uses a public key."})
				return nil, r
			}
		}
		t.Pass(stage, ckKey, "HS256 with the issuer's configured secret")
		serr = jose.VerifyHS256(iss.HS256Secret, j.SigningInput, j.Signature)
	} else {
		key, ks, st, r := v.selectKey(in, iss, h)
		if r != nil {
			return nil, r
		}
		e.keys, e.gen = ks, st.gen
		keyDesc = "key " + short(key.Kid)
		t.Pass(stage, ckKey, "kid "+short(key.Kid)+": "+key.Describe()+", thumbprint "+key.Thumbprint+
			", key set fetched at "+st.fetchedAt.UTC().Format(time.RFC3339))
		serr = jose.Verify(alg, key, j.SigningInput, j.Signature)
	}
	if serr != nil {
		_, r := fail(t, ckSignature, serr)
		return nil, r
	}
	t.Pass(stage, ckSignature, alg+" signature valid with the "+keyDesc+" (possession proven)")
	if r := v.checkClaims(in, iss, h, claims, e); r != nil {
		r.Possession = true
		r.CredentialID = e.credID
		return nil, r
	}
	e.summary = "verified earlier (signature not re-checked): alg " + alg + kidText(h) + ", iss " + short(issStr) + ", issuer '" + iss.Name + "'"
	return e, nil
}

func kidText(h *jose.Header) string {
	if !h.HasKid {
		return ", no kid"
	}
	return ", kid " + short(h.Kid)
}

// keysIfAny returns the issuer's key set if it has a key source.
func (v *Verifier) keysIfAny(iss *Issuer) *KeySet {
	if v.o.Keyring == nil {
		return nil
	}
	return v.o.Keyring.For(iss)
}

// selectKey finds the verification key: the issuer's key set (fetched if
// never fetched; refetched at most once per RefetchInterval when the kid
// is unknown), exact kid match, and the algorithm bound to the key's type.
func (v *Verifier) selectKey(in *credential.Input, iss *Issuer, h *jose.Header) (*jose.Key, *KeySet, *keyState, *reason.Error) {
	t := in.Trace
	ks := v.keysIfAny(iss)
	if ks == nil {
		t.Fail(stage, ckKey, "no key set for an asymmetric algorithm")
		return nil, nil, nil, &reason.Error{Code: reason.GatewayInternal, Debug: "jwt: no Keyring, or issuer " + strconv.Quote(iss.Name) + " has no key source"}
	}
	st := ks.current()
	if st == nil {
		st = v.await(ks, ks.tryFetch())
		if st == nil {
			return nil, nil, nil, v.unavailable(in, ks, iss)
		}
	} else if now := ks.r.o.Clock.Now(); now.Sub(st.fetchedAt) >= ks.refresh {
		ks.tryFetch() // background refresh due: serve these keys meanwhile
	}
	if err, since := ks.failure(); err != nil {
		t.Private(stage, ckKeySet, domain.OutcomePass, "serving the key set fetched at "+st.fetchedAt.UTC().Format(time.RFC3339)+
			" (stale): refreshing it fails since "+since.UTC().Format(time.RFC3339)+": "+err.Error())
	}
	cands := candidates(st, h)
	pending := false // a refetch for this kid still running when the wait ended
	if len(cands) == 0 && h.HasKid {
		if c := ks.tryFetch(); c != nil {
			v.await(ks, c)
			select {
			case <-c.done:
				if err, _ := ks.failure(); err != nil {
					t.Fail(stage, ckKeySet, "kid "+short(h.Kid)+" unknown: refetching the key set failed")
				} else {
					t.Pass(stage, ckKeySet, "kid "+short(h.Kid)+" unknown: key set refetched")
				}
			default:
				pending = true
				t.Fail(stage, ckKeySet, "kid "+short(h.Kid)+" unknown: the key set refetch did not finish within "+v.o.FetchWait.String())
			}
		}
		// Also when no fetch was allowed: one may have completed since st
		// was read (another request's refetch).
		if nst := ks.current(); nst != st {
			st = nst
			cands = candidates(st, h)
		}
	}
	if len(cands) == 0 && h.HasKid {
		// A kid the gateway does not hold while it cannot fetch the
		// issuer's keys may be a key the issuer has just rotated in: the
		// gateway cannot tell a forger from a fresh token, and the fault
		// is its own (§5: auth.backend_unavailable, not the caller's
		// jwt.unknown_kid with "get a fresh token").
		if err, since := ks.failure(); err != nil || pending {
			return nil, nil, nil, v.kidUnverifiable(in, ks, iss, h, err, since)
		}
	}
	if len(cands) == 0 {
		d := "No signing key of issuer " + short(iss.Issuer) + " has kid " + short(h.Kid) + "."
		t.Fail(stage, ckKey, d)
		next := ks.nextAttempt()
		t.Private(stage, ckKey, domain.OutcomeFail, "known kids: "+st.kids+"; key set fetched at "+
			st.fetchedAt.UTC().Format(time.RFC3339)+"; next refetch allowed at "+next.UTC().Format(time.RFC3339))
		return nil, nil, nil, &reason.Error{Code: jose.CodeUnknownKid, Detail: d}
	}
	var fits []*jose.Key
	var misfit *jose.Error
	for _, k := range cands {
		if e := jose.KeyFits(h.Alg, k); e != nil {
			if misfit == nil {
				misfit = e
			}
			continue
		}
		fits = append(fits, k)
	}
	switch {
	case len(fits) == 0 && h.HasKid:
		t.Fail(stage, ckKey, misfit.Detail)
		return nil, nil, nil, &reason.Error{Code: misfit.Code, Detail: misfit.Detail}
	case len(fits) != 1:
		// No kid: one key of the right type is used; several would mean
		// trying each, which a verifier must not do for a forger.
		d := "The token has no kid and the issuer " + short(iss.Issuer) + " has " + strconv.Itoa(len(fits)) + " keys for " + h.Alg + "; the token must name its key."
		t.Fail(stage, ckKey, d)
		return nil, nil, nil, &reason.Error{Code: jose.CodeUnknownKid, Detail: d}
	}
	return fits[0], ks, st, nil
}

// candidates are the keys with exactly the token's kid (a map lookup: a
// kid is never a path, a query or a URL); for a token without kid, every
// key (selectKey then insists on exactly one of the right type).
func candidates(st *keyState, h *jose.Header) []*jose.Key {
	if h.HasKid {
		return st.byKid[h.Kid]
	}
	return st.all
}

// await waits up to FetchWait for a fetch and returns the key set then
// current (nil if still never fetched).
func (v *Verifier) await(ks *KeySet, c *fetchCall) *keyState {
	if c != nil {
		timer := time.NewTimer(v.o.FetchWait)
		select {
		case <-c.done:
		case <-timer.C:
		}
		timer.Stop()
	}
	return ks.current()
}

// unavailable is the answer when no key set was ever fetched: the
// gateway's problem, not the caller's (503, not 401).
func (v *Verifier) unavailable(in *credential.Input, ks *KeySet, iss *Issuer) *reason.Error {
	err, since := ks.failure()
	d := "The gateway has not been able to fetch the signing keys of issuer " + short(iss.Issuer) + "."
	in.Trace.Fail(stage, ckKeySet, d)
	r := &reason.Error{Code: reason.AuthBackendUnavailable, Detail: d}
	retry := ks.nextAttempt().Sub(ks.r.o.Clock.Now())
	r.RetryAfter = max(1, int(math.Ceil(retry.Seconds())))
	if err != nil {
		r.Err = err
		r.Debug = "no key set was ever fetched; failing since " + since.UTC().Format(time.RFC3339) + ": " + err.Error()
	} else {
		r.Debug = "no key set was ever fetched; the first fetch is still running"
	}
	in.Trace.Private(stage, ckKeySet, domain.OutcomeFail, r.Debug)
	return r
}

// kidUnverifiable is the answer for a kid the gateway does not hold while
// the issuer's key set cannot be fetched (err, failing since since) or its
// refetch is still running (err nil): 503 with Retry-After, the cause for
// the operator only.
func (v *Verifier) kidUnverifiable(in *credential.Input, ks *KeySet, iss *Issuer, h *jose.Header, err error, since time.Time) *reason.Error {
	d := "The token's signing key (kid " + short(h.Kid) + ") is not among the keys of issuer " + short(iss.Issuer) +
		" that the gateway holds, and it cannot fetch the issuer's current keys right now; retry shortly."
	in.Trace.Fail(stage, ckKey, d)
	r := &reason.Error{Code: reason.AuthBackendUnavailable, Detail: d, Err: err}
	r.RetryAfter = max(1, int(math.Ceil(ks.nextAttempt().Sub(ks.r.o.Clock.Now()).Seconds())))
	if err != nil {
		r.Debug = "key set fetch failing since " + since.UTC().Format(time.RFC3339) + ": " + err.Error()
	} else {
		r.Debug = "the key set refetch for this kid was still running after " + v.o.FetchWait.String()
	}
	in.Trace.Private(stage, ckKey, domain.OutcomeFail, r.Debug)
	return r
}

// checkClaims runs after the signature verified. Order: typ, dates (with
// exp required), audience, required claims, scopes, binding claims.
func (v *Verifier) checkClaims(in *credential.Input, iss *Issuer, h *jose.Header, c *jose.Claims, e *verified) *reason.Error {
	t := in.Trace
	now := in.Now
	lee := iss.leeway
	sub, hasSub := c.String("sub")
	if hasSub {
		e.credID = iss.Name + ":" + sub
	}
	failWith := func(check, code, d string) *reason.Error {
		t.Fail(stage, check, d)
		return &reason.Error{Code: code, Detail: d}
	}

	if iss.typ != "" {
		switch {
		case !h.HasTyp:
			return failWith(ckClaims, jose.CodeTypeMismatch, "The token has no typ; this API requires typ "+iss.Typ+" (an access token, RFC 9068).")
		case normType(h.Typ) != iss.typ:
			return failWith(ckClaims, jose.CodeTypeMismatch, "The token's typ is "+short(h.Typ)+"; this API requires "+iss.Typ+
				" (an ID token or another kind of JWT sent as an access token?).")
		}
	}

	exp, hasExp, perr := c.NumericDate("exp")
	if perr != nil {
		return failWith(ckTime, perr.Code, perr.Detail)
	}
	if !hasExp {
		return failWith(ckTime, jose.CodeClaimMissing, "The token has no exp claim; tokens without an expiry are not accepted.")
	}
	nbf, hasNbf, perr := c.NumericDate("nbf")
	if perr != nil {
		return failWith(ckTime, perr.Code, perr.Detail)
	}
	iat, hasIat, perr := c.NumericDate("iat")
	if perr != nil {
		return failWith(ckTime, perr.Code, perr.Detail)
	}
	// RFC 7519 §4.1.4: not accepted "on or after" exp.
	if !now.Before(exp.Add(lee)) {
		return failWith(ckTime, jose.CodeExpired, "The token expired: exp "+stamp(exp)+" is "+ago(now.Sub(exp))+
			" before the gateway clock "+stamp(now)+"; leeway "+secs(lee)+".")
	}
	if hasNbf && nbf.After(now.Add(lee)) {
		return failWith(ckTime, jose.CodeNotYetValid, "The token is not valid yet: nbf "+stamp(nbf)+" is "+ago(nbf.Sub(now))+
			" after the gateway clock "+stamp(now)+"; leeway "+secs(lee)+".")
	}
	if hasIat && iat.After(now.Add(lee)) {
		return failWith(ckTime, jose.CodeNotYetValid, "The token was issued in the future: iat "+stamp(iat)+" is "+ago(iat.Sub(now))+
			" after the gateway clock "+stamp(now)+"; leeway "+secs(lee)+". Check the issuer's or the gateway's clock.")
	}
	e.exp, e.validUntil = exp, exp.Add(lee)
	td := "exp " + stamp(exp)
	if hasNbf {
		td += ", nbf " + stamp(nbf)
	}
	if hasIat {
		td += ", iat " + stamp(iat)
	}
	td += "; leeway " + secs(lee)
	e.timeDetail = td + " (checked against the gateway clock on every request)"
	t.Pass(stage, ckTime, td+"; gateway clock "+stamp(now)+", "+ago(exp.Sub(now))+" left")

	aud, hasAud, perr := c.Audience()
	if perr != nil {
		return failWith(ckClaims, perr.Code, perr.Detail)
	}
	audText := "any audience"
	if !iss.AnyAudience {
		want := strings.Join(iss.Audiences, ", ")
		switch {
		case !hasAud:
			return failWith(ckClaims, jose.CodeAudienceMismatch, "The token has no aud claim; this API expects "+want+".")
		case len(aud) == 0:
			return failWith(ckClaims, jose.CodeAudienceMismatch, "The token's aud is an empty list, which matches no audience; this API expects "+want+".")
		}
		matched := ""
		for _, a := range aud {
			if contains(iss.Audiences, a) {
				matched = a
				break
			}
		}
		if matched == "" {
			return failWith(ckClaims, jose.CodeAudienceMismatch, "The token is for "+listShort(aud)+"; this API expects "+want+".")
		}
		audText = "aud " + short(matched)
	}
	for _, name := range iss.RequiredClaims {
		if !c.Has(name) {
			return failWith(ckClaims, jose.CodeClaimMissing, "The token has no "+short(name)+" claim, which tokens of this issuer must carry.")
		}
	}
	scopes, perr := c.Scopes()
	if perr != nil {
		return failWith(ckClaims, perr.Code, perr.Detail)
	}
	e.scopes, e.scopeHdr = scopes, strings.Join(scopes, " ")
	e.claimed = c.Has("scope") || c.Has("scp")
	for _, name := range iss.BindingClaims {
		if val, ok := c.String(name); ok && val != "" {
			e.bindings = append(e.bindings, binding{claim: name, value: val,
				detail: "issuer '" + iss.Name + "', " + name + " " + short(val) + ": bound"})
			if e.credID == "" {
				e.credID = iss.Name + ":" + val
			}
		}
	}
	typText := ""
	if iss.typ != "" {
		typText = ", typ " + iss.Typ
	}
	t.Pass(stage, ckClaims, audText+typText+", required claims present")
	return nil
}

// bind maps a verified token to its consumer.
func (v *Verifier) bind(in *credential.Input, e *verified) (credential.Identity, *reason.Error) {
	return v.bindWith(in, v.o.Bindings(in), e)
}

func (v *Verifier) bindWith(in *credential.Input, b Bindings, e *verified) (credential.Identity, *reason.Error) {
	for i := range e.bindings {
		p := &e.bindings[i]
		tb := b.Binding(e.issuer.Name, p.claim, p.value)
		if tb == nil {
			continue
		}
		if tb.ExpiresAt != nil && !in.Now.Before(*tb.ExpiresAt) {
			d := "The token is valid, but the binding of issuer '" + e.issuer.Name + "', " + p.claim + " " + short(p.value) +
				" to application '" + tb.Consumer.Name + "' expired at " + tb.ExpiresAt.UTC().Format(time.RFC3339) + "."
			in.Trace.Fail(stage, ckBinding, d)
			return credential.Identity{}, &reason.Error{Code: IdentityUnmapped, Detail: d, CredentialID: e.credID, Possession: true,
				Hint: "Ask the owner of application '" + tb.Consumer.Name + "' to renew the binding (a new jwt_binding credential)."}
		}
		scopes, hdr, dropped := tb.GrantScopes(e.scopes, e.scopeHdr, e.claimed)
		if dropped == nil {
			in.Trace.Pass(stage, ckBinding, p.detail)
		} else {
			in.Trace.Pass(stage, ckBinding, p.detail+"; scopes the binding does not grant, dropped: "+strings.Join(dropped, ", "))
		}
		// ExpiresAt points into the immutable cache entry (or the
		// snapshot's binding): no allocation on the repeated-token path.
		exp := &e.exp
		if tb.ExpiresAt != nil && tb.ExpiresAt.Before(e.exp) {
			exp = tb.ExpiresAt
		}
		return credential.Identity{Type: domain.AuthJWT, CredentialID: e.credID, Consumer: tb.Consumer,
			Scopes: scopes, ScopeHeader: hdr, ExpiresAt: exp, IPAllow: tb.IPAllow}, nil
	}
	var d string
	if len(e.bindings) == 0 {
		d = "The token is valid, but has none of the claims (" + strings.Join(e.issuer.BindingClaims, ", ") +
			") that bind a token of issuer '" + e.issuer.Name + "' to an application."
	} else {
		var parts []string
		for _, p := range e.bindings {
			parts = append(parts, p.claim+" "+short(p.value))
		}
		d = "The token is valid, but no application is bound to issuer '" + e.issuer.Name + "' with " + strings.Join(parts, " or ") + "."
	}
	in.Trace.Fail(stage, ckBinding, d)
	return credential.Identity{}, &reason.Error{Code: IdentityUnmapped, Detail: d, CredentialID: e.credID, Possession: true}
}

// slashTwin is iss with its trailing slash added or removed.
func slashTwin(iss string) string {
	if strings.HasSuffix(iss, "/") {
		return strings.TrimSuffix(iss, "/")
	}
	if iss == "" {
		return ""
	}
	return iss + "/"
}

// short quotes a token-supplied value for a detail: escaped, at most 64
// bytes (a kid may be 10 kB or carry a NUL byte).
func short(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

func listShort(list []string) string {
	if len(list) == 1 {
		return "aud " + short(list[0])
	}
	q := make([]string, 0, len(list))
	for i, s := range list {
		if i == 5 {
			q = append(q, "…")
			break
		}
		q = append(q, short(s))
	}
	return "aud [" + strings.Join(q, ", ") + "]"
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func secs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) + " s" }

// ago renders a clock difference for people, with the exact seconds:
// "2m5s (125 s)", "5478 days (473299200 s)".
func ago(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	s := d.Round(time.Second)
	exact := " (" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s)"
	if s >= 48*time.Hour {
		return strconv.FormatInt(int64(s/(24*time.Hour)), 10) + " days" + exact
	}
	return s.String() + exact
}
