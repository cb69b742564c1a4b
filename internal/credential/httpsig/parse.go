package httpsig

import (
	"errors"
	"strconv"
	"strings"

	"gatehouse/internal/credential/httpsig/sfv"
)

// Field names (RFC 9421 §4.1, §4.2; RFC 9530 §2).
const (
	FieldSignatureInput = "Signature-Input"
	FieldSignature      = "Signature"
	FieldContentDigest  = "Content-Digest"
)

// Limits on what a caller can make the gateway parse and hold.
const (
	// MaxFieldLen bounds Signature-Input and Signature (all lines).
	MaxFieldLen = 8 << 10
	// MaxComponents bounds the covered components of one signature.
	MaxComponents = 64
	// MaxParamLen bounds keyid, nonce, tag and alg.
	MaxParamLen = 256
)

// ParseError says what is wrong with Signature-Input, Signature or
// Content-Digest. Its text is safe to show the caller: it quotes only
// the caller's own field structure, never a secret.
type ParseError struct {
	Field string // FieldSignatureInput, FieldSignature, FieldContentDigest
	Label string // the member concerned, if any
	Msg   string
}

// Error implements error.
func (e *ParseError) Error() string {
	s := e.Field
	if e.Label != "" {
		s += " member " + strconv.Quote(e.Label)
	}
	return s + ": " + e.Msg
}

// Component is one covered component: its identifier as an RFC 8941 item
// (a String naming a field or a derived component, with parameters).
type Component struct {
	Name   string
	Params sfv.Params
}

// Param returns the component parameter key.
func (c *Component) Param(key string) (sfv.BareItem, bool) { return c.Params.Get(key) }

// Input is one member of Signature-Input: what one signature covers and
// its parameters (RFC 9421 §2.3).
type Input struct {
	Label      string
	Components []Component
	// Created and Expires are Unix seconds; Has* say whether present.
	Created, Expires       int64
	HasCreated, HasExpires bool
	KeyID, Alg, Nonce, Tag string
	// member is the parsed inner list, re-serialized canonically as the
	// "@signature-params" line (RFC 9421 §2.3, §3.2 step 7): whitespace a
	// sender put on the wire cannot change the signature base.
	member sfv.Member
}

// Covers reports whether the signature covers a component with this name
// whose parameters are all in allowed (nil: no parameters).
func (in *Input) Covers(name string, allowed ...string) bool {
	for i := range in.Components {
		c := &in.Components[i]
		if c.Name != name {
			continue
		}
		ok := true
		for _, p := range c.Params {
			found := false
			for _, a := range allowed {
				if p.Key == a {
					found = true
					break
				}
			}
			if !found {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// SignatureParams returns the "@signature-params" value: the canonical
// serialization of the inner list and its parameters.
func (in *Input) SignatureParams(b []byte) []byte { return sfv.AppendMember(b, &in.member) }

// Signatures is a request's parsed Signature-Input and Signature fields.
type Signatures struct {
	Inputs []Input
	sigs   []sfv.DictMember
}

// ParseFields parses the two fields' combined values (several field
// lines joined with ", ", as sfv.JoinLines does).
func ParseFields(signatureInput, signature string) (*Signatures, error) {
	var s Signatures
	if err := s.parse(signatureInput, signature, new(scratch)); err != nil {
		return nil, err
	}
	return &s, nil
}

// scratch is the storage parsing a request's fields reuses from one
// request to the next (the verifier's pooled state): the structured-field
// slices and the inputs and their components, appended at the end and
// sliced off with their capacity capped. Without it the parse made a
// signed request's largest garbage.
type scratch struct {
	sfv   sfv.Scratch
	ins   []Input
	comps []Component
}

// reset makes everything parsed with sc invalid and its storage reusable
// (within sfv.ScratchKeep elements of each kind, as sfv.Scratch.Reset).
func (sc *scratch) reset() {
	sc.sfv.Reset()
	if cap(sc.ins) > sfv.ScratchKeep {
		sc.ins = nil
	}
	if cap(sc.comps) > sfv.ScratchKeep {
		sc.comps = nil
	}
	clear(sc.ins)
	clear(sc.comps)
	sc.ins, sc.comps = sc.ins[:0], sc.comps[:0]
}

func (s *Signatures) parse(signatureInput, signature string, sc *scratch) error {
	ins, err := parseSignatureInput(signatureInput, sc)
	if err != nil {
		return err
	}
	sigs, err := parseSignature(signature, &sc.sfv)
	if err != nil {
		return err
	}
	s.Inputs, s.sigs = ins, sigs
	return nil
}

// Select returns the input and signature bytes of label, or, for label
// "", of the first Signature-Input member (in field order) that has a
// Signature. A Signature-Input member without a Signature (or the
// reverse) is reported rather than skipped only when nothing matches.
func (s *Signatures) Select(label string) (*Input, []byte, error) {
	for i := range s.Inputs {
		in := &s.Inputs[i]
		if label != "" && in.Label != label {
			continue
		}
		for j := range s.sigs {
			if s.sigs[j].Key == in.Label {
				return in, s.sigs[j].Item.Value.Bytes, nil
			}
		}
		if label != "" {
			return nil, nil, &ParseError{Field: FieldSignature, Label: label,
				Msg: "no signature with this label; Signature has " + labels(s.sigs)}
		}
	}
	if label != "" {
		return nil, nil, &ParseError{Field: FieldSignatureInput,
			Msg: "no member " + strconv.Quote(label) + " (the label this route requires); it has " + inputLabels(s.Inputs)}
	}
	return nil, nil, &ParseError{Field: FieldSignatureInput,
		Msg: "no label appears in both fields: Signature-Input has " + inputLabels(s.Inputs) + ", Signature has " + labels(s.sigs)}
}

func labels(ms []sfv.DictMember) string {
	q := make([]string, len(ms))
	for i := range ms {
		q[i] = strconv.Quote(ms[i].Key)
	}
	return strings.Join(q, ", ")
}

func inputLabels(ins []Input) string {
	q := make([]string, len(ins))
	for i := range ins {
		q[i] = strconv.Quote(ins[i].Label)
	}
	return strings.Join(q, ", ")
}

// ParseSignature parses a Signature field: a dictionary whose members
// are byte sequences.
func ParseSignature(v string) ([]sfv.DictMember, error) {
	return parseSignature(v, new(sfv.Scratch))
}

func parseSignature(v string, sc *sfv.Scratch) ([]sfv.DictMember, error) {
	if len(v) > MaxFieldLen {
		return nil, &ParseError{Field: FieldSignature, Msg: "longer than " + strconv.Itoa(MaxFieldLen) + " bytes"}
	}
	d, err := sfv.ParseDictionaryWith(v, sc)
	if err != nil {
		return nil, &ParseError{Field: FieldSignature, Msg: "not a structured-field dictionary: " + err.Error()}
	}
	if len(d.Members) == 0 {
		return nil, &ParseError{Field: FieldSignature, Msg: "empty"}
	}
	if d.Duplicate != "" {
		return nil, &ParseError{Field: FieldSignature, Label: d.Duplicate, Msg: "appears twice"}
	}
	for i := range d.Members {
		m := &d.Members[i]
		if m.IsInner || m.Item.Value.Kind != sfv.ByteSeq {
			return nil, &ParseError{Field: FieldSignature, Label: m.Key,
				Msg: "must be a byte sequence (:base64:), found " + kindOf(&m.Member)}
		}
		if len(m.Item.Value.Bytes) == 0 {
			return nil, &ParseError{Field: FieldSignature, Label: m.Key, Msg: "the signature is empty"}
		}
	}
	return d.Members, nil
}

func kindOf(m *sfv.Member) string {
	if m.IsInner {
		return "an inner list"
	}
	if m.Item.Value.Kind == sfv.Boolean && m.Item.Value.Bool {
		return "a bare label with no value"
	}
	return "a " + m.Item.Value.Kind.String()
}

// derived lists the derived components of RFC 9421 §2.2 this verifier
// computes.
var derived = map[string]bool{
	"@method": true, "@target-uri": true, "@authority": true, "@scheme": true,
	"@request-target": true, "@path": true, "@query": true, "@query-param": true, "@status": true,
}

// ParseSignatureInput parses a Signature-Input field and checks each
// member against RFC 9421 §2 and §2.3.
func ParseSignatureInput(v string) ([]Input, error) {
	return parseSignatureInput(v, new(scratch))
}

func parseSignatureInput(v string, sc *scratch) ([]Input, error) {
	if len(v) > MaxFieldLen {
		return nil, &ParseError{Field: FieldSignatureInput, Msg: "longer than " + strconv.Itoa(MaxFieldLen) + " bytes"}
	}
	d, err := sfv.ParseDictionaryWith(v, &sc.sfv)
	if err != nil {
		msg := "not a structured-field dictionary: " + err.Error()
		var se *sfv.Error
		if errors.As(err, &se) && se.Offset < len(v) && v[se.Offset] == '@' {
			msg += "; component identifiers are quoted strings, e.g. \"@method\""
		}
		return nil, &ParseError{Field: FieldSignatureInput, Msg: msg}
	}
	if len(d.Members) == 0 {
		return nil, &ParseError{Field: FieldSignatureInput, Msg: "empty"}
	}
	if d.Duplicate != "" {
		return nil, &ParseError{Field: FieldSignatureInput, Label: d.Duplicate, Msg: "appears twice"}
	}
	first := len(sc.ins)
	for i := range d.Members {
		sc.ins = append(sc.ins, Input{})
		if err := parseInput(&sc.ins[len(sc.ins)-1], &d.Members[i], sc); err != nil {
			return nil, err
		}
	}
	return sc.ins[first:len(sc.ins):len(sc.ins)], nil
}

func parseInput(in *Input, m *sfv.DictMember, sc *scratch) error {
	in.Label = m.Key
	fail := func(msg string) error {
		return &ParseError{Field: FieldSignatureInput, Label: m.Key, Msg: msg}
	}
	if !m.IsInner {
		return fail("must be an inner list of covered components such as (\"@method\" \"@authority\"), found " + kindOf(&m.Member))
	}
	if len(m.Inner) > MaxComponents {
		return fail("covers more than " + strconv.Itoa(MaxComponents) + " components")
	}
	in.member = m.Member
	first := len(sc.comps)
	for i, it := range m.Inner {
		if it.Value.Kind != sfv.String {
			return fail("component " + strconv.Itoa(i+1) + " is a " + it.Value.Kind.String() +
				"; component identifiers are quoted strings such as \"@method\"")
		}
		c := Component{Name: it.Value.Str, Params: it.Params}
		if err := checkComponent(&c); err != "" {
			return fail("component " + strconv.Quote(c.Name) + ": " + err)
		}
		for j := first; j < len(sc.comps); j++ {
			if sameComponent(&sc.comps[j], &c) {
				return fail("component " + strconv.Quote(c.Name) + " is covered twice (RFC 9421 §2.5 forbids it)")
			}
		}
		sc.comps = append(sc.comps, c)
	}
	in.Components = sc.comps[first:len(sc.comps):len(sc.comps)]
	for _, p := range m.Params {
		switch p.Key {
		case "created", "expires":
			if p.Value.Kind != sfv.Integer || p.Value.Int < 0 {
				return fail(p.Key + " must be a non-negative integer (Unix seconds), found " + describeItem(p.Value))
			}
			if p.Key == "created" {
				in.Created, in.HasCreated = p.Value.Int, true
			} else {
				in.Expires, in.HasExpires = p.Value.Int, true
			}
		case "keyid", "alg", "nonce", "tag":
			if p.Value.Kind != sfv.String {
				return fail(p.Key + " must be a quoted string, found " + describeItem(p.Value))
			}
			if len(p.Value.Str) > MaxParamLen {
				return fail(p.Key + " is longer than " + strconv.Itoa(MaxParamLen) + " characters")
			}
			switch p.Key {
			case "keyid":
				in.KeyID = p.Value.Str
			case "alg":
				in.Alg = p.Value.Str
			case "nonce":
				in.Nonce = p.Value.Str
			case "tag":
				in.Tag = p.Value.Str
			}
		}
		// Other parameters are kept (they are part of @signature-params)
		// and otherwise ignored, as RFC 9421 §2.3 allows.
	}
	if in.HasCreated && in.HasExpires && in.Expires < in.Created {
		return fail("expires (" + strconv.FormatInt(in.Expires, 10) + ") is before created (" + strconv.FormatInt(in.Created, 10) + ")")
	}
	return nil
}

func describeItem(v sfv.BareItem) string {
	return "a " + v.Kind.String() + " (" + string(sfv.AppendBareItem(nil, v)) + ")"
}

// checkComponent validates a component identifier (RFC 9421 §2.1, §2.2):
// its name, and which parameters it may carry.
func checkComponent(c *Component) string {
	if c.Name == "" {
		return "empty component name"
	}
	if c.Name == "@signature-params" {
		return "cannot be covered; it is always the last line of the signature base"
	}
	isDerived := c.Name[0] == '@'
	if isDerived {
		if !derived[c.Name] {
			return "unknown derived component (known: @method, @target-uri, @authority, @scheme, @request-target, @path, @query, @query-param, @status)"
		}
	} else {
		for i := 0; i < len(c.Name); i++ {
			ch := c.Name[i]
			if ch >= 'A' && ch <= 'Z' {
				return "field names in component identifiers must be lower case"
			}
			if !isTchar(ch) {
				return "not a valid field name"
			}
		}
	}
	var sf, bs, key, name bool
	for _, p := range c.Params {
		switch p.Key {
		case "sf", "bs", "req", "tr":
			if p.Value.Kind != sfv.Boolean || !p.Value.Bool {
				return "parameter " + p.Key + " takes no value"
			}
			if isDerived && p.Key != "req" {
				return "parameter " + p.Key + " applies to fields, not derived components"
			}
			sf = sf || p.Key == "sf"
			bs = bs || p.Key == "bs"
		case "key":
			if isDerived {
				return "parameter key applies to dictionary fields, not derived components"
			}
			if p.Value.Kind != sfv.String {
				return "parameter key must be a quoted string"
			}
			key = true
		case "name":
			if c.Name != "@query-param" {
				return "parameter name applies to @query-param only"
			}
			if p.Value.Kind != sfv.String {
				return "parameter name must be a quoted string"
			}
			name = true
		default:
			return "unknown component parameter " + strconv.Quote(p.Key)
		}
	}
	if bs && (sf || key) {
		return "bs cannot be combined with sf or key (RFC 9421 §2.1.3)"
	}
	if c.Name == "@query-param" && !name {
		return "@query-param needs a name parameter, e.g. \"@query-param\";name=\"id\""
	}
	return ""
}

// sameComponent compares identifiers: same name, same parameter set in
// any order.
func sameComponent(a, b *Component) bool {
	if a.Name != b.Name || len(a.Params) != len(b.Params) {
		return false
	}
	for _, p := range a.Params {
		q, ok := b.Params.Get(p.Key)
		if !ok || q.Kind != p.Value.Kind || q.Str != p.Value.Str || q.Int != p.Value.Int || q.Bool != p.Value.Bool {
			return false
		}
	}
	return true
}

func isTchar(c byte) bool {
	if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
