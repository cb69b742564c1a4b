// Package proxytest is the forwarding conformance suite: every
// proxy.Forwarder engine must pass Run unchanged. It drives real loopback
// servers only — upstream httptest servers (or raw TCP ones where the exact
// bytes matter), a real net/http gateway server whose handler calls
// Forward, and real clients — and is written against the Forwarder
// interface alone, so a new engine is checked by adding one line.
package proxytest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/proxy"
	"gatehouse/internal/reason"
)

// guard bounds every wait on the system under test. It is a failure
// deadline, never an assertion: nothing in the suite waits for time to
// pass for its result.
const guard = 10 * time.Second

// Record is what the gateway handler saw from one Forward call.
type Record struct {
	Res proxy.Result
	Err error
}

// Reason returns the *reason.Error Forward returned, or nil.
func (r Record) Reason() *reason.Error {
	var re *reason.Error
	if errors.As(r.Err, &re) {
		return re
	}
	return nil
}

// Route is how the harness gateway turns a request into an Outbound —
// the pipeline's job, reduced to what forwarding tests need.
type Route struct {
	Upstream     *proxy.Upstream
	Prefix       string // matched path prefix
	Strip        bool
	UpstreamPath string
	Identity     proxy.Identity
	// Drop lists the credential headers removed; nil means the default
	// (Authorization, X-Api-Key); use []string{} to forward them.
	Drop         []string
	ClientIP     string
	ForwardedFor string
	// Traceparent and Tracestate go to Outbound as they are (tracing
	// tests that need a fixed value).
	Traceparent, Tracestate string
	// Prepare, when set, runs before Forward with the request and the
	// Outbound built from this route, as the pipeline's per-request stages
	// would (e.g. starting a tracing span and setting Outbound.Traceparent
	// from it); the func it returns, if any, gets the Record after Forward
	// (e.g. to end the span with the call's status).
	Prepare func(r *http.Request, out *proxy.Outbound) func(Record)
	// ResponseHeaders are set on the response before Forward, as the
	// pipeline sets its own (X-Request-Id, the CORS fields); OwnCORS goes
	// to Outbound as it is.
	ResponseHeaders http.Header
	OwnCORS         bool
	// MaxBody, when positive, limits the request body as a route's
	// max_body does in the pipeline: http.MaxBytesReader around r.Body.
	MaxBody int64
}

// Gateway is a real net/http server whose handler calls Forward, as the
// pipeline does: it renders a returned *reason.Error and aborts the client
// connection when the response broke after it started.
type Gateway struct {
	T      *testing.T
	Fwd    proxy.Forwarder
	Clock  *clock.Fake
	Ups    *proxy.Upstreams
	Server *httptest.Server
	Client *http.Client

	mu    sync.Mutex
	route Route
	recs  chan Record
}

// Listener is implemented by a Forwarder (a test wrapper) whose gateway is
// served by another HTTP/1.1 server than net/http's: Serve starts it on a
// loopback port with handler h (and stops it at the test's end).
type Listener interface {
	Serve(t *testing.T, h http.Handler) *httptest.Server
}

// FastFront reports whether the gateway around fwd is served by the
// proxy listener's fast front (internal/front), whose documented answers
// differ from net/http's in a few places (request smuggling probes are
// refused, not normalised).
func FastFront(fwd proxy.Forwarder) bool {
	_, ok := fwd.(Listener)
	return ok
}

// NewGateway starts a gateway around the engine newEngine makes.
func NewGateway(t *testing.T, newEngine func(t *testing.T) proxy.Forwarder) *Gateway {
	t.Helper()
	g := &Gateway{
		T:     t,
		Fwd:   newEngine(t),
		Clock: clock.NewFake(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)),
		recs:  make(chan Record, 1024),
	}
	g.Ups = proxy.NewUpstreams(proxy.UpstreamOptions{Clock: g.Clock})
	if l, ok := g.Fwd.(Listener); ok {
		g.Server = l.Serve(t, http.HandlerFunc(g.serve))
	} else {
		g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
		t.Cleanup(g.Server.Close)
	}
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16, ExpectContinueTimeout: guard}
	g.Client = &http.Client{Transport: tr, Timeout: 2 * guard}
	t.Cleanup(tr.CloseIdleConnections)
	return g
}

// SetRoute sets the route every following request takes.
func (g *Gateway) SetRoute(r Route) {
	g.mu.Lock()
	g.route = r
	g.mu.Unlock()
}

// Service compiles a service over the given target URLs (weight 1 each
// unless given as "url|weight") and routes every request to it with a
// default identity.
func (g *Gateway) Service(mod func(*domain.Service), targets ...string) *proxy.Upstream {
	g.T.Helper()
	svc := domain.Service{ID: "svc-" + g.T.Name(), Name: "orders"}
	for _, u := range targets {
		w := 1
		if i := strings.LastIndexByte(u, '|'); i > 0 {
			fmt.Sscanf(u[i+1:], "%d", &w)
			u = u[:i]
		}
		svc.Targets = append(svc.Targets, domain.Target{URL: u, Weight: w})
	}
	if mod != nil {
		mod(&svc)
	}
	up := g.Ups.For(svc)
	if err := up.Err(); err != nil {
		g.T.Fatalf("service targets: %v", err)
	}
	g.SetRoute(Route{Upstream: up, Identity: DefaultIdentity(), ClientIP: "203.0.113.7"})
	return up
}

// DefaultIdentity is what the harness gateway vouches for unless a test
// says otherwise. Its Token stands for a signed identity token: the
// engines forward it as given and never look inside.
func DefaultIdentity() proxy.Identity {
	return proxy.Identity{
		Tenant: "t_acme", Consumer: "c_shop", Credential: "7Hq2xK9pLm3Q",
		Scopes: "orders:read orders:write", RequestID: "01JD3V0000000000000000TEST",
		Token: "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjX3Nob3AifQ.Z2F0ZXdheS1zaWduZWQ",
	}
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	rt := g.route
	g.mu.Unlock()
	drop := rt.Drop
	if drop == nil {
		drop = []string{"Authorization", "X-Api-Key"}
	}
	out := &proxy.Outbound{
		Upstream:     rt.Upstream,
		Path:         proxy.UpstreamPath(r.URL.EscapedPath(), rt.Prefix, rt.Strip, rt.UpstreamPath),
		RawQuery:     withoutParam(r.URL.RawQuery, "api_key"),
		Identity:     rt.Identity,
		DropHeaders:  drop,
		ClientIP:     rt.ClientIP,
		ForwardedFor: rt.ForwardedFor,
		Traceparent:  rt.Traceparent,
		Tracestate:   rt.Tracestate,
		OwnCORS:      rt.OwnCORS,
	}
	for k, v := range rt.ResponseHeaders {
		w.Header()[k] = v
	}
	if rt.MaxBody > 0 && r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, rt.MaxBody)
	}
	var done func(Record)
	if rt.Prepare != nil {
		done = rt.Prepare(r, out)
	}
	res, err := g.Fwd.Forward(w, r, out)
	if done != nil {
		done(Record{Res: res, Err: err})
	}
	g.recs <- Record{Res: res, Err: err}
	if errors.Is(err, proxy.ErrClientGone) {
		panic(http.ErrAbortHandler) // nobody to answer, as in the pipeline
	}
	if err != nil {
		var re *reason.Error
		if !errors.As(err, &re) {
			re = &reason.Error{Code: reason.GatewayInternal, Err: err}
		}
		re.Write(w, reason.Render{RequestID: out.Identity.RequestID, Instance: r.URL.Path})
		return
	}
	if res.Err != nil {
		panic(http.ErrAbortHandler)
	}
}

// withoutParam removes one parameter from a raw query without
// re-encoding the rest (the pipeline's api_key redaction).
func withoutParam(raw, name string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if k != name {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "&")
}

// Next returns the record of the next Forward call.
func (g *Gateway) Next() Record {
	g.T.Helper()
	select {
	case rec := <-g.recs:
		return rec
	case <-time.After(guard):
		g.T.Fatal("the gateway handler never finished Forward")
		return Record{}
	}
}

// URL is the gateway's base URL.
func (g *Gateway) URL() string { return g.Server.URL }

// Do sends req through the gateway and reads the whole body.
func (g *Gateway) Do(req *http.Request) (*http.Response, []byte) {
	g.T.Helper()
	resp, err := g.Client.Do(req)
	if err != nil {
		g.T.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.T.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, b
}

// Get is Do for a GET of path with optional header pairs.
func (g *Gateway) Get(path string, kv ...string) (*http.Response, []byte) {
	g.T.Helper()
	return g.Do(g.NewRequest("GET", path, nil, kv...))
}

// NewRequest builds a request to the gateway with header pairs.
func (g *Gateway) NewRequest(method, path string, body io.Reader, kv ...string) *http.Request {
	g.T.Helper()
	req, err := http.NewRequest(method, g.URL()+path, body)
	if err != nil {
		g.T.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	return req
}

// Seen is one request as an upstream received it.
type Seen struct {
	Method, RequestURI, Host, Proto string
	Header                          http.Header
}

// Upstream is a real httptest upstream that counts and captures requests.
type Upstream struct {
	*httptest.Server
	Hits atomic.Int64
	seen chan Seen
	t    *testing.T
}

// SlowUploadHandler stores an upload slowly: it reads the whole body a
// little at a time (4 KiB, then a millisecond), then answers "stored"; a
// body that fails to arrive (the client left, the gateway cut it) gets no
// answer. The upstream of tests about a client leaving mid-upload.
func SlowUploadHandler(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 4096)
	for {
		_, err := r.Body.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
	_, _ = io.WriteString(w, "stored")
}

// NewUpstream starts an upstream running h after capturing the request.
func NewUpstream(t *testing.T, h http.HandlerFunc) *Upstream {
	t.Helper()
	u := &Upstream{seen: make(chan Seen, 1024), t: t}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.Hits.Add(1)
		select {
		case u.seen <- Seen{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Proto: r.Proto, Header: r.Header.Clone()}:
		default:
		}
		h(w, r)
	}))
	t.Cleanup(u.Server.Close)
	return u
}

// Seen returns the next request the upstream received.
func (u *Upstream) Seen() Seen {
	u.t.Helper()
	select {
	case s := <-u.seen:
		return s
	case <-time.After(guard):
		u.t.Fatal("the upstream never received the request")
		return Seen{}
	}
}

// OK answers 200 "ok".
func OK(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

// ClosedURL returns the URL of a port nothing listens on (connection
// refused).
func ClosedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// RawUpstream is a TCP upstream that answers every request on a
// connection with fixed bytes, for tests about the exact wire format.
type RawUpstream struct {
	URL  string
	Hits atomic.Int64
	ln   net.Listener
}

// NewRawUpstream serves response (a complete HTTP/1.1 response) to each
// request it reads; the request is read up to its blank line (no body).
func NewRawUpstream(t *testing.T, response string) *RawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &RawUpstream{URL: "http://" + ln.Addr().String(), ln: ln}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					u.Hits.Add(1)
					if _, err := io.WriteString(c, response); err != nil {
						return
					}
				}
			})
		}
	})
	return u
}

// dialWrite connects to addr, writes raw and returns the connection (the
// caller closes it) with a reader over it; every wait is bounded by guard.
func dialWrite(t *testing.T, addr, raw string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, guard)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(guard))
	if _, err := io.WriteString(c, raw); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// RawExchange writes raw bytes to addr and reads one response.
func RawExchange(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, br := dialWrite(t, addr, raw)
	defer c.Close()
	return readOne(t, br)
}

// RawExchangeThenEnd is RawExchange for a request after which the gateway
// must close the connection: it also returns every byte the gateway sent
// after the first response, up to the connection's end (nothing, when the
// gateway closed it at once; a second response, when it read on).
func RawExchangeThenEnd(t *testing.T, addr, raw string) (resp *http.Response, body, after string) {
	t.Helper()
	c, br := dialWrite(t, addr, raw)
	defer c.Close()
	resp, body = readOne(t, br)
	rest, err := io.ReadAll(br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("the gateway kept the connection open after the response (%d more bytes)", len(rest))
	}
	return resp, body, string(rest)
}

// readOne reads one response and its whole body from br.
func readOne(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// RawExchangeN writes raw bytes to addr and returns the statuses of the n
// responses read back.
func RawExchangeN(t *testing.T, addr, raw string, n int) []int {
	t.Helper()
	c, br := dialWrite(t, addr, raw)
	defer c.Close()
	var out []int
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading response %d: %v", len(out)+1, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp.StatusCode)
	}
	return out
}

// Pattern is a deterministic pseudo-random byte stream of a given size,
// generated from a repeated 1 MiB block so gigabytes cost no memory.
type Pattern struct {
	block []byte
	left  int64
	off   int
}

// NewPattern returns a stream of n bytes.
func NewPattern(n int64) *Pattern {
	block := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{'g', 'a', 't', 'e'})
	_, _ = r.Read(block)
	return &Pattern{block: block, left: n}
}

func (p *Pattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := copy(b, p.block[p.off:])
	if int64(n) > p.left {
		n = int(p.left)
	}
	p.off = (p.off + n) % len(p.block)
	p.left -= int64(n)
	return n, nil
}

// SHA256 of a Pattern of n bytes.
func PatternSHA256(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, NewPattern(n))
	return hex.EncodeToString(h.Sum(nil))
}

func sha(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// ctx returns a context bounded by the guard.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return c
}
