package proxy_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/front"

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

// TestConformance runs the suite over every engine, each behind both
// proxy listeners: net/http and the fast front (internal/front).
func TestConformance(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { proxytest.Run(t, e.new) })
	}
	for _, e := range engines() {
		t.Run(e.name+" behind the fast front", func(t *testing.T) { proxytest.Run(t, onFastFront(e.new)) })
	}
}

// onFastFront serves the gateway of newEngine's engine with internal/front.
func onFastFront(newEngine func(t *testing.T) proxy.Forwarder) func(t *testing.T) proxy.Forwarder {
	return func(t *testing.T) proxy.Forwarder { return fronted{newEngine(t)} }
}

type fronted struct{ proxy.Forwarder }

func (fronted) Serve(t *testing.T, h http.Handler) *httptest.Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &front.Server{Handler: h}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &httptest.Server{Listener: ln, URL: "http://" + ln.Addr().String()}
}
