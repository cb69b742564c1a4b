package proxy_test

import (
	"testing"

	"gatehouse/internal/proxy"
	"gatehouse/internal/proxy/proxytest"
)

// engines is the table every forwarding test runs over.
func engines() []struct {
	name string
	new  func(t *testing.T) proxy.Forwarder
} {
	return []struct {
		name string
		new  func(t *testing.T) proxy.Forwarder
	}{
		{"httputil", func(t *testing.T) proxy.Forwarder { return proxy.NewHTTPUtil(proxy.Options{}) }},
	}
}

func TestConformance(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { proxytest.Run(t, e.new) })
	}
}
