package proxy

import "net/http"

// Engines is the gateway's Forwarder: it chooses the engine per request.
// Ordinary requests go to the fast engine; protocol upgrades (WebSocket),
// CONNECT and services with HTTP/2 targets (h2, h2c) go to httputil, as
// does every request of a service whose Engine is "httputil". A service
// forcing "fast" still sends upgrades to httputil: the fast engine has no
// upgrade path. Result.Engine tells the pipeline which one served, for the
// decision trace.
type Engines struct {
	fast *Fast
	std  *HTTPUtil
}

// New returns the default Forwarder.
func New(opts Options) *Engines {
	f := NewFast(opts)
	return &Engines{fast: f, std: f.fallback}
}

// Forward implements Forwarder.
func (e *Engines) Forward(w http.ResponseWriter, r *http.Request, out *Outbound) (Result, error) {
	if out.Upstream != nil && out.Upstream.engine == EngineHTTPUtil {
		return e.std.Forward(w, r, out)
	}
	return e.fast.Forward(w, r, out)
}

// Choose names the engine Forward would use for r, without forwarding.
func (e *Engines) Choose(r *http.Request, up *Upstream) string {
	if up == nil {
		return EngineFast
	}
	if up.engine == EngineHTTPUtil || up.h2 || isUpgrade(r) || r.Method == http.MethodConnect {
		return EngineHTTPUtil
	}
	return EngineFast
}
