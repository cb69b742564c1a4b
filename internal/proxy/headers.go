package proxy

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"unsafe"

	"gatehouse/internal/reason"
)

// Identity and forwarding header names the gateway sets.
const (
	HeaderTenant     = "X-Gatehouse-Tenant"
	HeaderConsumer   = "X-Gatehouse-Consumer"
	HeaderCredential = "X-Gatehouse-Credential"
	HeaderScopes     = "X-Gatehouse-Scopes"
	HeaderIdentity   = "X-Gatehouse-Identity"
	HeaderRequestID  = "X-Request-Id"
	// W3C Trace Context fields, set from Outbound.Traceparent/Tracestate.
	HeaderTraceparent = "Traceparent"
	HeaderTracestate  = "Tracestate"
)

// hopByHop are the RFC 9110 §7.6.1 connection-specific fields (plus the
// legacy Proxy-Connection and Keep-Alive): they describe one connection and
// are never forwarded. Fields named by a Connection header are too.
var hopByHop = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func isHopByHop(name string) bool {
	for _, h := range hopByHop {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// namedByConnection reports whether a Connection header of h lists name.
// A client may name any field there to have proxies drop it — which is
// exactly how it would strip a gateway header if the gateway set its
// headers before this removal; both engines therefore remove first and set
// the gateway's headers after.
func namedByConnection(conn []string, name string) bool {
	for _, v := range conn {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(tok), name) {
				return true
			}
		}
	}
	return false
}

// Request header rules: what an engine does with a client's field.
const (
	ruleCopy = iota
	ruleDrop
	ruleTe
	ruleExpect
	ruleRequestID
	ruleTrace // traceparent, tracestate: replaced when Outbound sets them
)

// requestRule classifies a client request field name for both engines:
// hop-by-hop fields, client forwarding fields (the caller decided trust:
// Outbound carries the client IP and the chain to send; X-Real-Ip is
// included because many upstreams trust it as blindly as X-Forwarded-For),
// inbound X-Gatehouse-* and the framing fields an engine sets itself are
// dropped.
//
// Names are compared case-insensitively and with '_' read as '-'
// (sameField): a CGI or WSGI upstream (PHP, Python's wsgiref) maps both to
// '_', so X_Gatehouse_Consumer reaches it as the same variable as
// X-Gatehouse-Consumer, joined with the gateway's value — the client's
// first when the client's field came first. No spelling of a field the
// gateway sets or strips may pass. (nginx drops every name with '_',
// underscores_in_headers off; the gateway passes the others, which name
// nothing it vouches for.)
//
// It switches on length first so an ordinary field costs one comparison
// or none, and allocates nothing.
func requestRule(k string) int {
	eq := sameField[string]
	switch len(k) {
	case 2:
		if eq(k, "Te") {
			return ruleTe
		}
	case 4:
		if eq(k, "Host") {
			return ruleDrop
		}
	case 6:
		if eq(k, "Expect") {
			return ruleExpect
		}
	case 7:
		if eq(k, "Trailer") || eq(k, "Upgrade") {
			return ruleDrop
		}
	case 9:
		if eq(k, "Forwarded") || eq(k, "X-Real-Ip") {
			return ruleDrop
		}
	case 10:
		if eq(k, "Connection") || eq(k, "Keep-Alive") {
			return ruleDrop
		}
		if eq(k, "Tracestate") {
			return ruleTrace
		}
	case 11:
		if eq(k, "Traceparent") {
			return ruleTrace
		}
	case 12:
		if eq(k, "X-Request-Id") {
			return ruleRequestID
		}
	case 14:
		if eq(k, "Content-Length") {
			return ruleDrop
		}
	case 15:
		if eq(k, "X-Forwarded-For") {
			return ruleDrop
		}
	case 16:
		if eq(k, "Proxy-Connection") || eq(k, "X-Forwarded-Host") {
			return ruleDrop
		}
	case 17:
		if eq(k, "Transfer-Encoding") || eq(k, "X-Forwarded-Proto") {
			return ruleDrop
		}
	case 18:
		if eq(k, "Proxy-Authenticate") {
			return ruleDrop
		}
	case 19:
		if eq(k, "Proxy-Authorization") {
			return ruleDrop
		}
	}
	if isGatehouseHeader(k) {
		return ruleDrop
	}
	return ruleCopy
}

// sameField reports whether the client's field name k names the field
// name, ignoring ASCII case and reading '_' in k as '-' (see requestRule).
// name is a field name as the gateway spells it. k may be the bytes of an
// upstream's response field (fasthttp's), compared without a copy.
func sameField[S string | []byte](k S, name string) bool {
	if len(k) != len(name) {
		return false
	}
	for i := 0; i < len(k); i++ {
		c, d := k[i], name[i]
		if c == d {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d && (c != '_' || d != '-') {
			return false
		}
	}
	return true
}

// isGatehouseHeader reports an X-Gatehouse-* name in any case and with '_'
// for '-' (see requestRule): inbound ones are always removed, so an
// upstream can trust the ones it receives.
func isGatehouseHeader(name string) bool {
	const p = "X-Gatehouse-"
	return len(name) >= len(p) && sameField(name[:len(p)], p)
}

// Response header rule: which of an upstream's response fields the client
// never gets because the gateway answers for them itself. Both engines and
// both ways of writing a response (http.Header, and proxy.FastResponder
// for small buffered bodies) apply it while they copy the upstream's
// fields, so the outcome does not depend on whether the gateway's own
// were set before the copy (they are: the pipeline sets them, then calls
// Forward) or after:
//
//   - Gatehouse-* is the gateway's namespace (spec §3:
//     Gatehouse-Credential-Rotated, Gatehouse-Credential-Expires; clients
//     and `gatehouse doctor` act on them, e.g. switch to a successor key).
//     Every upstream field in it is removed, in any case and with '_' for
//     '-' (sameField, as requestRule strips a client's X-Gatehouse-*), so a
//     caller only ever sees the gateway's: an upstream, or anyone who can
//     make one echo a header, cannot tell a client its key was rotated or
//     is about to expire, and cannot hide or contradict the gateway's
//     notice with a second field of the same name.
//   - RateLimit and RateLimit-Policy: when the gateway has set its own
//     (a route or plan limit applied: ratelimit.Headers), the upstream's
//     are removed and the gateway's alone reach the client. The draft
//     (draft-ietf-httpapi-ratelimit-headers) lets one response list
//     several policies, but a client reads every listed policy as the
//     server's and obeys the most restrictive; the gateway cannot vouch
//     for an upstream's window or scope (per upstream instance, per
//     something the gateway cannot see), the two parties' policy names
//     may collide ("default"), and a RateLimit item from one would then be
//     read against the other's policy. When the gateway sets none, the
//     upstream's pass through unchanged: an upstream may rate-limit
//     itself, and that is then the only limit there is to tell.
//   - Retry-After is not touched: the gateway sets it only on its own
//     rejections (a 429 from the limit stage, a 503), which are never
//     forwarded responses, so on a forwarded response it is the
//     upstream's (a 503 or 429 of its own) and passes through.

// isGatehouseResponseField reports a Gatehouse-* field name, in any case
// and with '_' for '-': the gateway's response namespace, which an
// upstream's response never passes into (see the response header rule).
func isGatehouseResponseField[S string | []byte](k S) bool {
	const p = "Gatehouse-"
	return len(k) >= len(p) && sameField(k[:len(p)], p)
}

// isRateLimitField reports RateLimit or RateLimit-Policy, in any case and
// with '_' for '-'. It switches on length so an ordinary field costs no
// comparison.
func isRateLimitField[S string | []byte](k S) bool {
	switch len(k) {
	case len("RateLimit"):
		return sameField(k, "RateLimit")
	case len("RateLimit-Policy"):
		return sameField(k, "RateLimit-Policy")
	}
	return false
}

// gatewayRateLimit reports whether the gateway put rate-limit fields of
// its own on the response header h before forwarding (ratelimit.Headers
// sets them under these canonical names): the upstream's then go.
func gatewayRateLimit(h http.Header) bool {
	return h["Ratelimit"] != nil || h["Ratelimit-Policy"] != nil
}

// isDropped reports a client field the route removes (Outbound.DropHeaders:
// the caller's credential), in any of its spellings (see requestRule).
func isDropped(drop []string, name string) bool {
	for _, d := range drop {
		if sameField(name, d) {
			return true
		}
	}
	return false
}

// validate refuses gateway-set header values with control characters: they
// come from the pipeline, and one carrying CR/LF would inject a header (the
// fast engine writes values raw). Failing closed beats sending the
// upstream an identity without its tenant.
func (o *Outbound) validate() error {
	id := &o.Identity
	for _, v := range [...]string{id.Tenant, id.Consumer, id.Credential, id.Scopes, id.RequestID, id.Token, o.ClientIP, o.ForwardedFor, o.Traceparent, o.Tracestate} {
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
				return &reason.Error{Code: reason.GatewayInternal,
					Debug: fmt.Sprintf("proxy: identity or forwarding value with control character 0x%02x at %d", c, i)}
			}
		}
	}
	return nil
}

// forwardedFor is the X-Forwarded-For value to send.
func (o *Outbound) forwardedFor() string {
	if o.ForwardedFor != "" {
		return o.ForwardedFor
	}
	return o.ClientIP
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// appendForwarded appends an RFC 7239 Forwarded element for the client.
func appendForwarded(dst []byte, clientIP, host, proto string) []byte {
	if clientIP != "" {
		dst = append(dst, "for="...)
		if ip := net.ParseIP(clientIP); ip != nil && ip.To4() == nil {
			dst = append(dst, `"[`...)
			dst = append(dst, clientIP...)
			dst = append(dst, `]"`...)
		} else {
			dst = append(dst, '"')
			dst = append(dst, clientIP...)
			dst = append(dst, '"')
		}
		dst = append(dst, ';')
	}
	dst = append(dst, `host="`...)
	dst = append(dst, strings.ReplaceAll(host, `"`, "")...)
	dst = append(dst, `";proto=`...)
	dst = append(dst, proto...)
	return dst
}

// setGatewayHeaders sets the identity and forwarding headers on an
// http.Header after every client-supplied one was removed.
func setGatewayHeaders(h http.Header, out *Outbound, r *http.Request, forwarded bool) {
	var scratch []byte // a Forwarded value's, viewed by h: not reused
	gatewayFields(out, r, forwarded, &scratch, func(k, v string) { h[k] = []string{v} })
}

// gatewayFields calls add with each identity and forwarding field the
// gateway sends upstream, in order (both engines send the same): empty
// values are left out. With forwarded, RFC 7239's Forwarded too, built in
// *scratch: its value is a view of *scratch, valid until *scratch is
// written again.
func gatewayFields(out *Outbound, r *http.Request, forwarded bool, scratch *[]byte, add func(k, v string)) {
	addIf := func(k, v string) {
		if v != "" {
			add(k, v)
		}
	}
	id := &out.Identity
	addIf(HeaderTenant, id.Tenant)
	addIf(HeaderConsumer, id.Consumer)
	addIf(HeaderCredential, id.Credential)
	addIf(HeaderScopes, id.Scopes)
	addIf(HeaderIdentity, id.Token)
	addIf(HeaderRequestID, id.RequestID)
	if out.Traceparent != "" {
		add(HeaderTraceparent, out.Traceparent)
		addIf(HeaderTracestate, out.Tracestate)
	}
	addIf("X-Forwarded-For", out.forwardedFor())
	addIf("X-Real-Ip", out.ClientIP)
	addIf("X-Forwarded-Host", r.Host)
	proto := scheme(r)
	add("X-Forwarded-Proto", proto)
	if forwarded {
		*scratch = appendForwarded((*scratch)[:0], out.ClientIP, r.Host, proto)
		add("Forwarded", unsafe.String(unsafe.SliceData(*scratch), len(*scratch)))
	}
}

// UpstreamPath computes Outbound.Path from a request's escaped path
// (r.URL.EscapedPath()): with strip, the route's matched prefix is removed;
// upstreamPrefix (the route's upstream_path) is then prepended. The result
// stays escaped, so %2F and friends reach the upstream as the client sent
// them.
func UpstreamPath(escapedPath, matchedPrefix string, strip bool, upstreamPrefix string) string {
	p := escapedPath
	if strip && matchedPrefix != "" && strings.HasPrefix(p, matchedPrefix) {
		p = p[len(matchedPrefix):]
		if p != "" && p[0] != '/' && !strings.HasSuffix(matchedPrefix, "/") && !encodedSlash(p) {
			// The prefix ended mid-segment ("/api" vs "/apix"): the router
			// should not match that, but never build "/upstreamx".
			p = escapedPath
		}
	}
	if upstreamPrefix != "" {
		up := strings.TrimSuffix(upstreamPrefix, "/")
		switch {
		case p == "":
			p = up
		case p[0] != '/':
			p = up + "/" + p
		default:
			p = up + p
		}
	}
	if p == "" {
		p = "/"
	} else if p[0] != '/' {
		p = "/" + p
	}
	return p
}

// encodedSlash reports p starting with %2F: the separator after a route's
// prefix sent encoded ("/api%2Fx", which the router matched as "/api/x").
// The rest is then forwarded as sent, joined to the upstream path with a
// "/" of its own: "/base/%2Fx". Joined without one ("/base%2Fx"), an
// upstream that does not decode %2F would read a single segment "base/x",
// outside the upstream path.
func encodedSlash(p string) bool {
	return len(p) >= 3 && p[0] == '%' && p[1] == '2' && (p[2] == 'F' || p[2] == 'f')
}

// isRequestIDField reports an X-Request-Id field name, in any case. On a
// response it marks the upstream's own request ID, which neither engine
// relays: X-Request-Id on every response is the gateway's (the pipeline
// sets it before Forward), the ID a caller quotes and the operator opens
// the decision trace with (spec §5, §6: gatehouse explain). Relayed, the
// upstream's value replaced the gateway's, or stood next to it as a second
// field. The contract names no field to keep the upstream's under, so it
// is dropped; an upstream that wants its ID seen can log the gateway's,
// which it receives as X-Request-Id.
func isRequestIDField[S string | []byte](k S) bool {
	// string(k) of a []byte is compared, not kept: no allocation.
	return len(k) == len(HeaderRequestID) && strings.EqualFold(string(k), HeaderRequestID)
}

// gatewayAnswersFor reports an upstream response field the client never
// gets because the gateway answers for it: the upstream's X-Request-Id
// (isRequestIDField), its Gatehouse-* fields and, with ownRateLimit (the
// gateway set RateLimit fields of its own), its RateLimit fields — the
// response header rule above. Both engines ask it for every field they
// copy.
func gatewayAnswersFor[S string | []byte](k S, ownRateLimit bool) bool {
	return isRequestIDField(k) || isGatehouseResponseField(k) || ownRateLimit && isRateLimitField(k)
}

// isCORSField reports an Access-Control-* field name, in any case.
func isCORSField(k []byte) bool {
	const p = "access-control-"
	if len(k) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := k[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}
