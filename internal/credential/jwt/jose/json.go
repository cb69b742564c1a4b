package jose

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a strict JSON (RFC 8259, I-JSON RFC 7493) reader for JOSE
// headers and JWT claim sets. It exists because encoding/json silently
// keeps the last of two members with the same name (RFC 7515 §4 lets a
// parser do that, but then {"alg":"none","alg":"RS256"} means different
// things to different parsers in one system), accepts invalid UTF-8, and
// has no depth limit of its own. Here, at every nesting level:
//   - a duplicate member name (compared after unescaping, so "a" and
//     "\u0061" collide) is an error;
//   - nesting deeper than maxDepth is an error;
//   - invalid UTF-8, control characters and lone surrogates in strings are
//     errors;
//   - anything but whitespace after the top-level object is an error.
//
// The top-level object is returned as a list of members whose values stay
// raw JSON text; the few claims the verifier needs are decoded on demand.

// maxDepth bounds nesting. Real tokens nest two or three levels
// (realm_access.roles, cnf.x5t#S256); the bound keeps a crafted token from
// costing recursion depth.
const maxDepth = 16

// Kind is a JSON value's type.
type Kind uint8

// JSON value kinds.
const (
	KindString Kind = iota + 1
	KindNumber
	KindBool
	KindNull
	KindObject
	KindArray
)

// String names the kind as a JSON Schema type name, for details.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "a string"
	case KindNumber:
		return "a number"
	case KindBool:
		return "a boolean"
	case KindNull:
		return "null"
	case KindObject:
		return "an object"
	case KindArray:
		return "an array"
	}
	return "nothing"
}

// member is one top-level member: its unescaped name and raw value.
type member struct {
	name string
	raw  string
	kind Kind
}

// object is a parsed top-level JSON object, members in document order.
type object []member

func (o object) get(name string) (member, bool) {
	for _, m := range o {
		if m.name == name {
			return m, true
		}
	}
	return member{}, false
}

// jsonError says what is wrong and at which byte of the decoded segment.
type jsonError struct {
	pos int
	msg string
}

func (e *jsonError) Error() string { return e.msg + " at byte " + strconv.Itoa(e.pos) }

type parser struct {
	s     string
	i     int
	depth int
}

// parseObject parses src, which must be exactly one JSON object.
func parseObject(src string) (object, error) {
	p := parser{s: src}
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		if p.i >= len(p.s) {
			return nil, &jsonError{p.i, "empty, not a JSON object"}
		}
		return nil, &jsonError{p.i, "not a JSON object"}
	}
	var top object
	if err := p.object(&top); err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, &jsonError{p.i, "data after the JSON object"}
	}
	return top, nil
}

func (p *parser) fail(msg string) error { return &jsonError{p.i, msg} }

func (p *parser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// nameSet detects duplicate member names: a linear scan for the usual
// handful of members, a map once an object is large (so 2 000 members in
// an 8 KiB token cost linear, not quadratic, time).
type nameSet struct {
	list []string
	m    map[string]struct{}
}

func (n *nameSet) add(name string) (dup bool) {
	if n.m != nil {
		if _, ok := n.m[name]; ok {
			return true
		}
		n.m[name] = struct{}{}
		return false
	}
	for _, s := range n.list {
		if s == name {
			return true
		}
	}
	n.list = append(n.list, name)
	if len(n.list) > 16 {
		n.m = make(map[string]struct{}, 2*len(n.list))
		for _, s := range n.list {
			n.m[s] = struct{}{}
		}
	}
	return false
}

// object parses an object at p.i ('{'). With top non-nil it records the
// members and their raw values.
func (p *parser) object(top *object) error {
	p.depth++
	if p.depth > maxDepth {
		return p.fail("nested deeper than " + strconv.Itoa(maxDepth) + " levels")
	}
	p.i++ // '{'
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.depth--
		return nil
	}
	var names nameSet
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return p.fail("expected a member name")
		}
		at := p.i
		name, err := p.str()
		if err != nil {
			return err
		}
		if names.add(name) {
			return &jsonError{at, "duplicate member " + quoteShort(name)}
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return p.fail("expected ':'")
		}
		p.i++
		p.ws()
		start := p.i
		k, err := p.value()
		if err != nil {
			return err
		}
		if top != nil && p.depth == 1 {
			*top = append(*top, member{name: name, raw: p.s[start:p.i], kind: k})
		}
		p.ws()
		if p.i >= len(p.s) {
			return p.fail("unterminated object")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			return nil
		default:
			return p.fail("expected ',' or '}'")
		}
	}
}

func (p *parser) array() error {
	p.depth++
	if p.depth > maxDepth {
		return p.fail("nested deeper than " + strconv.Itoa(maxDepth) + " levels")
	}
	p.i++ // '['
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		p.depth--
		return nil
	}
	for {
		p.ws()
		if _, err := p.value(); err != nil {
			return err
		}
		p.ws()
		if p.i >= len(p.s) {
			return p.fail("unterminated array")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			return nil
		default:
			return p.fail("expected ',' or ']'")
		}
	}
}

func (p *parser) value() (Kind, error) {
	if p.i >= len(p.s) {
		return 0, p.fail("expected a value")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return KindObject, p.object(nil)
	case c == '[':
		return KindArray, p.array()
	case c == '"':
		_, err := p.str()
		return KindString, err
	case c == 't':
		return KindBool, p.literal("true")
	case c == 'f':
		return KindBool, p.literal("false")
	case c == 'n':
		return KindNull, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return KindNumber, p.number()
	}
	return 0, p.fail("unexpected character " + strconv.QuoteRune(rune(p.s[p.i])))
}

func (p *parser) literal(lit string) error {
	if len(p.s)-p.i < len(lit) || p.s[p.i:p.i+len(lit)] != lit {
		return p.fail("invalid literal")
	}
	p.i += len(lit)
	return nil
}

// number checks RFC 8259 §6 grammar: -? (0 | [1-9][0-9]*) frac? exp?
func (p *parser) number() error {
	if p.s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.s) && p.s[p.i] == '0':
		p.i++
	case p.i < len(p.s) && p.s[p.i] >= '1' && p.s[p.i] <= '9':
		p.digits()
	default:
		return p.fail("invalid number")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return p.fail("invalid number: no digits after '.'")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return p.fail("invalid number: no digits in exponent")
		}
	}
	return nil
}

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// str parses a string at p.i ('"') and returns its unescaped value. A
// string without escapes is returned as a substring (no allocation).
func (p *parser) str() (string, error) {
	p.i++ // '"'
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			s := p.s[start:p.i]
			p.i++
			return s, nil
		case c == '\\':
			return p.strSlow(start)
		case c < 0x20:
			return "", p.fail("control character in string")
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", p.fail("invalid UTF-8 in string")
			}
			p.i += size
		}
	}
	return "", p.fail("unterminated string")
}

// strSlow continues str from the first backslash, building the value.
func (p *parser) strSlow(start int) (string, error) {
	b := make([]byte, 0, p.i-start+16)
	b = append(b, p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", p.fail("unterminated escape")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					// I-JSON (RFC 7493 §2.1): no lone surrogates.
					if r >= 0xDC00 || p.i+1 >= len(p.s) || p.s[p.i] != '\\' || p.s[p.i+1] != 'u' {
						return "", p.fail("lone surrogate in \\u escape")
					}
					p.i += 2
					r2, ok := p.hex4()
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return "", p.fail("lone surrogate in \\u escape")
					}
					r = utf16.DecodeRune(r, r2)
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", p.fail("invalid escape")
			}
		case c < 0x20:
			return "", p.fail("control character in string")
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.i++
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", p.fail("invalid UTF-8 in string")
			}
			b = append(b, p.s[p.i:p.i+size]...)
			p.i += size
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.s)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.s[p.i : p.i+4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// stringValue decodes a raw JSON string already validated by the parser.
func stringValue(raw string) string {
	p := parser{s: raw}
	s, _ := p.str()
	return s
}

// stringArray decodes a raw JSON array; ok is false unless every element
// is a string.
func stringArray(raw string) (out []string, ok bool) {
	p := parser{s: raw}
	p.i++ // '['
	for {
		p.ws()
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case ']':
			return out, true
		case ',':
			p.i++
			continue
		case '"':
			s, err := p.str()
			if err != nil {
				return nil, false
			}
			out = append(out, s)
		default:
			return nil, false
		}
	}
}

// quoteShort quotes s for a detail, escaping control characters and
// cutting it at 64 bytes: header values are attacker-chosen and may be
// 10 kB long or carry NUL bytes.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return strconv.Quote(s)
}
