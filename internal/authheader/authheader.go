// Package authheader finds the credential in a request for the pipeline's
// extract stage (spec §4 item 2): the Authorization header (RFC 9110 §11.6.2,
// RFC 6750 §2.1), the X-API-Key header and, where a route allows it, the
// api_key query parameter.
//
// It reports what is wrong with how a credential was sent, never with the
// credential itself. The division of labour with the credential parsers
// (keys.Parse, the JWT verifier) is:
//
//   - The Authorization header has a grammar, "<scheme> SP <token68>", and
//     this package owns it: an empty token, a doubled scheme, two spaces or
//     a tab after the scheme, whitespace after the token, quotes around the
//     token (token68 has no quotes; RFC 6750's b64token neither), commas
//     separating several credentials, two Authorization headers. These are
//     auth.malformed_header (400).
//   - X-API-Key and api_key have no grammar of their own: the value is the
//     key. If it looks like a Gatehouse key (keys.HasPrefix), it is returned
//     raw, surrounding whitespace and quotes included, and keys.Parse
//     explains them (key.malformed names which whitespace or quote). If it
//     does not — an imported opaque key — this package reports surrounding
//     whitespace and quotes itself (auth.malformed_header), since the hash
//     lookup that follows could only say "unknown".
//   - The characters inside a token (an 'é' in a key, a bad JWT segment) are
//     the credential parser's: it can name the position in its own terms.
//
// Everything here is pure and allocation-free on success: a Credential's
// Scheme and Token are substrings of the input.
package authheader

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"gatehouse/internal/keys"
	"gatehouse/internal/reason"
)

// Kind is how a credential was presented.
type Kind uint8

const (
	// None: the request carries no credential.
	None Kind = iota
	// Bearer: "Authorization: Bearer …": a Gatehouse key, a JWT or an
	// opaque token; the pipeline tells them apart (keys.HasPrefix first).
	Bearer
	// APIKeyScheme: certainly an API key: "Authorization: ApiKey …", the
	// X-API-Key header or the api_key query parameter.
	APIKeyScheme
	// Basic: "Authorization: Basic <base64(user:password)>"; the token is
	// not decoded here (basic.malformed is the Basic verifier's).
	Basic
	// Other: any other scheme. Parse returns it together with
	// auth.scheme_unsupported; a route with a plug-in scheme may look at
	// Scheme and accept it anyway.
	Other
)

// String returns the kind's name for traces and logs.
func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case Bearer:
		return "bearer"
	case APIKeyScheme:
		return "apikey"
	case Basic:
		return "basic"
	case Other:
		return "other"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Where a credential was found (Credential.Source).
const (
	SourceAuthorization = "authorization"
	SourceXAPIKey       = "x-api-key"
	SourceQuery         = "query"
)

// Credential is a credential as found in the request. Scheme is the scheme
// as sent ("bearer" stays "bearer"; Kind is the canonical form), "" for
// X-API-Key and the query. Token is the credential itself: never log it.
type Credential struct {
	Kind   Kind
	Scheme string
	Token  string
	Source string
}

// Canonical header names (http.Header keys are canonicalised by net/http).
const (
	headerAuthorization = "Authorization"
	headerXAPIKey       = "X-Api-Key"
	queryParam          = "api_key"
)

// Parse parses one Authorization header value. It returns a *reason.Error
// with code auth.malformed_header and a detail naming the exact problem
// (empty token, "Bearer Bearer …", quotes around the token, two spaces, a
// tab, trailing whitespace, comma-separated credentials, a placeholder such
// as "undefined"), or auth.scheme_unsupported naming the scheme it saw
// (e.g. "Token") together with Kind Other; the caller adds which schemes
// the route accepts. Scheme names are case-insensitive (RFC 9110 §11.1).
//
// A detail never quotes the token. It names an unsupported scheme only
// when a token follows it (so a lone key is never taken for a scheme) and
// it reads like a scheme name (see unsupported); otherwise it names only
// the documented schemes.
func Parse(value string) (Credential, *reason.Error) {
	c := Credential{Source: SourceAuthorization}
	if trimSP(value) == "" {
		if value == "" {
			return c, malformed("the Authorization header is empty: was the variable holding the credential empty? Send 'Authorization: Bearer <key>'")
		}
		return c, malformed("the Authorization header holds only whitespace: was the variable holding the credential empty? Send 'Authorization: Bearer <key>'")
	}
	if isSpace(value[0]) {
		lead := value[:len(value)-len(trimSP(value))]
		return c, malformed(fmt.Sprintf("leading %s before the scheme: send 'Authorization: Bearer <key>' with nothing before the scheme", describeWhitespaceNoArticle(lead)))
	}
	i := 0
	for i < len(value) && isTchar(value[i]) {
		i++
	}
	scheme := value[:i]
	kind := schemeKind(scheme)
	if kind != Other {
		c.Kind, c.Scheme = kind, scheme
	}
	if i == 0 {
		if r, _ := utf8.DecodeRuneInString(value); isQuote(r) {
			return c, malformed(fmt.Sprintf("the Authorization value starts with %s: remove the quotes and send 'Authorization: Bearer <key>'", describeChar(value, 0)))
		}
		return c, malformed("the Authorization header does not start with a scheme: send 'Authorization: Bearer <key>'")
	}
	if i == len(value) || (value[i] != ' ' && value[i] != '\t') {
		return c, schemeProblem(value, scheme, kind, i)
	}
	if kind == Other {
		c.Kind, c.Scheme = Other, scheme
		if keys.HasPrefix(scheme) {
			// "gk_live_… something": the first word is a key, not a scheme.
			c.Scheme = ""
			return c, malformed("the Authorization header starts with a key, not a scheme: send 'Authorization: Bearer gk_…'")
		}
		c.Token = trimSP(value[i:])
		return c, unsupported(scheme)
	}
	// value[i] is SP or HTAB: exactly one SP is allowed.
	rest := value[i:]
	tok := trimSP(rest)
	sep := rest[:len(rest)-len(tok)]
	name := canonical(kind)
	if tok == "" {
		return c, malformed(fmt.Sprintf("'%s' is followed by %s but no token: was the variable holding the credential empty?", name, describeWhitespace(sep)))
	}
	if sep != " " {
		e := malformed(fmt.Sprintf("%s after '%s': use exactly one space between the scheme and the token", describeWhitespace(sep), name))
		e.CredentialID = credentialID(tok)
		return c, e
	}
	if e := tokenProblem(tok, name); e != nil {
		return c, e
	}
	c.Token = tok
	return c, nil
}

// schemeProblem explains a value whose first word is not followed by a
// space: a scheme alone, a key without a scheme, "Bearer:", "Bearergk_…".
func schemeProblem(value, scheme string, kind Kind, i int) *reason.Error {
	if kind != Other {
		name := canonical(kind)
		if i == len(value) {
			return malformed(fmt.Sprintf("the scheme '%s' has no token after it: was the variable holding the credential empty? Send '%s <token>'", name, name))
		}
		return malformed(fmt.Sprintf("%s after the scheme '%s': write '%s <token>', with one space and nothing else between them", describeChar(value, i), name, name))
	}
	if keys.HasPrefix(value) {
		e := malformed("the Authorization header holds a key without a scheme: send 'Authorization: Bearer gk_…'")
		e.CredentialID = credentialID(value)
		return e
	}
	// "Bearergk_live_…": a scheme glued to the token.
	for _, k := range [...]Kind{Bearer, APIKeyScheme, Basic} {
		n := canonical(k)
		if len(scheme) > len(n) && asciiEqualFold(scheme[:len(n)], n) && keys.HasPrefix(value[len(n):]) {
			e := malformed(fmt.Sprintf("there is no space between '%s' and the key: send '%s <key>'", n, n))
			e.CredentialID = credentialID(value[len(n):])
			return e
		}
	}
	return malformed("the Authorization header is not '<scheme> <credentials>': send 'Authorization: Bearer <key>'")
}

// tokenProblem checks a token's framing (the token follows exactly one
// space after a known scheme). name is the canonical scheme name.
func tokenProblem(tok, name string) *reason.Error {
	id := func(e *reason.Error) *reason.Error { e.CredentialID = credentialID(tok); return e }
	// "Bearer Bearer gk_…": the client added the scheme to a value that
	// already had it.
	if k, n := leadingScheme(tok); k != None {
		second := canonical(k)
		id := func(e *reason.Error) *reason.Error {
			e.CredentialID = credentialID(trimSP(tok[n:]))
			return e
		}
		if second == name {
			return id(malformed(fmt.Sprintf("the scheme appears twice ('%s %s …'): the client adds '%s ' itself, so give it only the credential", name, name, name)))
		}
		return id(malformed(fmt.Sprintf("two schemes ('%s %s …'): send one scheme and the credential, e.g. 'Bearer <key>'", name, second)))
	}
	if trail := trailingSpace(tok); trail != "" {
		return id(malformed(fmt.Sprintf("%s after the token: remove it", describeWhitespace(trail))))
	}
	if j := strings.IndexByte(tok, ','); j >= 0 {
		return malformed("several credentials separated by a comma: send exactly one credential in the Authorization header")
	}
	if d := quoteProblem(tok, "token"); d != "" {
		return id(malformed(d + ": send it without quotes (a token has none)"))
	}
	if d := placeholder(tok); d != "" {
		return malformed(d)
	}
	for j := firstSuspect(tok); j < len(tok); j++ {
		c := tok[j]
		if c == ' ' || c == '\t' {
			if k, _ := leadingScheme(trimSP(tok[j:])); k != None {
				return malformed("two credentials in one Authorization header: send exactly one")
			}
			return id(malformed(fmt.Sprintf("%s at position %d of the token: a token has no whitespace (was it split or wrapped?)",
				describeChar(tok, j), utf8.RuneCountInString(tok[:j])+1)))
		}
		if c < 0x20 || c == 0x7F {
			return id(malformed(fmt.Sprintf("%s at position %d of the token: remove it",
				describeChar(tok, j), utf8.RuneCountInString(tok[:j])+1)))
		}
	}
	return nil
}

// firstSuspect returns the offset of the 8-byte word holding the first
// byte below 0x21 (space, tab, control) or equal to 0x7F, or len(s) when
// there is none. The byte loop in tokenProblem starts there: a clean token
// (the normal case; a JWT is 500 to 1 500 bytes) is checked eight bytes at
// a time, which took BenchmarkParseJWT from 1.7 µs to about 0.3 µs.
func firstSuspect(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		// A byte below 0x21 (exact for any byte value: bytes >= 0x80 have
		// their high bit cleared by &^w), or a byte equal to 0x7F
		// (the zero-byte test on w XOR 0x7F…).
		del := w ^ (0x7F * ones)
		if ((w-0x21*ones)&^w|(del-ones)&^del)&highs != 0 {
			return i
		}
	}
	return i
}

// FromRequest finds the request's credential. It looks at every
// Authorization header (two of them: auth.malformed_header), the X-API-Key
// header (likewise) and, when queryAllowed, the api_key query parameter.
// Two different credentials are auth.ambiguous; the same credential in two
// places is fine, and the cleanest copy is returned (Authorization first).
// No credential at all is Credential{Kind: None} and no error: the pipeline
// decides whether the route needs one (auth.missing).
//
// An empty (or whitespace-only) header or parameter is not a credential: a
// client library that always sends "X-API-Key: $KEY" with an empty
// variable next to a working Authorization header is not failed for it.
// It is reported (auth.malformed_header, "… is empty") only when the
// request carries nothing else, since it is then the cause.
//
// The query is parsed only if it contains "api_key=" (or the name
// percent-encoded), so the common path does not allocate.
func FromRequest(h http.Header, rawQuery string, queryAllowed bool) (Credential, *reason.Error) {
	var found [3]Credential
	n := 0
	var empty *reason.Error // the first empty value, reported if nothing else is found
	var emptyCred Credential
	noteEmpty := func(c Credential, e *reason.Error) {
		if empty == nil {
			emptyCred, empty = c, e
		}
	}
	if vs := h[headerAuthorization]; len(vs) > 0 {
		if len(vs) > 1 {
			// §5: two different credentials in one request are ambiguous
			// (which one was meant?); the same one repeated is a header
			// sent twice.
			for _, v := range vs[1:] {
				if v != vs[0] {
					return Credential{Source: SourceAuthorization}, reason.New(reason.AuthAmbiguous,
						fmt.Sprintf("%d Authorization headers with different values: send exactly one credential (a client library may be adding its own)", len(vs)))
				}
			}
			return Credential{Source: SourceAuthorization}, malformed(fmt.Sprintf("%d Authorization headers: send exactly one (a client library may be adding its own)", len(vs)))
		}
		c, err := Parse(vs[0])
		switch {
		case err != nil && trimSP(vs[0]) == "":
			noteEmpty(c, err)
		case err != nil:
			return c, err
		default:
			found[n] = c
			n++
		}
	}
	if vs := h[headerXAPIKey]; len(vs) > 0 {
		if len(vs) > 1 {
			return Credential{Kind: APIKeyScheme, Source: SourceXAPIKey}, malformed(fmt.Sprintf("%d X-API-Key headers: send exactly one", len(vs)))
		}
		c, err := bare(vs[0], SourceXAPIKey)
		switch {
		case err != nil && strings.TrimSpace(vs[0]) == "":
			noteEmpty(c, err)
		case err != nil:
			return c, err
		default:
			found[n] = c
			n++
		}
	}
	if queryAllowed && mayHaveQueryKey(rawQuery) {
		v, ok, err := queryKey(rawQuery)
		if err != nil {
			return Credential{Kind: APIKeyScheme, Source: SourceQuery}, err
		}
		if ok {
			c, err := bare(v, SourceQuery)
			switch {
			case err != nil && strings.TrimSpace(v) == "":
				noteEmpty(c, err)
			case err != nil:
				return c, err
			default:
				found[n] = c
				n++
			}
		}
	}
	if n == 0 {
		if empty != nil {
			return emptyCred, empty
		}
		return Credential{Kind: None}, nil
	}
	best := 0
	for k := 1; k < n; k++ {
		if !same(found[0], found[k]) {
			return Credential{Kind: found[0].Kind, Source: found[0].Source}, reason.New(reason.AuthAmbiguous, fmt.Sprintf(
				"two different credentials, one in %s and one in %s: send only one", where(found[0].Source), where(found[k].Source)))
		}
		if found[best].Token != trimSurface(found[best].Token) && found[k].Token == trimSurface(found[k].Token) {
			best = k
		}
	}
	return found[best], nil
}

// QueryKeyPresent reports whether rawQuery carries an api_key parameter,
// so that on a route without query keys the pipeline's auth.missing can
// say the key was sent in the URL, where this route does not read it.
func QueryKeyPresent(rawQuery string) bool {
	if !mayHaveQueryKey(rawQuery) {
		return false
	}
	_, ok, err := queryKey(rawQuery)
	return ok || err != nil
}

// same reports whether two found credentials are the same credential: the
// same token, up to whitespace and quotes around it, and not a Basic
// credential against a key. The comparison need not be constant-time: both
// tokens come from the caller, who knows them.
func same(a, b Credential) bool {
	if (a.Kind == Basic) != (b.Kind == Basic) {
		return false
	}
	return a.Token == b.Token || trimSurface(a.Token) == trimSurface(b.Token)
}

func where(source string) string {
	switch source {
	case SourceAuthorization:
		return "the Authorization header"
	case SourceXAPIKey:
		return "the X-API-Key header"
	case SourceQuery:
		return "the api_key query parameter"
	}
	return source
}

// bare checks a value that is the key itself (X-API-Key, api_key). A
// Gatehouse key is returned raw for keys.Parse to diagnose; any other value
// is checked for surrounding whitespace and quotes here.
func bare(v, source string) (Credential, *reason.Error) {
	c := Credential{Kind: APIKeyScheme, Source: source}
	w := where(source)
	if strings.TrimSpace(v) == "" {
		return c, malformed(fmt.Sprintf("%s is empty: was the variable holding the key empty?", w))
	}
	if k, _ := leadingScheme(trimSP(v)); k != None {
		e := malformed(fmt.Sprintf("%s starts with '%s ': it takes the key alone, without a scheme", w, canonical(k)))
		e.CredentialID = credentialID(v)
		return c, e
	}
	if keys.HasPrefix(v) {
		if strings.IndexByte(v, ',') >= 0 {
			parts := 0
			for p := range strings.SplitSeq(v, ",") {
				if keys.HasPrefix(p) {
					parts++
				}
			}
			if parts > 1 {
				return c, malformed(fmt.Sprintf("%s holds %d keys separated by commas (two headers merged by a proxy?): send one", w, parts))
			}
		}
		c.Token = v
		return c, nil
	}
	if d := placeholder(trimSurface(v)); d != "" {
		return c, malformed(d)
	}
	lead := strings.TrimLeftFunc(v, isSpaceRune)
	lead = v[:len(v)-len(lead)]
	trail := trailingSpace(v)
	if lead != "" || trail != "" {
		var parts []string
		if lead != "" {
			parts = append(parts, "leading "+describeWhitespaceNoArticle(lead))
		}
		if trail != "" {
			parts = append(parts, "trailing "+describeWhitespaceNoArticle(trail))
		}
		return c, malformed(fmt.Sprintf("%s has %s: trim it", w, strings.Join(parts, " and ")))
	}
	if d := quoteProblem(v, "value"); d != "" {
		return c, malformed(fmt.Sprintf("%s: %s: remove the quotes, they are not part of the key", w, d))
	}
	c.Token = v
	return c, nil
}

// mayHaveQueryKey is the cheap test that keeps the common path from
// parsing the query: "api_key=", or the name with its '_' percent-encoded.
func mayHaveQueryKey(rawQuery string) bool {
	if strings.Contains(rawQuery, queryParam+"=") {
		return true
	}
	i := strings.Index(rawQuery, "api%")
	return i >= 0 && strings.Contains(rawQuery[i:], "key=")
}

// queryKey returns the api_key parameter of rawQuery. It scans the query by
// hand rather than with url.ParseQuery so that other parameters (and their
// encoding errors) play no part; two different api_key values are
// ambiguous.
func queryKey(rawQuery string) (string, bool, *reason.Error) {
	var val string
	found := false
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		if k != queryParam {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != queryParam {
				continue
			}
		}
		uv, err := url.QueryUnescape(v)
		if err != nil {
			return "", false, malformed("the api_key query parameter has invalid percent-encoding: encode the key with URL escaping, or better, send it in the X-API-Key header")
		}
		if found && uv != val {
			return "", false, reason.New(reason.AuthAmbiguous, "two different api_key query parameters: send only one")
		}
		val, found = uv, true
	}
	return val, found, nil
}

func malformed(detail string) *reason.Error { return reason.New(reason.AuthMalformedHeader, detail) }

// unsupported names the scheme the caller sent if it reads like a scheme
// name (Token, Digest, DPoP, AWS4-HMAC-SHA256): letters, or words joined by
// '-', at most 20 characters. Anything else in the scheme position may be a
// secret sent without a scheme, so it is not repeated.
func unsupported(scheme string) *reason.Error {
	if !schemeLike(scheme) {
		return reason.New(reason.AuthSchemeUnsupported, "the Authorization scheme (the first word of the header) is not supported here")
	}
	return reason.New(reason.AuthSchemeUnsupported, fmt.Sprintf("the Authorization scheme '%s' is not supported here", scheme))
}

func schemeLike(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	digits, dash := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9':
			digits = true
		case c == '-':
			dash = true
		default:
			return false
		}
	}
	return !digits || dash
}

// credentialID returns the public id of a Gatehouse key inside tok, if one
// can be read, so that a header error can still name the credential.
func credentialID(tok string) string {
	t := trimSurface(tok)
	if !keys.HasPrefix(t) {
		return ""
	}
	p, err := keys.Parse(t, "")
	if err != nil {
		return err.CredentialID
	}
	return p.ID
}
