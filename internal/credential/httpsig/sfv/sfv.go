// Package sfv parses and serializes RFC 8941 Structured Field Values, the
// subset HTTP Message Signatures (RFC 9421) and Digest Fields (RFC 9530)
// need: dictionaries, lists, inner lists, parameters and the bare item
// types Integer, Decimal, String, Token, Byte Sequence and Boolean. The
// RFC 9651 additions (Date, Display String) are rejected, as RFC 8941
// parsers must.
//
// Why not a module: the candidate, github.com/dunglas/httpsfv (v1.1.2, in
// the Go module proxy, used by quic-go), is conformant, but measured on
// the same Signature-Input (this package's BenchmarkParseSignatureInput,
// both run side by side in a scratch module on this 2-core machine):
// httpsfv 39 allocations and 1616 B per parse, this parser 3 and 1408 B,
// in less time (the machine was loaded; allocations are the stable
// figure); httpsfv builds a map and a name slice for every
// parameter set and boxes every bare item in an interface. Its errors
// are "invalid inner list format: character 15" where a Gatehouse
// rejection must name what is wrong ("at offset 15: expected a space or
// ')' after an inner-list item, found ','"; "'-' in a byte sequence:
// that is base64url"). And it keeps the last of duplicated dictionary
// keys silently, while a verifier must be able to refuse two "sig1"
// members (a parser-differential hazard). The parser here follows RFC
// 8941 §4.2 step by step, keeps strings as substrings of the input where
// no escape occurs, and reports duplicates without failing.
// The standard library has no structured-field parser.
package sfv

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// Kind is the type of a bare item.
type Kind uint8

// Bare item types (RFC 8941 §3.3).
const (
	Integer Kind = iota + 1
	Decimal
	String
	Token
	ByteSeq
	Boolean
)

// String names the kind for error messages.
func (k Kind) String() string {
	switch k {
	case Integer:
		return "integer"
	case Decimal:
		return "decimal"
	case String:
		return "string"
	case Token:
		return "token"
	case ByteSeq:
		return "byte sequence"
	case Boolean:
		return "boolean"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// BareItem is one value. Which field holds it depends on Kind: Int for
// Integer and for Decimal (in thousandths, exactly as RFC 8941 limits a
// decimal to three fractional digits), Str for String (unescaped) and
// Token, Bytes for ByteSeq (decoded), Bool for Boolean.
type BareItem struct {
	Kind  Kind
	Int   int64
	Str   string
	Bytes []byte
	Bool  bool
}

// Param is one parameter.
type Param struct {
	Key   string
	Value BareItem
}

// Params is an ordered parameter set. Parsing overwrites a repeated key in
// place, as RFC 8941 §4.2.3.2 says.
type Params []Param

// Get returns the value of key.
func (ps Params) Get(key string) (BareItem, bool) {
	for i := range ps {
		if ps[i].Key == key {
			return ps[i].Value, true
		}
	}
	return BareItem{}, false
}

// Item is a bare item with its parameters.
type Item struct {
	Value  BareItem
	Params Params
}

// Member is a list member or a dictionary value: an item, or an inner list
// (Inner) with the inner list's parameters (Params).
type Member struct {
	IsInner bool
	Item    Item
	Inner   []Item
	// Params are the inner list's parameters (for an item: Item.Params).
	Params Params
}

// DictMember is one member of a dictionary.
type DictMember struct {
	Key string
	Member
}

// Dictionary is an ordered dictionary (RFC 8941 §3.2).
type Dictionary struct {
	Members []DictMember
	// Duplicate is the first key that occurred more than once (its value
	// is the last occurrence's, as RFC 8941 prescribes); "" when none did.
	// A consumer that must not accept ambiguity refuses it.
	Duplicate string
}

// Get returns the member named key.
func (d *Dictionary) Get(key string) (*Member, bool) {
	for i := range d.Members {
		if d.Members[i].Key == key {
			return &d.Members[i].Member, true
		}
	}
	return nil, false
}

// List is a list (RFC 8941 §3.1).
type List []Member

// Error is a parse failure: where, and what was expected.
type Error struct {
	Offset int
	Msg    string
}

// Error implements error.
func (e *Error) Error() string { return "at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg }

// Scratch lends parses the slices they return (dictionary members, inner
// lists' items, parameters), reused from one parse to the next: a verifier
// that parses two fields per request allocates none for them once warm,
// where fresh slices made a signed request's largest garbage (2.3 KB in
// twelve objects, bench/README "Garbage per request"). Each parse appends
// its values at the end of the scratch's slices and returns three-index
// slices of them, so a caller's append copies instead of overwriting a
// neighbour. The zero Scratch is ready to use.
type Scratch struct {
	items   []Item
	params  []Param
	members []DictMember
	bytes   []byte // decoded byte sequences
}

// Reset makes the scratch's slices reusable: every value a parse with it
// returned is invalid afterwards. It clears them, so the scratch keeps no
// references to parsed strings and bytes, and drops any that a large field
// grew past ScratchKeep elements (bytes, for byte sequences), so a pooled
// scratch stays small whatever a client sent.
func (sc *Scratch) Reset() {
	sc.items = resetKeep(sc.items, ScratchKeep)
	sc.params = resetKeep(sc.params, ScratchKeep)
	sc.members = resetKeep(sc.members, ScratchKeep)
	sc.bytes = resetKeep(sc.bytes, scratchKeepBytes)
}

// ScratchKeep is the most items, parameters and members a Scratch keeps
// across Reset; scratchKeepBytes the most bytes of decoded byte sequences
// (two RSA-4096 signatures).
const (
	ScratchKeep      = 64
	scratchKeepBytes = 1 << 10
)

// resetKeep is s emptied and cleared, or nil if it grew past keep.
func resetKeep[T any](s []T, keep int) []T {
	if cap(s) > keep {
		return nil
	}
	clear(s)
	return s[:0]
}

// carve returns s[from:] as a slice whose capacity ends with it, or nil
// when it is empty.
func carve[T any](s []T, from int) []T {
	if len(s) == from {
		return nil
	}
	return s[from:len(s):len(s)]
}

type parser struct {
	s   string
	off int
	sc  *Scratch
}

func (p *parser) fail(format string, args ...any) error {
	return &Error{Offset: p.off, Msg: fmt.Sprintf(format, args...)}
}

// found describes the character at the current position for messages.
func (p *parser) found() string {
	if p.off >= len(p.s) {
		return "the end of the value"
	}
	return describe(p.s[p.off])
}

func describe(c byte) string {
	switch {
	case c == ' ':
		return "a space"
	case c == '\t':
		return "a tab"
	case c < 0x20 || c == 0x7f:
		return fmt.Sprintf("control character 0x%02x", c)
	case c >= 0x80:
		return fmt.Sprintf("non-ASCII byte 0x%02x", c)
	}
	return "'" + string(c) + "'"
}

func (p *parser) eof() bool { return p.off >= len(p.s) }

func (p *parser) skipSP() {
	for p.off < len(p.s) && p.s[p.off] == ' ' {
		p.off++
	}
}

func (p *parser) skipOWS() {
	for p.off < len(p.s) && (p.s[p.off] == ' ' || p.s[p.off] == '\t') {
		p.off++
	}
}

// JoinLines combines several field lines into one value, as RFC 9110
// §5.3 and RFC 8941 §4.2 do: joined with a comma and a space.
func JoinLines(lines []string) string {
	switch len(lines) {
	case 0:
		return ""
	case 1:
		return lines[0]
	}
	return strings.Join(lines, ", ")
}

// ParseDictionary parses a dictionary field value (RFC 8941 §4.2.2).
func ParseDictionary(s string) (Dictionary, error) {
	return ParseDictionaryWith(s, new(Scratch))
}

// ParseDictionaryWith is ParseDictionary with its slices from sc (valid
// until sc.Reset).
func ParseDictionaryWith(s string, sc *Scratch) (Dictionary, error) {
	p := parser{s: s, sc: sc}
	p.skipSP()
	var d Dictionary
	first := len(sc.members)
	for !p.eof() {
		key, err := p.key()
		if err != nil {
			return Dictionary{}, err
		}
		var m Member
		if !p.eof() && p.s[p.off] == '=' {
			p.off++
			if m, err = p.itemOrInnerList(); err != nil {
				return Dictionary{}, err
			}
		} else {
			m.Item.Value = BareItem{Kind: Boolean, Bool: true}
			if m.Item.Params, err = p.params(); err != nil {
				return Dictionary{}, err
			}
		}
		replaced := false
		for i := first; i < len(sc.members); i++ {
			if sc.members[i].Key == key {
				sc.members[i].Member = m
				replaced = true
				if d.Duplicate == "" {
					d.Duplicate = key
				}
				break
			}
		}
		if !replaced {
			sc.members = append(sc.members, DictMember{Key: key, Member: m})
		}
		p.skipOWS()
		if p.eof() {
			d.Members = carve(sc.members, first)
			return d, nil
		}
		if p.s[p.off] != ',' {
			return Dictionary{}, p.fail("expected ',' between dictionary members, found %s", p.found())
		}
		p.off++
		p.skipOWS()
		if p.eof() {
			return Dictionary{}, p.fail("trailing ',' after the last dictionary member")
		}
	}
	d.Members = carve(sc.members, first)
	return d, nil
}

// ParseList parses a list field value (RFC 8941 §4.2.1).
func ParseList(s string) (List, error) {
	p := parser{s: s, sc: new(Scratch)}
	p.skipSP()
	var l List
	for !p.eof() {
		m, err := p.itemOrInnerList()
		if err != nil {
			return nil, err
		}
		l = append(l, m)
		p.skipOWS()
		if p.eof() {
			return l, nil
		}
		if p.s[p.off] != ',' {
			return nil, p.fail("expected ',' between list members, found %s", p.found())
		}
		p.off++
		p.skipOWS()
		if p.eof() {
			return nil, p.fail("trailing ',' after the last list member")
		}
	}
	return l, nil
}

// ParseItem parses an item field value (RFC 8941 §4.2.3).
func ParseItem(s string) (Item, error) {
	p := parser{s: s, sc: new(Scratch)}
	p.skipSP()
	it, err := p.item()
	if err != nil {
		return Item{}, err
	}
	p.skipSP()
	if !p.eof() {
		return Item{}, p.fail("unexpected %s after the item", p.found())
	}
	return it, nil
}

// ParseInnerList parses a lone inner list with its parameters, such as
// the value of one Signature-Input member taken by itself.
func ParseInnerList(s string) (Member, error) {
	p := parser{s: s, sc: new(Scratch)}
	p.skipSP()
	if p.eof() || p.s[p.off] != '(' {
		return Member{}, p.fail("expected '(' to open an inner list, found %s", p.found())
	}
	m, err := p.innerList()
	if err != nil {
		return Member{}, err
	}
	p.skipSP()
	if !p.eof() {
		return Member{}, p.fail("unexpected %s after the inner list", p.found())
	}
	return m, nil
}

func (p *parser) itemOrInnerList() (Member, error) {
	if !p.eof() && p.s[p.off] == '(' {
		return p.innerList()
	}
	it, err := p.item()
	return Member{Item: it}, err
}

func (p *parser) innerList() (Member, error) {
	p.off++ // '('
	m := Member{IsInner: true}
	// Inner lists do not nest: no other parse appends items meanwhile.
	first := len(p.sc.items)
	for !p.eof() {
		p.skipSP()
		if p.eof() {
			break
		}
		if p.s[p.off] == ')' {
			p.off++
			m.Inner = carve(p.sc.items, first)
			var err error
			m.Params, err = p.params()
			return m, err
		}
		it, err := p.item()
		if err != nil {
			return Member{}, err
		}
		p.sc.items = append(p.sc.items, it)
		if p.eof() {
			break
		}
		if c := p.s[p.off]; c != ' ' && c != ')' {
			return Member{}, p.fail("expected a space or ')' after an inner-list item, found %s", p.found())
		}
	}
	return Member{}, p.fail("inner list not closed: missing ')'")
}

func (p *parser) item() (Item, error) {
	v, err := p.bareItem()
	if err != nil {
		return Item{}, err
	}
	ps, err := p.params()
	return Item{Value: v, Params: ps}, err
}

func (p *parser) params() (Params, error) {
	// A bare item's parameters are parsed whole before anything else
	// appends to the scratch's parameters.
	first := len(p.sc.params)
	for !p.eof() && p.s[p.off] == ';' {
		p.off++
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		v := BareItem{Kind: Boolean, Bool: true}
		if !p.eof() && p.s[p.off] == '=' {
			p.off++
			if v, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		replaced := false
		for i := first; i < len(p.sc.params); i++ {
			if p.sc.params[i].Key == key {
				p.sc.params[i].Value = v
				replaced = true
				break
			}
		}
		if !replaced {
			p.sc.params = append(p.sc.params, Param{Key: key, Value: v})
		}
	}
	return carve(p.sc.params, first), nil
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

func (p *parser) key() (string, error) {
	if p.eof() {
		return "", p.fail("expected a key, found the end of the value")
	}
	c := p.s[p.off]
	if !isLCAlpha(c) && c != '*' {
		if c >= 'A' && c <= 'Z' {
			return "", p.fail("keys must be lower case, found %s", p.found())
		}
		return "", p.fail("expected a key (a lower-case letter or '*'), found %s", p.found())
	}
	start := p.off
	p.off++
	for !p.eof() {
		c := p.s[p.off]
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.off++
	}
	return p.s[start:p.off], nil
}

func (p *parser) bareItem() (BareItem, error) {
	if p.eof() {
		return BareItem{}, p.fail("expected a value, found the end of the value")
	}
	c := p.s[p.off]
	switch {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.string()
	case c == ':':
		return p.byteSeq()
	case c == '?':
		return p.boolean()
	case isAlpha(c) || c == '*':
		return p.token(), nil
	case c == '@' || c == '%':
		return BareItem{}, p.fail("%s starts an RFC 9651 date or display string, which RFC 8941 fields do not allow", p.found())
	}
	return BareItem{}, p.fail("expected a value (number, \"string\", token, :byte sequence:, ?boolean), found %s", p.found())
}

func (p *parser) number() (BareItem, error) {
	neg := false
	if p.s[p.off] == '-' {
		neg = true
		p.off++
	}
	if p.eof() || !isDigit(p.s[p.off]) {
		return BareItem{}, p.fail("expected a digit after '-', found %s", p.found())
	}
	var intPart, frac int64
	digits, fracDigits := 0, 0
	isDec := false
	for !p.eof() {
		c := p.s[p.off]
		if isDigit(c) {
			if isDec {
				fracDigits++
				if fracDigits > 3 {
					return BareItem{}, p.fail("a decimal has at most 3 fractional digits")
				}
				frac = frac*10 + int64(c-'0')
			} else {
				digits++
				if digits > 15 {
					return BareItem{}, p.fail("an integer has at most 15 digits")
				}
				intPart = intPart*10 + int64(c-'0')
			}
			p.off++
			continue
		}
		if c == '.' && !isDec {
			if digits > 12 {
				return BareItem{}, p.fail("a decimal has at most 12 integer digits")
			}
			isDec = true
			p.off++
			continue
		}
		break
	}
	if !isDec {
		if neg {
			intPart = -intPart
		}
		return BareItem{Kind: Integer, Int: intPart}, nil
	}
	if fracDigits == 0 {
		return BareItem{}, p.fail("a decimal needs a digit after '.'")
	}
	for i := fracDigits; i < 3; i++ {
		frac *= 10
	}
	v := intPart*1000 + frac
	if neg {
		v = -v
	}
	return BareItem{Kind: Decimal, Int: v}, nil
}

func (p *parser) string() (BareItem, error) {
	open := p.off
	p.off++ // '"'
	start := p.off
	var b []byte // nil until the first escape
	for !p.eof() {
		c := p.s[p.off]
		switch {
		case c == '\\':
			if b == nil {
				b = make([]byte, 0, len(p.s)-start)
				b = append(b, p.s[start:p.off]...)
			}
			p.off++
			if p.eof() {
				return BareItem{}, p.fail("string ends in a lone '\\'")
			}
			if n := p.s[p.off]; n != '"' && n != '\\' {
				return BareItem{}, p.fail("only '\\\"' and '\\\\' are escapes in a string, found '\\' then %s", p.found())
			}
			b = append(b, p.s[p.off])
			p.off++
		case c == '"':
			s := p.s[start:p.off]
			if b != nil {
				s = string(b)
			}
			p.off++
			return BareItem{Kind: String, Str: s}, nil
		case c < 0x20 || c > 0x7e:
			return BareItem{}, p.fail("%s is not allowed in a string (printable ASCII only)", p.found())
		default:
			if b != nil {
				b = append(b, c)
			}
			p.off++
		}
	}
	p.off = open
	return BareItem{}, p.fail("string not closed: missing '\"'")
}

func isTchar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func (p *parser) token() BareItem {
	start := p.off
	p.off++
	for !p.eof() {
		c := p.s[p.off]
		if !isTchar(c) && c != ':' && c != '/' {
			break
		}
		p.off++
	}
	return BareItem{Kind: Token, Str: p.s[start:p.off]}
}

func isB64(c byte) bool { return isAlpha(c) || isDigit(c) || c == '+' || c == '/' }

func (p *parser) byteSeq() (BareItem, error) {
	open := p.off
	p.off++ // ':'
	start := p.off
	pad := 0
	for !p.eof() {
		c := p.s[p.off]
		if c == ':' {
			first := len(p.sc.bytes)
			b, err := appendB64(p.sc.bytes, p.s[start:p.off], pad)
			if err != nil {
				p.off = start
				return BareItem{}, p.fail("byte sequence is not valid base64: %v", err)
			}
			p.sc.bytes = b
			p.off++
			v := carve(b, first)
			if v == nil {
				v = []byte{} // an empty byte sequence is a value, not none
			}
			return BareItem{Kind: ByteSeq, Bytes: v}, nil
		}
		switch {
		case c == '=':
			pad++
		case isB64(c) && pad == 0:
		case c == '-' || c == '_':
			return BareItem{}, p.fail("%s in a byte sequence: that is base64url; byte sequences use standard base64 ('+' and '/')", p.found())
		case isB64(c):
			return BareItem{}, p.fail("base64 continues after '=' padding in a byte sequence")
		default:
			return BareItem{}, p.fail("%s is not a base64 character", p.found())
		}
		p.off++
	}
	p.off = open
	return BareItem{}, p.fail("byte sequence not closed: missing ':'")
}

// appendB64 appends the decoding of standard base64 s to dst. As RFC 8941
// §4.2.7 asks, missing '=' padding and non-zero pad bits are tolerated;
// wrong padding is not.
func appendB64(dst []byte, s string, pad int) ([]byte, error) {
	body := s[:len(s)-pad]
	if pad > 0 {
		if pad > 2 || (len(body)+pad)%4 != 0 {
			return dst, fmt.Errorf("%d '=' after %d characters is wrong padding", pad, len(body))
		}
	}
	if len(body)%4 == 1 {
		return dst, fmt.Errorf("%d characters cannot be base64 (length %% 4 is 1)", len(body))
	}
	// The decoder only reads its source: the string's bytes, not a copy.
	return base64.RawStdEncoding.AppendDecode(dst, unsafe.Slice(unsafe.StringData(body), len(body)))
}

func (p *parser) boolean() (BareItem, error) {
	p.off++ // '?'
	if !p.eof() {
		switch p.s[p.off] {
		case '1':
			p.off++
			return BareItem{Kind: Boolean, Bool: true}, nil
		case '0':
			p.off++
			return BareItem{Kind: Boolean, Bool: false}, nil
		}
	}
	return BareItem{}, p.fail("a boolean is ?0 or ?1, found '?' then %s", p.found())
}
