package httpsig

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/credential/httpsig/sfv"
)

// Defaults of a Policy's zero fields.
const (
	DefaultMaxAge  = 5 * time.Minute
	DefaultMaxSkew = time.Minute
	// DefaultMaxBody is how much of a body the verifier buffers to check
	// Content-Digest (1 MiB). The body is read whole before the request
	// is forwarded, so that a mismatch is rejected before the upstream
	// sees a byte; a larger signed body is request.too_large.
	DefaultMaxBody = 1 << 20
)

// DefaultRequired is what a signature must cover when a route says
// nothing: the method, the authority and the path (RFC 9421 §7.2.1),
// plus content-digest when there is a body (Policy.BodyDigestOptional).
var DefaultRequired = []string{"@method", "@authority", "@path"}

// Policy is a route's (or the gateway's) requirements on signatures. The
// zero value is the strict default.
type Policy struct {
	// Required lists component identifiers the signature must cover,
	// bare ("@method", "content-type") or in RFC 8941 form
	// (`"@query-param";name="id"`). nil means DefaultRequired. "@path"
	// is also satisfied by "@target-uri" or "@request-target", "@query"
	// likewise, "@authority" and "@scheme" by "@target-uri".
	Required []string
	// BodyDigestOptional drops the rule that a request with a body must
	// cover content-digest (RFC 9530) so the body is bound to the
	// signature.
	BodyDigestOptional bool
	// CreatedOptional accepts signatures without a created parameter
	// (then only expires, if any, limits them, and MaxAge cannot apply).
	CreatedOptional bool
	// NonceOptional accepts signatures without a nonce; replay is then
	// detected on the signature value itself.
	NonceOptional bool
	// MaxAge is how old created may be (0: DefaultMaxAge).
	MaxAge time.Duration
	// MaxSkew is how far in the future created may be, and how long past
	// expires a signature is still accepted (0: DefaultMaxSkew).
	MaxSkew time.Duration
	// MaxBody bounds the body buffered for Content-Digest (0:
	// DefaultMaxBody).
	MaxBody int64
	// Label, if set, is the only Signature-Input label verified; "" takes
	// the first label present in both fields.
	Label string
	// Tag, if set, must equal the signature's tag parameter (RFC 9421
	// §2.3: an application-specific profile).
	Tag string
}

// Rules is a checked Policy, ready for the request path.
type Rules struct {
	p        Policy
	required []requirement
	// text describes the requirements for insufficient-coverage details.
	text string
}

type requirement struct {
	ident string // serialized identifier, for messages
	name  string
	param string // the name parameter of @query-param
	alts  []string
}

// alternatives lists derived components that include another's value.
var alternatives = map[string][]string{
	"@path":      {"@target-uri", "@request-target"},
	"@query":     {"@target-uri", "@request-target"},
	"@authority": {"@target-uri"},
	"@scheme":    {"@target-uri"},
}

// Compile checks the policy and returns its rules.
func (p Policy) Compile() (*Rules, error) {
	if p.MaxAge < 0 || p.MaxSkew < 0 || p.MaxBody < 0 {
		return nil, fmt.Errorf("httpsig policy: negative limit")
	}
	if p.MaxAge == 0 {
		p.MaxAge = DefaultMaxAge
	}
	if p.MaxSkew == 0 {
		p.MaxSkew = DefaultMaxSkew
	}
	if p.MaxBody == 0 {
		p.MaxBody = DefaultMaxBody
	}
	req := p.Required
	if req == nil {
		req = DefaultRequired
	}
	r := &Rules{p: p}
	var parts []string
	for _, s := range req {
		s = strings.TrimSpace(s)
		if !strings.HasPrefix(s, `"`) {
			s = strconv.Quote(s)
		}
		it, err := sfv.ParseItem(s)
		if err != nil || it.Value.Kind != sfv.String {
			return nil, fmt.Errorf("httpsig policy: required component %s: not a component identifier", s)
		}
		c := Component{Name: it.Value.Str, Params: it.Params}
		if msg := checkComponent(&c); msg != "" {
			return nil, fmt.Errorf("httpsig policy: required component %s: %s", s, msg)
		}
		q := requirement{ident: string(sfv.AppendItem(nil, it)), name: c.Name, alts: alternatives[c.Name]}
		for _, pp := range c.Params {
			if pp.Key != "name" {
				return nil, fmt.Errorf("httpsig policy: required component %s: only @query-param's name parameter may be required", s)
			}
		}
		if v, ok := c.Param("name"); ok {
			q.param = v.Str
		}
		r.required = append(r.required, q)
		t := q.ident
		if len(q.alts) > 0 {
			t += " (or " + strings.Join(quoteAll(q.alts), " or ") + ")"
		}
		parts = append(parts, t)
	}
	r.text = strings.Join(parts, ", ")
	if !p.BodyDigestOptional {
		if r.text != "" {
			r.text += ", and "
		}
		r.text += `"content-digest" when the request has a body`
	}
	return r, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// Policy returns the compiled policy (defaults filled in).
func (r *Rules) Policy() Policy { return r.p }

// missing returns the required components in does not cover.
func (r *Rules) missing(in *Input, hasBody bool) []string {
	var out []string
	for i := range r.required {
		q := &r.required[i]
		if q.covered(in) {
			continue
		}
		out = append(out, q.ident)
	}
	if hasBody && !r.p.BodyDigestOptional && !in.Covers("content-digest", "sf") && !in.Covers("content-digest", "bs") {
		out = append(out, `"content-digest" (the request has a body)`)
	}
	return out
}

func (q *requirement) covered(in *Input) bool {
	if q.param != "" {
		for i := range in.Components {
			c := &in.Components[i]
			if v, ok := c.Param("name"); ok && c.Name == q.name && v.Str == q.param && len(c.Params) == 1 {
				return true
			}
		}
		return false
	}
	// Fields may carry sf or bs (the same value, differently encoded);
	// key (one dictionary member) or req (another message) do not count.
	if in.Covers(q.name, "sf") || in.Covers(q.name, "bs") {
		return true
	}
	for _, a := range q.alts {
		if in.Covers(a) {
			return true
		}
	}
	return false
}
