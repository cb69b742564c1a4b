package jose

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Claims is a JWT claim set (RFC 7519 §4) read strictly: a JSON object
// without duplicate members. Values are decoded on demand, and a claim of
// the wrong type is reported as such rather than treated as absent.
type Claims struct{ obj object }

// ParseClaims parses a JWT payload.
func ParseClaims(payload []byte) (*Claims, *Error) {
	obj, err := parseObject(string(payload))
	if err != nil {
		return nil, malformed("The payload is not a valid JSON object: " + err.Error() + ".")
	}
	return &Claims{obj: obj}, nil
}

// Has reports whether the claim is present (null counts as present).
func (c *Claims) Has(name string) bool {
	_, ok := c.obj.get(name)
	return ok
}

// Kind returns the JSON type of a claim (0 when absent).
func (c *Claims) Kind(name string) Kind {
	m, _ := c.obj.get(name)
	return m.kind
}

// Names returns the claim names in document order.
func (c *Claims) Names() []string {
	out := make([]string, len(c.obj))
	for i, m := range c.obj {
		out[i] = m.name
	}
	return out
}

// String returns a string claim. ok is false when the claim is absent or
// not a string.
func (c *Claims) String(name string) (v string, ok bool) {
	m, found := c.obj.get(name)
	if !found || m.kind != KindString {
		return "", false
	}
	return stringValue(m.raw), true
}

// maxNumericDate is 9999-12-31T23:59:59Z: a NumericDate beyond it (1e300)
// is not a date any issuer meant, and cannot be held by time.Time safely.
const maxNumericDate = 253402300799

// NumericDate returns a NumericDate claim (exp, nbf, iat): seconds since
// the epoch, possibly fractional (RFC 7519 §2). present is false when the
// claim is absent; err is non-nil when it is present but not a number in
// range (a string "1300819380" is an error, not a date).
func (c *Claims) NumericDate(name string) (t time.Time, present bool, err *Error) {
	m, ok := c.obj.get(name)
	if !ok {
		return time.Time{}, false, nil
	}
	if m.kind != KindNumber {
		d := "The claim " + name + " is " + m.kind.String() + "; a NumericDate must be a JSON number of seconds since 1970."
		if m.kind == KindString {
			d += " (Got " + quoteShort(stringValue(m.raw)) + " in quotes.)"
		}
		return time.Time{}, true, malformed(d)
	}
	f, perr := strconv.ParseFloat(m.raw, 64)
	if perr != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > maxNumericDate {
		return time.Time{}, true, malformed("The claim " + name + " is " + quoteShort(m.raw) + ", which is not a date between year 0 and 9999.")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), true, nil
}

// Audience returns aud as a list: RFC 7519 §4.1.3 allows one string or an
// array of strings. err is non-nil when aud is present with another type.
// An empty array is returned as an empty, non-nil list: it matches nothing.
func (c *Claims) Audience() (aud []string, present bool, err *Error) {
	m, ok := c.obj.get("aud")
	if !ok {
		return nil, false, nil
	}
	switch m.kind {
	case KindString:
		return []string{stringValue(m.raw)}, true, nil
	case KindArray:
		list, ok := stringArray(m.raw)
		if !ok {
			return nil, true, malformed("The claim aud must be a string or an array of strings.")
		}
		if list == nil {
			list = []string{}
		}
		return list, true, nil
	}
	return nil, true, malformed("The claim aud is " + m.kind.String() + "; it must be a string or an array of strings.")
}

// Scopes returns the token's scopes: "scope" as a space-separated string
// (RFC 8693 §4.2, RFC 9068 §2.2.3), else "scp" as an array of strings
// (Okta, Microsoft) or a space-separated string (Azure AD v1).
func (c *Claims) Scopes() ([]string, *Error) {
	if m, ok := c.obj.get("scope"); ok {
		if m.kind != KindString {
			return nil, malformed("The claim scope is " + m.kind.String() + "; it must be a space-separated string.")
		}
		return strings.Fields(stringValue(m.raw)), nil
	}
	if m, ok := c.obj.get("scp"); ok {
		switch m.kind {
		case KindString:
			return strings.Fields(stringValue(m.raw)), nil
		case KindArray:
			list, ok := stringArray(m.raw)
			if !ok {
				return nil, malformed("The claim scp must be an array of strings.")
			}
			return list, nil
		}
		return nil, malformed("The claim scp is " + m.kind.String() + "; it must be an array of strings.")
	}
	return nil, nil
}
