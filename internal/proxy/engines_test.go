package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/proxy"
	"gatehouse/internal/proxy/proxytest"
)

type engine struct {
	name string
	new  func(t *testing.T) proxy.Forwarder
}

// engines is the table every forwarding test runs over. The fast engine
// is wrapped so each request also checks it really ran on the engine the
// selection rules promise (upgrades on httputil, the rest on fast).
func engines() []engine {
	return []engine{
		{"httputil", func(t *testing.T) proxy.Forwarder { return proxy.NewHTTPUtil(proxy.Options{}) }},
		{"fast", func(t *testing.T) proxy.Forwarder {
			return engineCheck{t: t, fwd: proxy.NewFast(proxy.Options{})}
		}},
	}
}

type engineCheck struct {
	t   *testing.T
	fwd proxy.Forwarder
}

func (c engineCheck) Forward(w http.ResponseWriter, r *http.Request, out *proxy.Outbound) (proxy.Result, error) {
	res, err := c.fwd.Forward(w, r, out)
	want := proxy.EngineFast
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		want = proxy.EngineHTTPUtil
	}
	if res.Engine != want {
		c.t.Errorf("%s %s served by %q, want %q", r.Method, r.URL.Path, res.Engine, want)
	}
	return res, err
}

func TestConformance(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { proxytest.Run(t, e.new) })
	}
}
