package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"gatehouse/internal/domain"
	"gatehouse/internal/proxy"
	"gatehouse/internal/testenv"
)

// leanUpstream answers every request with a fixed small response, reading
// requests with ReadSlice so it allocates nothing per request: the
// benchmarks then count the engine's allocations, not the upstream's.
func leanUpstream(b testing.TB) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\n\r\nHello, World!")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				br := bufio.NewReaderSize(c, 4096)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			})
		}
	})
	return "http://" + ln.Addr().String()
}

type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(code int) {
	d.status = code
}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discardWriter) Flush()                      {}

func benchEngines() []struct {
	name string
	new  func() proxy.Forwarder
} {
	return []struct {
		name string
		new  func() proxy.Forwarder
	}{
		{"httputil", func() proxy.Forwarder { return proxy.NewHTTPUtil(proxy.Options{}) }},
		{"fast", func() proxy.Forwarder { return proxy.New(proxy.Options{}) }},
	}
}

func benchOutbound(b testing.TB, target string) *proxy.Outbound {
	ups := proxy.NewUpstreams(proxy.UpstreamOptions{})
	up := ups.For(domain.Service{ID: "bench", Name: "bench", Targets: []domain.Target{{URL: target, Weight: 1}}})
	if up.Err() != nil {
		b.Fatal(up.Err())
	}
	return &proxy.Outbound{
		Upstream: up, Path: "/v1/orders", RawQuery: "id=7",
		Identity: proxy.Identity{Tenant: "t_acme", Consumer: "c_shop", Credential: "7Hq2xK9pLm3Q",
			Scopes: "orders:read", RequestID: "01JD3V0000000000000000TEST"},
		DropHeaders: []string{"Authorization", "X-Api-Key"},
		ClientIP:    "203.0.113.7",
	}
}

// BenchmarkForward measures one engine forwarding a small GET to a
// loopback upstream, called directly (no listener, no client): the
// engine's own cost and allocations per request.
func BenchmarkForward(b *testing.B) {
	target := leanUpstream(b)
	for _, e := range benchEngines() {
		b.Run(e.name, func(b *testing.B) {
			fwd := e.new()
			out := benchOutbound(b, target)
			r := httptest.NewRequest("GET", "http://api.example.com/v1/orders?id=7", nil)
			r.Header.Set("User-Agent", "wrk/4.2")
			r.Header.Set("Accept", "application/json")
			r.Header.Set("Authorization", "Bearer gk_live_7Hq2xK9pLm3Q_0123456789abcdefghijklmnopqrstuv")
			w := &discardWriter{h: make(http.Header, 8)}
			b.ReportAllocs()
			b.ResetTimer()
			reads, rerr := testenv.ReadSyscalls()
			for b.Loop() {
				clear(w.h)
				res, err := fwd.Forward(w, r, out)
				if err != nil || res.Status != 200 || w.n == 0 {
					b.Fatalf("forward: %v %+v", err, res)
				}
			}
			// read(2) calls per request, the in-process upstream's included
			// (it reads the request and then finds nothing more: 2).
			if after, err := testenv.ReadSyscalls(); rerr == nil && err == nil {
				b.ReportMetric(float64(after-reads)/float64(b.N), "reads/op")
			}
		})
	}
}

// BenchmarkGateway measures the whole path: a client, the net/http
// gateway listener calling Forward, the upstream; parallel, as under wrk.
func BenchmarkGateway(b *testing.B) {
	target := leanUpstream(b)
	for _, e := range benchEngines() {
		b.Run(e.name, func(b *testing.B) {
			fwd := e.new()
			out := benchOutbound(b, target)
			gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := fwd.Forward(w, r, out); err != nil {
					http.Error(w, err.Error(), 502)
				}
			}))
			defer gw.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest("GET", gw.URL+"/v1/orders?id=7", nil)
				req.Header.Set("Authorization", "Bearer gk_live_7Hq2xK9pLm3Q_0123456789abcdefghijklmnopqrstuv")
				for pb.Next() {
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		})
	}
}
