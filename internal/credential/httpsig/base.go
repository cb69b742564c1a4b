package httpsig

import (
	"encoding/base64"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"gatehouse/internal/credential/httpsig/sfv"
)

// Message is what the signature base is computed from: the parts of an
// HTTP request (or response) that RFC 9421 §2 components name.
type Message struct {
	// Request side.
	Method string
	// Scheme is "http" or "https": what the client used to reach the
	// gateway (see RequestMessage).
	Scheme string
	// Host is the Host header as received (r.Host).
	Host string
	// Target is the request-target as received (r.RequestURI).
	Target string
	// Response side: Status > 0 marks a response; Request is the request
	// it answers, for components with the req parameter.
	Status  int
	Request *Message
	Header  http.Header
}

// RequestMessage describes a request as net/http's server presents it.
// scheme "" means "https" when the connection is TLS, else "http"; pass
// the external scheme when a TLS-terminating proxy fronts the gateway
// (RFC 9421 §7.4.3: the signer signed what it sent).
func RequestMessage(r *http.Request, scheme string) Message {
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	target := r.RequestURI
	if target == "" && r.URL != nil { // a client-side request, in tests
		target = r.URL.RequestURI()
	}
	host := r.Host
	if host == "" && r.URL != nil {
		host = r.URL.Host
	}
	return Message{Method: r.Method, Scheme: scheme, Host: host, Target: target, Header: r.Header}
}

// ResponseMessage describes a response to req (which may be nil).
func ResponseMessage(status int, h http.Header, req *Message) Message {
	return Message{Status: status, Header: h, Request: req}
}

// Authority is the normalized authority (RFC 9421 §2.2.3): the host in
// lower case, the port dropped when it is the scheme's default.
func (m *Message) Authority() string {
	h := m.Host
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		port := h[i+1:]
		if (m.Scheme == "http" && port == "80") || (m.Scheme == "https" && port == "443") || port == "" {
			h = h[:i]
		}
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// pathQuery splits the request-target into the absolute path and the
// query (with its '?', "" when absent). An absolute-form target (sent to
// a proxy) drops its scheme and authority.
func (m *Message) pathQuery() (path, query string) {
	t := m.Target
	if !strings.HasPrefix(t, "/") {
		if i := strings.Index(t, "://"); i >= 0 {
			rest := t[i+3:]
			j := strings.IndexAny(rest, "/?")
			if j < 0 {
				t = ""
			} else {
				t = rest[j:]
			}
		}
	}
	if i := strings.IndexByte(t, '?'); i >= 0 {
		return t[:i], t[i:]
	}
	return t, ""
}

// ComponentError is a covered component the message cannot supply.
type ComponentError struct {
	Component string
	Msg       string
}

// Error implements error.
func (e *ComponentError) Error() string { return "component " + e.Component + ": " + e.Msg }

// AppendBase appends the signature base of in over m (RFC 9421 §2.5): one
// line per covered component, then the "@signature-params" line, with no
// trailing newline.
func (in *Input) AppendBase(b []byte, m *Message) ([]byte, error) {
	for i := range in.Components {
		c := &in.Components[i]
		line := len(b)
		b = sfv.AppendItem(b, sfv.Item{Value: sfv.BareItem{Kind: sfv.String, Str: c.Name}, Params: c.Params})
		// The identifier's bytes, made a string only for an error
		// (appendValue appends after them and never rewrites them).
		id := b[line:len(b):len(b)]
		b = append(b, ':', ' ')
		var err error
		b, err = appendValue(b, c, m)
		if err != nil {
			return b, &ComponentError{Component: string(id), Msg: err.Error()}
		}
		b = append(b, '\n')
	}
	b = append(b, `"@signature-params": `...)
	return in.SignatureParams(b), nil
}

type valueError string

func (e valueError) Error() string { return string(e) }

func appendValue(b []byte, c *Component, m *Message) ([]byte, error) {
	if _, ok := c.Param("req"); ok {
		if m.Status == 0 {
			return b, valueError("the req parameter applies to responses only")
		}
		if m.Request == nil {
			return b, valueError("the req parameter needs the request this response answers")
		}
		m = m.Request
	}
	if c.Name[0] == '@' {
		return appendDerived(b, c, m)
	}
	return appendField(b, c, m)
}

func appendDerived(b []byte, c *Component, m *Message) ([]byte, error) {
	if c.Name == "@status" {
		if m.Status == 0 {
			return b, valueError("@status applies to responses only")
		}
		return strconv.AppendInt(b, int64(m.Status), 10), nil
	}
	if m.Status != 0 {
		return b, valueError(c.Name + " applies to requests only")
	}
	path, query := m.pathQuery()
	switch c.Name {
	case "@method":
		return append(b, m.Method...), nil
	case "@authority":
		return append(b, m.Authority()...), nil
	case "@scheme":
		return append(b, m.Scheme...), nil
	case "@request-target":
		return append(b, m.Target...), nil
	case "@target-uri":
		b = append(b, m.Scheme...)
		b = append(b, "://"...)
		b = append(b, m.Authority()...)
		if path == "" {
			path = "/"
		}
		b = append(b, path...)
		return append(b, query...), nil
	case "@path":
		if path == "" {
			path = "/"
		}
		return append(b, path...), nil
	case "@query":
		if query == "" {
			query = "?"
		}
		return append(b, query...), nil
	case "@query-param":
		name, _ := c.Param("name")
		return appendQueryParam(b, query, name.Str)
	}
	return b, valueError("unknown derived component")
}

// appendQueryParam implements RFC 9421 §2.2.8: the query is parsed as
// application/x-www-form-urlencoded (WHATWG URL §5.1), names and values
// are percent-encoded again, and the parameter must occur exactly once.
func appendQueryParam(b []byte, query, name string) ([]byte, error) {
	q := strings.TrimPrefix(query, "?")
	var found string
	n := 0
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if reencode(k) == name {
			n++
			found = v
		}
	}
	switch n {
	case 0:
		return b, valueError("the query has no parameter " + strconv.Quote(name))
	case 1:
		return append(b, reencode(found)...), nil
	}
	return b, valueError("the query has parameter " + strconv.Quote(name) + " " + strconv.Itoa(n) +
		" times; RFC 9421 §2.2.8 forbids covering a repeated parameter (cover @query instead)")
}

// reencode decodes a form-urlencoded string ('+' is a space, invalid
// escapes are kept as they are) and percent-encodes every byte except
// ASCII alphanumerics and "*-._", the WHATWG urlencoded set, with spaces
// as %20 as RFC 9421 §2.2.8's examples show.
func reencode(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !unreservedForm(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	dec := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			dec = append(dec, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			dec = append(dec, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			dec = append(dec, c)
		}
	}
	const hexdig = "0123456789ABCDEF"
	out := make([]byte, 0, len(dec)*3)
	for _, c := range dec {
		if unreservedForm(c) {
			out = append(out, c)
		} else {
			out = append(out, '%', hexdig[c>>4], hexdig[c&15])
		}
	}
	return string(out)
}

func unreservedForm(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '*' || c == '-' || c == '.' || c == '_'
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// structuredFields maps fields this verifier knows to be structured to
// their top-level type, for the sf parameter (RFC 9421 §2.1.1: the
// verifier must know the type to re-serialize).
var structuredFields = map[string]byte{
	"content-digest": 'd', "repr-digest": 'd', "want-content-digest": 'd', "want-repr-digest": 'd',
	"signature": 'd', "signature-input": 'd', "accept-signature": 'd', "priority": 'd',
	"cache-status": 'l', "proxy-status": 'l', "example-dict": 'd',
}

func appendField(b []byte, c *Component, m *Message) ([]byte, error) {
	if _, ok := c.Param("tr"); ok {
		return b, valueError("trailer fields (tr) are not supported")
	}
	lines, ok := m.Header[textproto.CanonicalMIMEHeaderKey(c.Name)]
	if !ok && c.Name == "host" && m.Host != "" && m.Status == 0 {
		// net/http moves Host out of the header map.
		lines = []string{m.Host}
	} else if !ok {
		return b, valueError("the message has no " + c.Name + " field")
	}
	if _, ok := c.Param("bs"); ok {
		for i, l := range lines {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = append(b, ':')
			b = base64.StdEncoding.AppendEncode(b, []byte(trimOWS(l)))
			b = append(b, ':')
		}
		return b, nil
	}
	key, hasKey := c.Param("key")
	_, sf := c.Param("sf")
	if !hasKey && !sf {
		for i, l := range lines {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = append(b, trimOWS(l)...)
		}
		return b, nil
	}
	joined := sfv.JoinLines(trimmed(lines))
	typ := structuredFields[c.Name]
	if hasKey {
		typ = 'd'
	}
	switch typ {
	case 'd':
		d, err := sfv.ParseDictionary(joined)
		if err != nil {
			return b, valueError("the " + c.Name + " field is not a structured-field dictionary: " + err.Error())
		}
		if !hasKey {
			return sfv.AppendDictionary(b, &d), nil
		}
		mem, ok := d.Get(key.Str)
		if !ok {
			return b, valueError("the " + c.Name + " dictionary has no member " + strconv.Quote(key.Str))
		}
		return sfv.AppendMember(b, mem), nil
	case 'l':
		l, err := sfv.ParseList(joined)
		if err != nil {
			return b, valueError("the " + c.Name + " field is not a structured-field list: " + err.Error())
		}
		return sfv.AppendList(b, l), nil
	}
	return b, valueError("the sf parameter needs a field of known structured type; " + c.Name + " is not one")
}

func trimOWS(s string) string { return strings.Trim(s, " \t") }

func trimmed(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = trimOWS(l)
	}
	return out
}
