package doctor

import (
	"fmt"
	"net/http"
	"net/textproto"
	"sort"
	"strings"
	"unicode/utf8"

	"gatehouse/internal/authheader"
	"gatehouse/internal/keys"
	"gatehouse/internal/reason"
)

// Check names of the local phase.
const (
	checkHeader    = "credential header"
	checkURL       = "URL"
	checkOther     = "other headers"
	checkKeyFormat = "key format"
	checkKeyEnv    = "key environment"
)

// stray is a credential found where Gatehouse never reads one.
type stray struct {
	where string // "the Api-Key header", "the URL parameter 'token'"
	what  string // "a Gatehouse key", "a JWT", "a value"
	token string
	// strong: the value itself is a key or a JWT (not just a suspicious
	// name).
	strong bool
}

// local runs every check that needs no network: where the credential is,
// how it is framed, and what it is.
func (r *run) local() {
	h := http.Header{}
	var strays []stray
	for _, hd := range r.o.Headers {
		canon := textproto.CanonicalMIMEHeaderKey(hd.Name)
		h[canon] = append(h[canon], hd.Value)
		if strings.ContainsAny(hd.Value, "\r\n\x00") && r.unsendable == "" {
			r.unsendable = "the " + hd.Name + " header contains a line break or a NUL, which HTTP forbids"
		}
		if canon == "Authorization" || canon == "X-Api-Key" {
			continue
		}
		if s, ok := strayIn("the "+hd.Name+" header", canon, hd.Value, credentialHeaderName); ok {
			strays = append(strays, s)
		}
	}
	q := r.u.Query()
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "api_key" {
			continue
		}
		for _, v := range q[name] {
			if s, ok := strayIn("the URL parameter '"+name+"'", name, v, credentialParamName); ok {
				strays = append(strays, s)
				break
			}
		}
	}
	queryKey := authheader.QueryKeyPresent(r.u.RawQuery)
	if queryKey {
		r.add(GroupLocal, checkURL, Warn, "the key is in the URL (?api_key=): only routes that enable query keys read it there, and URLs end up in logs, proxies and browser history; prefer 'Authorization: Bearer <key>'")
		r.note(&finding{code: reason.AuthMissing,
			fix: "This route does not read keys from the URL: send the key as 'Authorization: Bearer <key>' instead of ?api_key="})
	}

	pres, rerr := authheader.FromRequest(h, r.u.RawQuery, queryKey)
	hidden := trimmedByClient(h, pres.Source)
	tok := pres.Token
	if rerr != nil && tok == "" {
		tok = salvage(h)
	}
	where := describeSource(pres)
	switch {
	case rerr != nil:
		d := rerr.Detail
		if rerr.Code == reason.AuthSchemeUnsupported {
			d += "; Gatehouse reads 'Authorization: Bearer <key>', 'Authorization: ApiKey <key>' and 'X-API-Key: <key>'"
		}
		r.add(GroupLocal, checkHeader, Fail, d)
		r.note(&finding{code: rerr.Code, blocking: true, hidden: hidden, fix: headerFix(rerr, pres, tok)})
		r.content(tok, where, hidden)
	case pres.Kind == authheader.None:
		r.noCredential(strays)
		return
	case apikeyOnly(pres) && looksJWT(pres.Token):
		r.add(GroupLocal, checkHeader, Fail, "a JWT is in "+where+", which carries API keys only")
		r.note(&finding{code: reason.KeyMalformed, blocking: true,
			explains: []string{reason.KeyUnknown, reason.AuthMethodNotAllowed, "token.unrecognized"},
			// Whether this route takes JWTs at all only the gateway knows:
			// the fix holds either way.
			fix: "Send a JWT as 'Authorization: Bearer <token>', not in " + where + ", and only to a route that accepts JWTs; on a route for API keys, send your gk_ key instead"})
		r.content(tok, where, hidden)
	default:
		r.add(GroupLocal, checkHeader, Pass, where+" carries "+describeToken(pres.Token, pres.Kind))
		r.content(tok, where, hidden)
	}
	if len(strays) > 0 {
		var parts []string
		for _, s := range strays {
			parts = append(parts, s.what+" in "+s.where)
		}
		r.add(GroupLocal, checkOther, Warn, strings.Join(parts, "; ")+": ignored, since Gatehouse reads credentials only from Authorization and X-API-Key (and ?api_key= where a route allows it)")
	}
}

// noCredential reports a request with nothing where the gateway looks.
func (r *run) noCredential(strays []stray) {
	if len(strays) == 0 {
		r.add(GroupLocal, checkHeader, Warn, "the request carries no credential (no Authorization or X-API-Key header): fine only for a public route")
		r.note(&finding{code: reason.AuthMissing, fix: "Send your key as 'Authorization: Bearer <key>' (or as 'X-API-Key: <key>')."})
		return
	}
	s := strays[0]
	r.add(GroupLocal, checkHeader, Fail, fmt.Sprintf("nothing in Authorization or X-API-Key, where Gatehouse looks; %s is in %s, which no route reads", s.what, s.where))
	fix := fmt.Sprintf("Move the key from %s to 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.", s.where)
	if s.what == "a JWT" {
		fix = fmt.Sprintf("Move the JWT from %s to 'Authorization: Bearer <token>'.", s.where)
	}
	r.note(&finding{code: reason.AuthMissing, blocking: s.strong, fix: fix})
	r.content(s.token, s.where, false)
}

// content inspects the credential itself.
func (r *run) content(tok, where string, hidden bool) {
	switch {
	case tok == "":
	case keys.HasPrefix(tok):
		r.keyChecks(tok, hidden)
	case looksJWT(strings.TrimSpace(tok)):
		r.jwtChecks(strings.TrimSpace(tok))
	}
}

// keyChecks runs the offline key checks (keys.Parse) and records the key's
// environment for the comparison with the gateway's.
func (r *run) keyChecks(tok string, hidden bool) {
	env := envOf(tok)
	p, kerr := keys.Parse(tok, "")
	if kerr != nil {
		r.keyID, r.keyEnv = kerr.CredentialID, env
		r.add(GroupLocal, checkKeyFormat, Fail, maskKey(tok, env, kerr.CredentialID, false)+": "+kerr.Detail)
		fix := sentence(kerr.Detail)
		if strings.HasSuffix(fix, "?") {
			// A detail that asks how it happened still needs the fix.
			fix += " Copy the whole key again exactly as it was shown."
		}
		if kerr.Code == reason.KeyChecksumMismatch {
			fix = "The key has a typo (its checksum does not match): copy it again from where it was shown instead of retyping it."
		}
		r.note(&finding{code: kerr.Code, blocking: true, hidden: hidden, fix: fix})
		return
	}
	r.keyID, r.keyEnv = p.ID, p.Env
	r.add(GroupLocal, checkKeyFormat, Pass, maskKey(tok, p.Env, p.ID, true)+": prefix, length, alphabet and checksum are right")
	r.add(GroupLocal, checkKeyEnv, Pass, fmt.Sprintf("a %s key: it works only on a gateway that serves %s keys", p.Env, p.Env))
}

// maskKey shows a key without its secret: gk_live_<id>_…<last 4> for a
// well-formed key (the last 4 are checksum characters), and for a broken
// one only what is public (prefix, id) and its length — the end of a
// truncated key is secret.
func maskKey(tok, env, id string, valid bool) string {
	n := utf8.RuneCountInString(tok)
	switch {
	case valid:
		return keys.Prefix + env + "_" + id + "_…" + keys.Last4(tok)
	case id != "" && env != "":
		return fmt.Sprintf("%s%s_%s_… (%d characters)", keys.Prefix, env, id, n)
	case env != "":
		return fmt.Sprintf("%s%s_… (%d characters)", keys.Prefix, env, n)
	}
	return fmt.Sprintf("the %d-character value", n)
}

// envOf reads the environment segment of something meant as a key, after
// the whitespace and quotes keys.Parse complains about.
func envOf(tok string) string {
	t := strings.Trim(tok, " \t\r\n\"'`")
	for _, env := range []string{keys.EnvLive, keys.EnvTest} {
		if strings.HasPrefix(t, keys.Prefix+env+"_") {
			return env
		}
	}
	return ""
}

// headerFix is the fix for a framing problem found by authheader.
func headerFix(e *reason.Error, pres authheader.Credential, tok string) string {
	// authheader names the scheme only when it reads like a scheme name
	// (otherwise it may be a secret sent without one): name it only then.
	if e.Code == reason.AuthSchemeUnsupported && pres.Scheme != "" && strings.Contains(e.Detail, "'"+pres.Scheme+"'") {
		what := "key"
		if looksJWT(tok) {
			what = "token"
		}
		return fmt.Sprintf("Send 'Authorization: Bearer <%s>' instead of '%s <%s>'.", what, pres.Scheme, what)
	}
	if e.Code == reason.AuthSchemeUnsupported {
		return "Send 'Authorization: Bearer <key>': the first word of the Authorization header must be the scheme Bearer."
	}
	return sentence(e.Detail)
}

// describeSource names where a credential was found.
func describeSource(p authheader.Credential) string {
	switch p.Source {
	case authheader.SourceXAPIKey:
		return "the X-API-Key header"
	case authheader.SourceQuery:
		return "the api_key URL parameter"
	case authheader.SourceAuthorization:
		if p.Scheme != "" && p.Kind != authheader.Other {
			return "the Authorization header (" + schemeName(p.Kind) + ")"
		}
		return "the Authorization header"
	}
	return "the request"
}

func schemeName(k authheader.Kind) string {
	switch k {
	case authheader.Bearer:
		return "Bearer"
	case authheader.APIKeyScheme:
		return "ApiKey"
	case authheader.Basic:
		return "Basic"
	}
	return k.String()
}

// describeToken says what kind of credential a token is.
func describeToken(tok string, k authheader.Kind) string {
	switch {
	case k == authheader.Basic:
		return "Basic credentials (a user name and password; not inspected further)"
	case keys.HasPrefix(tok):
		return "a Gatehouse key"
	case looksJWT(tok):
		return "a JWT"
	}
	return fmt.Sprintf("an opaque %d-character token: neither a Gatehouse key (gk_…) nor a JWT, so only a key imported into the gateway can match it", utf8.RuneCountInString(tok))
}

// apikeyOnly reports places that carry API keys only.
func apikeyOnly(p authheader.Credential) bool {
	return p.Kind == authheader.APIKeyScheme || p.Source == authheader.SourceXAPIKey || p.Source == authheader.SourceQuery
}

// trimmedByClient reports whether a value of the header the credential came
// from has surrounding whitespace: Go's HTTP client trims it when sending,
// so the gateway's answer to the doctor's request cannot show the problem.
func trimmedByClient(h http.Header, source string) bool {
	var vs []string
	switch source {
	case authheader.SourceAuthorization:
		vs = h["Authorization"]
	case authheader.SourceXAPIKey:
		vs = h["X-Api-Key"]
	}
	for _, v := range vs {
		if textproto.TrimString(v) != v {
			return true
		}
	}
	return false
}

// salvage finds the credential inside a header authheader rejected
// ("Bearer Bearer gk_…", quotes), so the key itself can still be checked.
func salvage(h http.Header) string {
	for _, name := range []string{"Authorization", "X-Api-Key"} {
		for _, v := range h[name] {
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			t := strings.Trim(f[len(f)-1], "\"'`")
			if keys.HasPrefix(t) || looksJWT(t) {
				return t
			}
		}
	}
	return ""
}

// strayIn reports a credential in a header or parameter Gatehouse never
// reads: the value is a key or a JWT (after an optional scheme word), or
// the name says credential and a value is there.
func strayIn(where, name, value string, suspicious func(string) bool) (stray, bool) {
	v := strings.Trim(strings.TrimSpace(value), "\"'`")
	if i := strings.IndexAny(v, " \t"); i > 0 && isSchemeWord(v[:i]) {
		v = strings.TrimSpace(v[i+1:])
	}
	switch {
	case keys.HasPrefix(v):
		return stray{where: where, what: "a Gatehouse key", token: v, strong: true}, true
	case looksJWT(v):
		return stray{where: where, what: "a JWT", token: v, strong: true}, true
	case v != "" && suspicious(name):
		return stray{where: where, what: "a value that looks like a credential", token: v}, true
	}
	return stray{}, false
}

func isSchemeWord(s string) bool {
	for _, w := range []string{"Bearer", "Token", "ApiKey", "Api-Key", "Basic", "Key"} {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}

// credentialHeaderName reports header names people put keys in.
func credentialHeaderName(canon string) bool {
	n := strings.ToLower(canon)
	switch n {
	case "idempotency-key", "sec-websocket-key", "proxy-authorization":
		return false
	case "token", "key", "apikey", "authentication", "x-authorization", "x-auth", "x-key", "x-token":
		return true
	}
	for _, s := range []string{"api-key", "apikey", "api_key", "api-token", "auth-token", "access-token", "authtoken", "accesstoken", "secret"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// credentialParamName reports query parameter names people put keys in.
func credentialParamName(name string) bool {
	switch strings.ToLower(name) {
	case "key", "apikey", "api-key", "token", "access_token", "auth", "secret", "gatehouse_key":
		return true
	}
	return false
}
