package keys

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"gatehouse/internal/reason"
)

// Parsed is what a well-formed key tells before any lookup: its
// environment and its public id. Both are substrings of the parsed string,
// so Parse does not allocate on success.
type Parsed struct{ Env, ID string }

// Parse does every offline check of a Gatehouse key (spec §3) and, when the
// key is not usable, says precisely why and how to fix it. gatewayEnv is
// the environment this gateway serves ("live" or "test"); "" accepts keys
// of either environment.
//
// The checks, in order (the first failing one is reported):
//
//  1. surrounding whitespace, a trailing newline or quotes (key.malformed);
//  2. something wrapped around the key: "Bearer ", a header name (key.malformed);
//  3. the prefix: another vendor's key, a JWT, "GK_", "gk-" (key.malformed);
//  4. the environment segment (key.malformed);
//  5. a character outside the alphabet, with its position (key.malformed);
//  6. the length, by how much and in which segment, and the separators (key.malformed);
//  7. the checksum: a typo (key.checksum_mismatch);
//  8. the key's environment against gatewayEnv (key.wrong_environment).
//
// Every Detail is safe to show the caller: it names positions, counts and
// at most one character of the input (the offending one, which is never a
// secret character since it is outside the alphabet), never a run of it.
// CredentialID is set whenever the id segment could be read; the id is
// public.
//
// The checksum comparison is not constant-time: a CRC protects nothing
// secret. The secret is checked later, by comparing Hash values with Equal.
func Parse(s, gatewayEnv string) (Parsed, *reason.Error) {
	if !wellFormed(s) {
		return Parsed{}, diagnose(s)
	}
	p := Parsed{Env: s[envStart:sep1], ID: s[idStart:sep2]}
	if gatewayEnv != "" && p.Env != gatewayEnv {
		e := reason.New(reason.KeyWrongEnvironment, fmt.Sprintf(
			"this is a %s key (gk_%s_…), but this gateway serves %s keys: use a %s key here, or send this one to the %s gateway",
			p.Env, p.Env, gatewayEnv, gatewayEnv, p.Env))
		e.CredentialID = p.ID
		return Parsed{}, e
	}
	return p, nil
}

// HasPrefix reports whether s looks like it was meant to be a Gatehouse key:
// after trimming surrounding whitespace and quotes it starts with "gk_" (in
// any case, or with '-' for '_'). The pipeline uses it to send a bearer
// token to this parser, whose diagnosis is precise, rather than to the JWT
// or opaque-token verifiers.
func HasPrefix(s string) bool {
	s = trimSurface(s)
	return len(s) >= 3 && s[0]|0x20 == 'g' && s[1]|0x20 == 'k' && (s[2] == '_' || s[2] == '-')
}

// LooksWhole reports whether s, as pasted, looks like a whole key, secret
// included: it starts like a key (HasPrefix) and runs past the id. Where a
// key's id is expected (the CLI's key commands, the admin API's /keys/
// paths) such a value is refused or turned into its id, so the secret
// neither travels in a URL nor comes back in an error.
func LooksWhole(s string) bool {
	s = trimSurface(s)
	return HasPrefix(s) && len(s) > secStart
}

// CarriesSecret is LooksWhole for a value that may be something else — a
// name such as "gk-payments-integration" — : it also needs a readable
// key id (gk_live_ or gk_test_ and 12 base62 characters).
func CarriesSecret(s string) bool { return LooksWhole(s) && IDOf(s) != "" }

// IDOf returns the id segment of a key as pasted (surrounding whitespace
// and quotes trimmed), or "" when it cannot be read. The id is public.
func IDOf(s string) string { return idOf(trimSurface(s)) }

// wellFormed is the fast path: every check of a valid key, no diagnosis.
func wellFormed(s string) bool {
	if len(s) != Length || s[:envStart] != Prefix || s[sep1] != '_' || s[sep2] != '_' {
		return false
	}
	if env := s[envStart:sep1]; env != EnvLive && env != EnvTest {
		return false
	}
	if !allBase62(s[idStart:sep2]) || !allBase62(s[secStart:]) {
		return false
	}
	return checkMatches(s[checkStart:], checksum(s[:checkStart]))
}

func isBase62(c byte) bool {
	return c-'0' < 10 || c-'A' < 26 || c-'a' < 26
}

func allBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isBase62(s[i]) {
			return false
		}
	}
	return true
}

// fallbackDetail is what diagnose says if none of its checks explains why
// the fast path failed. That would be a bug (the fuzz test looks for it),
// but the caller still gets a truthful, if vague, answer.
const fallbackDetail = "this is not a well-formed Gatehouse key (gk_<env>_<id>_<secret>): copy the key again exactly as it was shown"

// diagnose explains why s failed wellFormed. It runs only on the rejection
// path, so it may take its time and allocate.
func diagnose(s string) *reason.Error {
	malformed := func(detail, id string) *reason.Error {
		e := reason.New(reason.KeyMalformed, detail)
		e.CredentialID = id
		return e
	}
	if s == "" {
		return malformed("the key is empty: was the variable or file holding it empty?", "")
	}
	if d, inner := surface(s); d != "" {
		return malformed(d, idOf(inner))
	}
	if d, inner := wrapper(s); d != "" {
		// "Authorization: Bearer gk_…" holds two wrappers; the id is inside both.
		for range 3 {
			if _, in := wrapper(inner); in != inner {
				inner = in
			}
		}
		return malformed(d, idOf(trimSurface(inner)))
	}
	if d := prefixProblem(s); d != "" {
		return malformed(d, "")
	}
	if d := envProblem(s); d != "" {
		return malformed(d, "")
	}
	// From here on s starts with gk_live_ or gk_test_.
	if d, i := badChar(s); d != "" {
		id := ""
		if i > sep2 {
			id = idOf(s)
		}
		return malformed(d, id)
	}
	// From here on s is ASCII, so byte offsets are character positions.
	if d := lengthProblem(s); d != "" {
		return malformed(d, idOf(s))
	}
	if !checkMatches(s[checkStart:], checksum(s[:checkStart])) {
		e := reason.New(reason.KeyChecksumMismatch,
			"checksum mismatch: the key has the right shape, but a character was changed (a typo, or a misread 0/O or l/1/I); copy the key again from where it was shown")
		e.CredentialID = s[idStart:sep2]
		return e
	}
	return malformed(fallbackDetail, idOf(s))
}

// idOf returns the id segment of s if s starts like a key with a readable
// id (gk_<env>_<12 base62>_), else "".
func idOf(s string) string {
	if len(s) <= sep2 || s[:envStart] != Prefix || s[sep1] != '_' || s[sep2] != '_' {
		return ""
	}
	if env := s[envStart:sep1]; env != EnvLive && env != EnvTest {
		return ""
	}
	if !allBase62(s[idStart:sep2]) {
		return ""
	}
	return s[idStart:sep2]
}

// spaceLike reports whitespace and the invisible characters that come
// with copy and paste (zero-width spaces, joiners, byte-order marks).
func spaceLike(r rune) bool {
	switch r {
	case 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF:
		return true
	}
	return unicode.IsSpace(r)
}

// quoteChar reports the quotes people and tools put around secrets.
func quoteChar(r rune) bool {
	switch r {
	case '"', '\'', '`', '“', '”', '‘', '’', '«', '»', '„', '‚':
		return true
	}
	return false
}

func leadingRun(s string, f func(rune) bool) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !f(r) {
			break
		}
		i += size
	}
	return s[:i]
}

func trailingRun(s string, f func(rune) bool) string {
	i := len(s)
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if !f(r) {
			break
		}
		i -= size
	}
	return s[i:]
}

// trimSurface strips surrounding whitespace and quotes, in any nesting.
func trimSurface(s string) string {
	for {
		t := strings.TrimFunc(s, spaceLike)
		t = strings.TrimFunc(t, quoteChar)
		if t == s {
			return s
		}
		s = t
	}
}

// surface describes whitespace and quotes around s, outermost first, and
// returns what is inside them. It returns "" if there are none.
func surface(s string) (detail, inner string) {
	var phrases []string
	var newline, cr, space, quotes bool
	inner = s
	for range 8 {
		lead := leadingRun(inner, spaceLike)
		if lead == inner { // nothing but whitespace left
			if inner != "" {
				phrases = append(phrases, describeRun(inner))
			}
			inner = ""
			break
		}
		trail := trailingRun(inner, spaceLike)
		if lead != "" || trail != "" {
			var p []string
			if lead != "" {
				p = append(p, "leading "+describeRun(lead))
				space = true
			}
			if trail != "" {
				p = append(p, "trailing "+describeRun(trail))
				if strings.ContainsAny(trail, "\n\r") {
					newline = true
					cr = cr || strings.Contains(trail, "\r")
				} else {
					space = true
				}
			}
			phrases = append(phrases, strings.Join(p, " and "))
			inner = inner[len(lead) : len(inner)-len(trail)]
			continue
		}
		first, _ := utf8.DecodeRuneInString(inner)
		last, lsize := utf8.DecodeLastRuneInString(inner)
		qf, ql := quoteChar(first), quoteChar(last)
		if !qf && !ql {
			break
		}
		quotes = true
		if qf && ql && len(inner) > lsize {
			if pairName := quotePair(first, last); pairName != "" {
				phrases = append(phrases, pairName+" around the key")
			} else {
				phrases = append(phrases, "a leading "+quoteName(first)+" and a trailing "+quoteName(last))
			}
			inner = inner[utf8.RuneLen(first) : len(inner)-lsize]
		} else if qf {
			phrases = append(phrases, "a leading "+quoteName(first))
			inner = inner[utf8.RuneLen(first):]
		} else {
			phrases = append(phrases, "a trailing "+quoteName(last))
			inner = inner[:len(inner)-lsize]
		}
	}
	if len(phrases) == 0 {
		return "", s
	}
	d := strings.Join(phrases, ", and ")
	if inner == "" {
		return "the key is empty apart from " + d + ": was the variable or file holding it empty?", ""
	}
	var advice []string
	if newline {
		if cr {
			advice = append(advice, "the key was probably read from a file with Windows line endings; trim it")
		} else {
			advice = append(advice, "the key was probably read from a file; trim it")
		}
	} else if space {
		advice = append(advice, "trim it")
	}
	if quotes {
		advice = append(advice, "remove the quotes (they are not part of the key)")
	}
	return d + ": " + strings.Join(advice, " and "), inner
}

// describeRun names a run of whitespace: "space", "2 spaces", "newline",
// "CRLF (\r\n)", "whitespace (space, tab)".
func describeRun(run string) string {
	switch run {
	case "\n":
		return "newline"
	case "\r\n":
		return `CRLF (\r\n)`
	case "\r":
		return `carriage return (\r)`
	}
	var kinds []rune
	n := 0
	for _, r := range run {
		n++
		if len(kinds) == 0 || !containsRune(kinds, r) {
			kinds = append(kinds, r)
		}
	}
	if len(kinds) == 1 {
		name, code := spaceName(kinds[0])
		if n > 1 {
			name = fmt.Sprintf("%d %ss", n, name)
		}
		if code != "" {
			name += " (" + code + ")"
		}
		return name
	}
	names := make([]string, len(kinds))
	for i, r := range kinds {
		name, code := spaceName(r)
		if code != "" {
			name += " " + code
		}
		names[i] = name
	}
	return "whitespace (" + strings.Join(names, ", ") + ")"
}

func containsRune(rs []rune, r rune) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// spaceName names a whitespace character and, when its name alone could be
// ambiguous, its code point.
func spaceName(r rune) (name, code string) {
	switch r {
	case ' ':
		return "space", ""
	case '\t':
		return "tab", ""
	case '\n':
		return "newline", ""
	case '\r':
		return "carriage return", `\r`
	case 0xA0:
		return "non-breaking space", "U+00A0"
	case 0x200B:
		return "zero-width space", "U+200B"
	case 0xFEFF:
		return "byte-order mark", "U+FEFF"
	}
	return "whitespace character", fmt.Sprintf("U+%04X", r)
}

func quoteName(r rune) string {
	switch r {
	case '"':
		return `double quote (")`
	case '\'':
		return `single quote (')`
	case '`':
		return "backtick (`)"
	}
	return fmt.Sprintf("typographic quote (%c, U+%04X)", r, r)
}

// quotePair names a matching pair of quotes, or returns "".
func quotePair(a, b rune) string {
	switch {
	case a == '"' && b == '"':
		return `double quotes (")`
	case a == '\'' && b == '\'':
		return `single quotes (')`
	case a == '`' && b == '`':
		return "backticks (`)"
	case (a == '“' || a == '”' || a == '„') && (b == '“' || b == '”'),
		(a == '‘' || a == '’' || a == '‚') && (b == '‘' || b == '’'),
		a == '«' && b == '»', a == '»' && b == '«':
		return fmt.Sprintf("typographic quotes (%c %c)", a, b)
	}
	return ""
}

// wrapper detects a header name or scheme sent as part of the key and
// returns what follows it.
func wrapper(s string) (detail, inner string) {
	// Things people send in front of a key, matched case-insensitively.
	wrappers := [...]struct{ prefix, what, fix string }{
		{"authorization:", "an 'Authorization:' header name", "send only the key as the value"},
		{"x-api-key:", "an 'X-API-Key:' header name", "send only the key as the value"},
		{"api_key=", "'api_key='", "send only the key"},
		{"bearer ", "the scheme 'Bearer '", "the scheme belongs in the Authorization header only, once; send the key alone here"},
		{"apikey ", "the scheme 'ApiKey '", "the scheme belongs in the Authorization header only, once; send the key alone here"},
		{"basic ", "the scheme 'Basic '", "send the key alone"},
		{"token ", "the word 'Token '", "send the key alone"},
	}
	for _, w := range wrappers {
		if len(s) > len(w.prefix) && asciiEqualFold(s[:len(w.prefix)], w.prefix) {
			return "the value starts with " + w.what + ", which is not part of the key: " + w.fix,
				strings.TrimLeft(s[len(w.prefix):], " \t")
		}
	}
	return "", s
}

func prefixProblem(s string) string {
	if strings.HasPrefix(s, Prefix) {
		return ""
	}
	// Prefixes of other systems' credentials, so that a key for the wrong
	// service is named as such. Longer prefixes come first.
	foreign := [...]struct{ prefix, what string }{
		{"sk_live_", "a Stripe live secret key"},
		{"sk_test_", "a Stripe test secret key"},
		{"rk_live_", "a Stripe restricted key"},
		{"rk_test_", "a Stripe restricted key"},
		{"pk_live_", "a Stripe publishable key"},
		{"pk_test_", "a Stripe publishable key"},
		{"sk-ant-", "an Anthropic API key"},
		{"sk-", "an OpenAI-style secret key"},
		{"sk_", "another service's secret key"},
		{"github_pat_", "a GitHub fine-grained token"},
		{"ghp_", "a GitHub personal access token"},
		{"gho_", "a GitHub OAuth token"},
		{"ghu_", "a GitHub App user token"},
		{"ghs_", "a GitHub App installation token"},
		{"ghr_", "a GitHub refresh token"},
		{"glpat-", "a GitLab personal access token"},
		{"npm_", "an npm token"},
		{"xoxb-", "a Slack bot token"},
		{"xoxp-", "a Slack user token"},
		{"xapp-", "a Slack app token"},
		{"AKIA", "an AWS access key id"},
		{"AIza", "a Google API key"},
	}
	if len(s) < len(Prefix) && strings.HasPrefix(Prefix, s) {
		return fmt.Sprintf("the key is only %s long: it was truncated; copy the whole key", plural(len(s), "character"))
	}
	if strings.HasPrefix(s, "eyJ") {
		return "this is a JWT (it starts with 'eyJ'), not a Gatehouse API key: send it as 'Authorization: Bearer <token>' to a route that accepts JWTs, or send your gk_ key"
	}
	if len(s) >= 3 && asciiEqualFold(s[:3], Prefix) {
		return fmt.Sprintf("the key starts with '%s': the prefix is lower-case 'gk_' (was the key's case changed?)", s[:3])
	}
	if len(s) >= 3 && s[:2] == "gk" {
		return fmt.Sprintf("%s at position 3: 'gk' must be followed by '_' (gk_live_… or gk_test_…)", describeAt(s, 2))
	}
	for _, cut := range []string{"k_", "_", ""} {
		for _, env := range []string{EnvLive, EnvTest} {
			if strings.HasPrefix(s, cut+env+"_") {
				return fmt.Sprintf("the key is missing its first %d characters ('gk_' is incomplete): was the start cut off when it was copied?", len(Prefix)-len(cut))
			}
		}
	}
	for _, f := range foreign {
		if strings.HasPrefix(s, f.prefix) {
			return fmt.Sprintf("wrong prefix: the value starts with '%s' (%s), but Gatehouse keys start with 'gk_': check you sent the key issued for this API", f.prefix, f.what)
		}
	}
	return "wrong prefix: Gatehouse keys start with 'gk_' (gk_live_… or gk_test_…), and this value does not: check you sent the key issued for this API, copied from its start"
}

func envProblem(s string) string {
	rest := s[len(Prefix):]
	if strings.HasPrefix(rest, EnvLive+"_") || strings.HasPrefix(rest, EnvTest+"_") {
		return ""
	}
	const want = "expected 'live' or 'test' after 'gk_' (gk_live_… or gk_test_…)"
	j := strings.IndexByte(rest, '_')
	if j == IDLength && utf8.RuneCountInString(s) == Length-envLen-1 && allBase62(rest[:j]) {
		return "the environment segment is missing: " + want
	}
	for _, env := range []string{EnvLive, EnvTest} {
		if len(rest) >= envLen && rest[:envLen] != env && asciiEqualFold(rest[:envLen], env) && (len(rest) == envLen || rest[envLen] == '_') {
			return fmt.Sprintf("the environment is written '%s': it must be lower-case '%s'", rest[:envLen], env)
		}
		if strings.HasPrefix(rest, env) {
			if len(rest) == envLen {
				return "the key ends after 'gk_" + env + "': it was truncated; copy the whole key"
			}
			return fmt.Sprintf("%s at position %d: expected '_' after 'gk_%s'", describeAt(s, sep1), sep1+1, env)
		}
	}
	// Name the segment only if it reads like an environment word (one
	// case of letters): it can then be no part of a secret.
	if j > 0 && j <= 8 && isOneCaseWord(rest[:j]) {
		return fmt.Sprintf("unknown environment '%s': %s", rest[:j], want)
	}
	return "unknown or missing environment segment: " + want
}

// asciiEqualFold is strings.EqualFold for ASCII only: Unicode folding
// would match look-alikes (U+212A KELVIN SIGN folds to 'k').
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func isOneCaseWord(s string) bool {
	lower, upper := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		lower = lower && 'a' <= c && c <= 'z'
		upper = upper && 'A' <= c && c <= 'Z'
	}
	return lower || upper
}

// badChar finds the first character after "gk_<env>_" that is neither in
// the alphabet nor '_', and returns its description and byte offset.
func badChar(s string) (string, int) {
	for i := idStart; i < len(s); i++ {
		if c := s[i]; isBase62(c) || c == '_' {
			continue
		}
		pos := utf8.RuneCountInString(s[:i]) + 1
		r, _ := utf8.DecodeRuneInString(s[i:])
		var why string
		switch {
		case spaceLike(r):
			why = "the key was split or wrapped across lines; remove it"
		case quoteChar(r):
			why = "remove it"
		case r >= utf8.RuneSelf:
			why = "a look-alike character, perhaps from a document or chat; copy the key again from where it was shown"
		default:
			why = "check the key was copied exactly"
		}
		return fmt.Sprintf("%s at position %d is not in the key alphabet (0-9, A-Z, a-z): %s", describeAt(s, i), pos, why), i
	}
	return "", -1
}

// lengthProblem checks the length and the separators of s, which starts
// with gk_<env>_ and holds only base62 characters and '_'.
func lengthProblem(s string) string {
	rest := s[idStart:]
	const tailLen = SecretLength + CheckLength
	j := strings.IndexByte(rest, '_')
	if len(s) == Length {
		switch {
		case j == IDLength && strings.IndexByte(rest[j+1:], '_') < 0:
			return ""
		case j < 0:
			return fmt.Sprintf("the '_' after the id is missing (expected at position %d, after the %d-character id): copy the key again exactly", sep2+1, IDLength)
		case j != IDLength:
			return fmt.Sprintf("the '_' after the id is at position %d, expected at %d: the id has %d characters instead of %d, so one was added or lost; copy the key again exactly",
				idStart+j+1, sep2+1, j, IDLength)
		default:
			k := sep2 + 1 + strings.IndexByte(rest[j+1:], '_')
			return fmt.Sprintf("'_' at position %d is not in the key alphabet (0-9, A-Z, a-z): only positions %d and %d are '_'; copy the key again exactly", k+1, sep1+1, sep2+1)
		}
	}
	if j < 0 && len(rest) == IDLength+tailLen {
		return fmt.Sprintf("1 character short: the '_' between the id and the secret (position %d) is missing", sep2+1)
	}
	// Key starts, not "gk_": an id may end in "gk", and its '_' follows.
	if n := strings.Count(s, Prefix+EnvLive+"_") + strings.Count(s, Prefix+EnvTest+"_"); n > 1 {
		return fmt.Sprintf("%d characters instead of %d, and a key starts %d times: two keys were pasted together; send one", len(s), Length, n)
	}
	var d string
	if n := Length - len(s); n > 0 {
		d = plural(n, "character") + " short"
	} else {
		d = plural(-n, "character") + " too long"
	}
	if j >= 0 {
		tail := rest[j+1:]
		var seg []string
		if j != IDLength {
			seg = append(seg, fmt.Sprintf("the id has %d of %d characters", j, IDLength))
		}
		if strings.IndexByte(tail, '_') >= 0 {
			seg = append(seg, "there is more than one '_' after the id")
		} else if len(tail) != tailLen {
			seg = append(seg, fmt.Sprintf("the secret and checksum have %d of %d characters", len(tail), tailLen))
		}
		if len(seg) > 0 {
			d += " (" + strings.Join(seg, "; ") + ")"
		}
	}
	if len(s) < Length {
		return d + ": was it truncated when copied?"
	}
	return d + ": was something appended to it? Copy the key again exactly"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// describeAt names the character at byte offset i of s for a caller:
// printable ASCII quoted, everything else (or in addition) by code point,
// so an invisible or confusable character is unambiguous. It never shows
// more than this one character.
func describeAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("an invalid UTF-8 byte (0x%02X)", s[i])
	}
	switch r {
	case ' ':
		return "a space"
	case '\t':
		return "a tab (U+0009)"
	case '\n':
		return "a newline (U+000A)"
	case '\r':
		return "a carriage return (U+000D)"
	case '"', '\'', '`':
		return "a " + quoteName(r)
	case 0xA0, 0x200B, 0xFEFF:
		name, code := spaceName(r)
		return "a " + name + " (" + code + ")"
	case 0x2013:
		return "an en dash (U+2013)"
	case 0x2014:
		return "an em dash (U+2014)"
	}
	switch {
	case r < 0x20 || r == 0x7F:
		return fmt.Sprintf("a control character (U+%04X)", r)
	case r < utf8.RuneSelf:
		return fmt.Sprintf("'%c'", r)
	case quoteChar(r):
		return "a " + quoteName(r)
	case unicode.IsPrint(r):
		return fmt.Sprintf("'%c' (U+%04X)", r, r)
	}
	return fmt.Sprintf("an invisible or unprintable character (U+%04X)", r)
}
