// Package jose is Gatehouse's strict reader of JWS compact tokens (RFC 7515
// §7.1), JWT claim sets (RFC 7519), JSON Web Keys (RFC 7517/7518/8037) and
// the signature algorithms of RFC 7518 and RFC 8037. It does no I/O and
// holds no policy beyond the RFCs: which issuer, which algorithms and which
// claims to demand is the caller's (package jwt).
//
// Everything a token carries is attacker-chosen until its signature is
// verified, so the reader is strict and cheap in this order:
//  1. length and shape first: at most max bytes, exactly three segments,
//     only base64url characters — one pass over the string, no allocation,
//     before any base64 decoding (1 MB of dots costs one scan, and is
//     refused at the length check first);
//  2. strict base64url (no padding, no '+' or '/', no stray bits);
//  3. strict JSON (see json.go): duplicate members are errors;
//  4. header rules: alg is a non-empty string; crit is honoured per RFC 7515
//     §4.1.11 — and since this package implements no extension, any crit
//     is refused with a detail saying why; b64 (RFC 7797) is refused;
//     nested JWTs (cty JWT) are refused.
//
// Header parameters that name or carry keys (jku, x5u, jwk, x5c, x5t) are
// recorded but never used to find a key: keys come only from the issuer's
// configuration (RFC 8725 §3.10).
package jose

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Error is a rejection of the token's own content: Code is a reason code
// (jwt.*), Detail says what is wrong in the token's terms. It never quotes
// more than a short, escaped excerpt of the token.
type Error struct {
	Code   string
	Detail string
}

func (e *Error) Error() string { return e.Code + ": " + e.Detail }

// Reason codes (catalogued in internal/reason).
const (
	CodeMalformed        = "jwt.malformed"
	CodeAlgNotAllowed    = "jwt.alg_not_allowed"
	CodeUnknownKid       = "jwt.unknown_kid"
	CodeSignatureInvalid = "jwt.signature_invalid"
	CodeIssuerUnknown    = "jwt.issuer_unknown"
	CodeAudienceMismatch = "jwt.audience_mismatch"
	CodeClaimMissing     = "jwt.claim_missing"
	CodeTypeMismatch     = "jwt.type_mismatch"
	CodeExpired          = "jwt.expired"
	CodeNotYetValid      = "jwt.not_yet_valid"
)

func malformed(detail string) *Error { return &Error{Code: CodeMalformed, Detail: detail} }

// DefaultMaxBytes is the token length limit when the caller gives none.
const DefaultMaxBytes = 8 << 10

// b64 is strict base64url without padding: '=' '+' '/' and non-zero
// trailing bits are errors (RFC 7515 §2, §7.1).
var b64 = base64.RawURLEncoding.Strict()

// JWS is a parsed compact JWS whose signature is not yet verified.
type JWS struct {
	Header Header
	// Payload is the decoded payload (for a JWT, the claim set's JSON).
	Payload []byte
	// SigningInput is "<header>.<payload>" as sent: what was signed.
	SigningInput string
	Signature    []byte
}

// Header is a JOSE header after the checks of ParseCompact.
type Header struct {
	// Alg is never empty after a successful parse.
	Alg string
	// Kid is the key id; HasKid tells an absent kid from an empty one.
	Kid    string
	HasKid bool
	// Typ is the media type as sent (HasTyp false when absent).
	Typ    string
	HasTyp bool
	Cty    string
	// KeyParams lists key-carrying parameters present (jku, jwk, x5u,
	// x5c, x5t, x5t#S256): recorded for the trace, never used.
	KeyParams []string
}

// Segments splits a compact token after the cheap checks: length, exactly
// three segments, base64url alphabet. It allocates nothing.
func Segments(tok string, max int) (h, p, s string, err *Error) {
	if max <= 0 {
		max = DefaultMaxBytes
	}
	if len(tok) == 0 {
		return "", "", "", malformed("The token is empty.")
	}
	if len(tok) > max {
		return "", "", "", malformed("The token is " + strconv.Itoa(len(tok)) + " bytes long; the limit is " + strconv.Itoa(max) + ".")
	}
	if tok[0] == '{' {
		return "", "", "", malformed("This is a JWS in JSON serialization; only the compact form (header.payload.signature) is accepted.")
	}
	d1, d2, dots := -1, -1, 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c == '.' {
			switch dots {
			case 0:
				d1 = i
			case 1:
				d2 = i
			}
			dots++
			continue
		}
		if !isB64URL(c) {
			return "", "", "", malformed(badChar(tok, i, dots))
		}
	}
	if dots != 2 {
		d := "A JWT has 3 segments separated by dots; this token has " + strconv.Itoa(dots+1) + "."
		if dots == 4 {
			d += " (5 segments: an encrypted JWT (JWE)? Only signed tokens are accepted.)"
		}
		return "", "", "", malformed(d)
	}
	h, p, s = tok[:d1], tok[d1+1:d2], tok[d2+1:]
	if h == "" {
		return "", "", "", malformed("The header segment is empty.")
	}
	if p == "" {
		return "", "", "", malformed("The payload segment is empty.")
	}
	return h, p, s, nil
}

func isB64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func badChar(tok string, i, dots int) string {
	seg := [...]string{"header", "payload", "signature"}
	where := "segment " + strconv.Itoa(dots+1)
	if dots < 3 {
		where = "the " + seg[dots]
	}
	c := tok[i]
	at := "Character " + strconv.QuoteRune(rune(c)) + " at position " + strconv.Itoa(i+1) + " (in " + where + ")"
	switch {
	case c == '=':
		return at + " is base64 padding; JWTs use base64url without padding."
	case c == '+' || c == '/':
		return at + " is standard base64; JWTs use base64url ('-' and '_')."
	case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		return at + " is whitespace; send the token without spaces or line breaks."
	case c >= 0x80:
		return "Byte 0x" + strconv.FormatUint(uint64(c), 16) + " at position " + strconv.Itoa(i+1) + " (in " + where + ") is not base64url."
	}
	return at + " is not base64url."
}

// ParseCompact parses a compact JWS: Segments, then strict base64url and
// strict JSON for the header, and the header rules of the package doc. The
// payload is decoded but not interpreted (ParseClaims does that for JWTs).
func ParseCompact(tok string, max int) (*JWS, *Error) {
	hs, ps, ss, err := Segments(tok, max)
	if err != nil {
		return nil, err
	}
	hb, derr := b64.DecodeString(hs)
	if derr != nil {
		return nil, malformed("The header is not valid base64url.")
	}
	h, herr := parseHeader(string(hb))
	if herr != nil {
		return nil, herr
	}
	pb, derr := b64.DecodeString(ps)
	if derr != nil {
		return nil, malformed("The payload is not valid base64url.")
	}
	sb, derr := b64.DecodeString(ss)
	if derr != nil {
		return nil, malformed("The signature is not valid base64url.")
	}
	return &JWS{Header: h, Payload: pb, SigningInput: tok[:len(hs)+1+len(ps)], Signature: sb}, nil
}

// registered are the header parameter names defined by RFC 7515/7516/7518;
// RFC 7515 §4.1.11: crit MUST NOT list them.
func registered(name string) bool {
	switch name {
	case "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
		"enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c":
		return true
	}
	return false
}

func parseHeader(src string) (Header, *Error) {
	var h Header
	obj, err := parseObject(src)
	if err != nil {
		return h, malformed("The header is not a valid JSON object: " + err.Error() + ".")
	}
	alg, ok := obj.get("alg")
	switch {
	case !ok:
		return h, malformed("The header has no alg.")
	case alg.kind != KindString:
		return h, malformed("The header's alg is " + alg.kind.String() + "; it must be a string.")
	}
	h.Alg = stringValue(alg.raw)
	if h.Alg == "" {
		return h, malformed("The header's alg is empty.")
	}
	if m, ok := obj.get("kid"); ok {
		if m.kind != KindString {
			return h, malformed("The header's kid is " + m.kind.String() + "; it must be a string.")
		}
		h.Kid, h.HasKid = stringValue(m.raw), true
	}
	if m, ok := obj.get("typ"); ok {
		if m.kind != KindString {
			return h, malformed("The header's typ is " + m.kind.String() + "; it must be a string.")
		}
		h.Typ, h.HasTyp = stringValue(m.raw), true
	}
	if m, ok := obj.get("cty"); ok {
		if m.kind != KindString {
			return h, malformed("The header's cty is " + m.kind.String() + "; it must be a string.")
		}
		h.Cty = stringValue(m.raw)
		if strings.EqualFold(h.Cty, "JWT") || strings.EqualFold(h.Cty, "application/JWT") {
			return h, malformed("The token is a nested JWT (cty JWT); nested tokens are not accepted.")
		}
	}
	for _, name := range [...]string{"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"} {
		if _, ok := obj.get(name); ok {
			h.KeyParams = append(h.KeyParams, name)
		}
	}
	if e := checkCrit(obj); e != nil {
		return h, e
	}
	if _, ok := obj.get("b64"); ok {
		return h, malformed("The header has b64 (RFC 7797 unencoded payload), which is not supported.")
	}
	if _, ok := obj.get("enc"); ok {
		return h, malformed("The header has enc: this is an encrypted JWT (JWE); only signed tokens are accepted.")
	}
	return h, nil
}

// checkCrit applies RFC 7515 §4.1.11: crit, when present, is a non-empty
// array of distinct names, none registered, each present in the header,
// each understood by the recipient. This package understands no extension,
// so a well-formed crit is refused too, with the name it did not know.
func checkCrit(obj object) *Error {
	m, ok := obj.get("crit")
	if !ok {
		return nil
	}
	if m.kind != KindArray {
		return malformed("The header's crit is " + m.kind.String() + "; it must be an array of names (RFC 7515 §4.1.11).")
	}
	names, ok := stringArray(m.raw)
	if !ok {
		return malformed("The header's crit must list names as strings (RFC 7515 §4.1.11).")
	}
	if len(names) == 0 {
		return malformed("The header's crit is an empty list, which RFC 7515 §4.1.11 forbids.")
	}
	for i, n := range names {
		for _, o := range names[:i] {
			if o == n {
				return malformed("The header's crit lists " + quoteShort(n) + " twice.")
			}
		}
		if registered(n) {
			return malformed("The header's crit lists " + quoteShort(n) + ", a registered header parameter, which RFC 7515 §4.1.11 forbids.")
		}
		if _, ok := obj.get(n); !ok {
			return malformed("The header's crit lists " + quoteShort(n) + ", which is not in the header.")
		}
	}
	if names[0] == "b64" {
		return malformed("The token requires the b64 extension (RFC 7797 unencoded payload) through crit; this gateway does not implement it.")
	}
	return malformed("The token requires the extension " + quoteShort(names[0]) + " through crit; this gateway implements no JWS extensions.")
}
