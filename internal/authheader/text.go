package authheader

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Lexical helpers. Every description here names a character class or one
// character, never a run of the caller's token.

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// isSpaceRune is whitespace plus the invisible characters copy and paste
// brings along (zero-width spaces and joiners, byte-order marks).
func isSpaceRune(r rune) bool {
	switch r {
	case 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF:
		return true
	}
	return unicode.IsSpace(r)
}

func isQuote(r rune) bool {
	switch r {
	case '"', '\'', '`', '“', '”', '‘', '’', '«', '»', '„', '‚':
		return true
	}
	return false
}

// tchar bitmaps: bit c of tcharLo (c < 64) or of tcharHi (64 ≤ c < 128)
// is set for the tchar c. TestTcharMatchesRFC checks them against the
// grammar.
const (
	tcharLo uint64 = 0x03ff6cfa00000000
	tcharHi uint64 = 0x57ffffffc7fffffe
)

// isTchar reports RFC 9110 §5.6.2 tchar, the characters of an auth-scheme:
// "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" /
// "`" / "|" / "~" / DIGIT / ALPHA.
func isTchar(c byte) bool {
	if c < 64 {
		return tcharLo&(1<<c) != 0
	}
	return c < 128 && tcharHi&(1<<(c-64)) != 0
}

// schemeKind maps an auth-scheme, case-insensitively (RFC 9110 §11.1), to
// its Kind; anything unknown is Other.
func schemeKind(s string) Kind {
	switch {
	case asciiEqualFold(s, "Bearer"):
		return Bearer
	case asciiEqualFold(s, "ApiKey"):
		return APIKeyScheme
	case asciiEqualFold(s, "Basic"):
		return Basic
	}
	return Other
}

// canonical is the scheme name as documented, used in details so that a
// detail never repeats the caller's input.
func canonical(k Kind) string {
	switch k {
	case Bearer:
		return "Bearer"
	case APIKeyScheme:
		return "ApiKey"
	case Basic:
		return "Basic"
	}
	return ""
}

// leadingScheme reports whether s starts with a known scheme name followed
// by whitespace or the end: "Bearer gk_…" inside a token.
func leadingScheme(s string) (Kind, int) {
	// The known schemes have at most 6 characters: a longer word is none
	// of them, and a token (a key, a JWT) is not scanned to its end.
	const longest = 6
	i := 0
	for i < len(s) && i <= longest && isTchar(s[i]) {
		i++
	}
	if i == 0 || (i < len(s) && !isSpace(s[i])) {
		return None, 0
	}
	if k := schemeKind(s[:i]); k != Other {
		return k, i
	}
	return None, 0
}

// asciiEqualFold is strings.EqualFold for ASCII only: Unicode folding would
// let look-alikes through (U+212A KELVIN SIGN folds to 'k').
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

// trimSP strips leading SP and HTAB (RFC 9110 OWS).
func trimSP(s string) string {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return s[i:]
}

func trailingSpace(s string) string {
	return s[len(strings.TrimRightFunc(s, isSpaceRune)):]
}

// trimSurface strips surrounding whitespace and quotes, in any nesting.
func trimSurface(s string) string {
	for {
		t := strings.TrimFunc(strings.TrimFunc(s, isSpaceRune), isQuote)
		if t == s {
			return s
		}
		s = t
	}
}

// spaceName names one whitespace character.
func spaceName(r rune) string {
	switch r {
	case ' ':
		return "space"
	case '\t':
		return "tab"
	case '\n':
		return "newline"
	case '\r':
		return `carriage return (\r)`
	case 0xA0:
		return "non-breaking space (U+00A0)"
	case 0x200B:
		return "zero-width space (U+200B)"
	case 0xFEFF:
		return "byte-order mark (U+FEFF)"
	}
	return fmt.Sprintf("whitespace character (U+%04X)", r)
}

// describeWhitespace names a run of whitespace with an article or count:
// "a space", "two spaces", "a tab", "whitespace (space, tab)".
func describeWhitespace(run string) string {
	kinds, n := runKinds(run)
	if len(kinds) == 1 {
		name := spaceName(kinds[0])
		switch n {
		case 1:
			if name[0] == 'a' || name[0] == 'e' || name[0] == 'i' || name[0] == 'o' || name[0] == 'u' {
				return "an " + name
			}
			return "a " + name
		case 2:
			return "two " + pluralName(name)
		}
		return fmt.Sprintf("%d %s", n, pluralName(name))
	}
	return mixedWhitespace(kinds)
}

// describeWhitespaceNoArticle names a run for use after "leading" or
// "trailing": "space", "2 spaces", "newline".
func describeWhitespaceNoArticle(run string) string {
	kinds, n := runKinds(run)
	if len(kinds) == 1 {
		name := spaceName(kinds[0])
		if n == 1 {
			return name
		}
		return fmt.Sprintf("%d %s", n, pluralName(name))
	}
	return mixedWhitespace(kinds)
}

func runKinds(run string) (kinds []rune, n int) {
	for _, r := range run {
		n++
		seen := false
		for _, k := range kinds {
			seen = seen || k == r
		}
		if !seen {
			kinds = append(kinds, r)
		}
	}
	return kinds, n
}

func mixedWhitespace(kinds []rune) string {
	names := make([]string, len(kinds))
	for i, r := range kinds {
		names[i] = spaceName(r)
	}
	return "whitespace (" + strings.Join(names, ", ") + ")"
}

// pluralName turns "space" into "spaces" and "byte-order mark (U+FEFF)"
// into "byte-order marks (U+FEFF)".
func pluralName(name string) string {
	if j := strings.LastIndex(name, " ("); j > 0 {
		return name[:j] + "s" + name[j:]
	}
	return name + "s"
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

// quoteProblem describes quotes at either end of v ("token" or "value"
// names it), or returns "".
func quoteProblem(v, noun string) string {
	first, fsize := utf8.DecodeRuneInString(v)
	last, _ := utf8.DecodeLastRuneInString(v)
	qf, ql := isQuote(first), isQuote(last)
	switch {
	case qf && ql && len(v) > fsize:
		if first == last && first < utf8.RuneSelf {
			return fmt.Sprintf("the %s is in %s", noun, pluralName(quoteName(first)))
		}
		if first >= utf8.RuneSelf && last >= utf8.RuneSelf {
			return fmt.Sprintf("the %s is in typographic quotes (%c %c, U+%04X U+%04X)", noun, first, last, first, last)
		}
		return fmt.Sprintf("the %s is between a %s and a %s", noun, quoteName(first), quoteName(last))
	case qf:
		return fmt.Sprintf("a %s before the %s", quoteName(first), noun)
	case ql:
		return fmt.Sprintf("a %s after the %s", quoteName(last), noun)
	}
	return ""
}

// placeholder recognises what clients send when the variable meant to hold
// the key was not set or not substituted. Only fixed words are echoed.
func placeholder(tok string) string {
	for _, w := range [...]string{"undefined", "null", "none", "nil", "nan"} {
		if asciiEqualFold(tok, w) {
			return fmt.Sprintf("the credential is the word '%s': the client's variable holding the key was not set", w)
		}
	}
	switch {
	case asciiEqualFold(tok, "[object Object]"):
		return "the credential is '[object Object]': the client sent an object where the key string belongs"
	case strings.HasPrefix(tok, "$"):
		return "the credential starts with '$' (an unexpanded variable such as $API_KEY?): the shell or template did not substitute it"
	case strings.HasPrefix(tok, "{{") || strings.HasPrefix(tok, "${"):
		return "the credential is an unexpanded template placeholder ({{…}} or ${…}): the template did not substitute it"
	case len(tok) > 2 && tok[0] == '<' && tok[len(tok)-1] == '>':
		return "the credential is a placeholder in angle brackets (<…>): replace it with your key"
	case len(tok) > 2 && tok[0] == '%' && tok[len(tok)-1] == '%':
		return "the credential is an unexpanded Windows variable (%…%): the shell did not substitute it"
	}
	return ""
}

// describeChar names the character at byte offset i of s.
func describeChar(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && size <= 1:
		return fmt.Sprintf("an invalid UTF-8 byte (0x%02X)", s[i])
	case r == ' ':
		return "a space"
	case r == '\t':
		return "a tab"
	case isQuote(r):
		return "a " + quoteName(r)
	case isSpaceRune(r):
		return "a " + spaceName(r)
	case r < 0x20 || r == 0x7F:
		return fmt.Sprintf("a control character (U+%04X)", r)
	case r < utf8.RuneSelf:
		return fmt.Sprintf("'%c'", r)
	case unicode.IsPrint(r):
		return fmt.Sprintf("'%c' (U+%04X)", r, r)
	}
	return fmt.Sprintf("an unprintable character (U+%04X)", r)
}
