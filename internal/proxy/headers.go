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

// isGatehouseHeader reports an X-Gatehouse-* name in any case: inbound ones
// are always removed, so an upstream can trust the ones it receives.
func isGatehouseHeader(name string) bool {
	const p = "x-gatehouse-"
	return len(name) >= len(p) && strings.EqualFold(name[:len(p)], p)
}

// isClientForwarding reports the client-supplied forwarding fields the
// gateway replaces with its own (the caller decided trust: Outbound
// carries the client IP and the chain to send). X-Real-Ip is included
// because many upstreams trust it as blindly as X-Forwarded-For.
func isClientForwarding(name string) bool {
	switch {
	case strings.EqualFold(name, "X-Forwarded-For"),
		strings.EqualFold(name, "X-Forwarded-Host"),
		strings.EqualFold(name, "X-Forwarded-Proto"),
		strings.EqualFold(name, "Forwarded"),
		strings.EqualFold(name, "X-Real-Ip"):
		return true
	}
	return false
}

// isTraceContext reports the W3C Trace Context fields, which the gateway
// replaces when it sends its own (Outbound.Traceparent).
func isTraceContext(name string) bool {
	return strings.EqualFold(name, HeaderTraceparent) || strings.EqualFold(name, HeaderTracestate)
}

func isDropped(drop []string, name string) bool {
	for _, d := range drop {
		if strings.EqualFold(d, name) {
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
		if p != "" && p[0] != '/' && !strings.HasSuffix(matchedPrefix, "/") {
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
