package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/lazyconn"
)

// Defaults for a service's timeouts and passive health; a zero field in
// domain.Service (or in UpstreamOptions.Defaults) takes these.
const (
	DefaultConnectTimeout  = 5 * time.Second
	DefaultResponseTimeout = 60 * time.Second
	// DefaultReadTimeout bounds the silence between two reads of a response
	// body, not the whole body: an SSE stream may last hours as long as it
	// keeps talking. Five minutes leaves room for slow LLM streams.
	DefaultReadTimeout = 5 * time.Minute
	// DefaultWriteTimeout bounds one write of the request to the upstream
	// (the upstream not reading), not the whole upload.
	DefaultWriteTimeout = 60 * time.Second
	DefaultIdleTimeout  = 90 * time.Second
	DefaultEjectAfter   = 3
	DefaultEjectFor     = 10 * time.Second
)

// UpstreamOptions configure an Upstreams registry.
type UpstreamOptions struct {
	// Clock drives passive health (ejection windows); nil is the real clock.
	Clock clock.Clock
	// Logger receives ejection and recovery events; nil discards.
	Logger *slog.Logger
	// Defaults are the gateway-wide timeouts; zero fields take the package
	// defaults above. A service's own non-zero timeouts win.
	Defaults domain.Timeouts
	// TLSConfig is used for https targets (e.g. a private CA); nil is the
	// system roots.
	TLSConfig *tls.Config
	// MaxConnsPerTarget bounds the fast engine's pool per target
	// (default 1024).
	MaxConnsPerTarget int
}

// Upstreams compiles domain.Services into *Upstream values and keeps them
// across snapshot rebuilds: a service whose targets, timeouts and engine did
// not change gets the very same *Upstream back, with its connection pools
// and health state; a changed service gets a new one that still inherits the
// health of the targets it kept. The snapshot builder calls For for every
// service on every rebuild; the request path never does.
type Upstreams struct {
	opts UpstreamOptions
	log  *slog.Logger

	mu   sync.Mutex
	byID map[string]*Upstream
}

// NewUpstreams returns an empty registry.
func NewUpstreams(opts UpstreamOptions) *Upstreams {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.MaxConnsPerTarget <= 0 {
		opts.MaxConnsPerTarget = 1024
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Upstreams{opts: opts, log: log, byID: make(map[string]*Upstream)}
}

// For returns the compiled upstream of svc, reusing the existing one when
// nothing that matters for forwarding changed. It never fails: a target
// whose URL cannot be used is left out and reported by Upstream.Err, and an
// upstream without usable targets answers upstream.unavailable naming the
// problem, so one bad service never breaks a snapshot build.
func (u *Upstreams) For(svc domain.Service) *Upstream {
	key := svc.ID
	if key == "" {
		key = svc.Name
	}
	fp := u.fingerprint(svc)
	u.mu.Lock()
	defer u.mu.Unlock()
	old := u.byID[key]
	if old != nil && old.fp == fp {
		return old
	}
	nu := u.compile(svc, fp, old)
	u.byID[key] = nu
	if old != nil {
		// In-flight requests on old keep their connections; only idle ones
		// go, since old will not be picked again once the new snapshot is in.
		old.closeIdle()
	}
	return nu
}

// Retain forgets the upstreams of services not listed (deleted services),
// closing their idle connections. The snapshot builder calls it after a
// rebuild with the IDs it compiled.
func (u *Upstreams) Retain(serviceIDs ...string) {
	keep := make(map[string]bool, len(serviceIDs))
	for _, id := range serviceIDs {
		keep[id] = true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for id, up := range u.byID {
		if !keep[id] {
			up.closeIdle()
			delete(u.byID, id)
		}
	}
}

func (u *Upstreams) fingerprint(svc domain.Service) string {
	var b strings.Builder
	for _, t := range svc.Targets {
		fmt.Fprintf(&b, "%s|%d;", t.URL, t.Weight)
	}
	tm := svc.Timeouts
	fmt.Fprintf(&b, "t=%d,%d,%d,%d,%d;e=%s;h=%s;ej=%d,%d",
		tm.Connect, tm.Response, tm.Read, tm.Write, tm.Idle, svc.Engine, svc.HostHeader, svc.EjectAfter, svc.EjectFor)
	return b.String()
}

func pick(v domain.Duration, def domain.Duration, fallback time.Duration) time.Duration {
	if v > 0 {
		return v.D()
	}
	if def > 0 {
		return def.D()
	}
	return fallback
}

func (u *Upstreams) compile(svc domain.Service, fp string, old *Upstream) *Upstream {
	d := u.opts.Defaults
	up := &Upstream{
		ServiceID:    svc.ID,
		Name:         svc.Name,
		fp:           fp,
		engine:       svc.Engine,
		preserveHost: strings.EqualFold(svc.HostHeader, "preserve"),
		clock:        u.opts.Clock,
		log:          u.log,
		connect:      pick(svc.Timeouts.Connect, d.Connect, DefaultConnectTimeout),
		response:     pick(svc.Timeouts.Response, d.Response, DefaultResponseTimeout),
		read:         pick(svc.Timeouts.Read, d.Read, DefaultReadTimeout),
		write:        pick(svc.Timeouts.Write, d.Write, DefaultWriteTimeout),
		idle:         pick(svc.Timeouts.Idle, d.Idle, DefaultIdleTimeout),
		ejectAfter:   int32(svc.EjectAfter),
		ejectFor:     svc.EjectFor.D(),
	}
	if up.ejectAfter <= 0 {
		up.ejectAfter = DefaultEjectAfter
	}
	if up.ejectFor <= 0 {
		up.ejectFor = DefaultEjectFor
	}
	inherited := map[string]*health{}
	if old != nil {
		for _, t := range old.targets {
			inherited[t.URL] = t.h
		}
	}
	var errs []error
	dialer := &net.Dialer{Timeout: up.connect, KeepAlive: 30 * time.Second}
	for _, dt := range svc.Targets {
		t, err := parseTarget(dt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if h := inherited[t.URL]; h != nil {
			t.h = h
		} else {
			t.h = &health{}
		}
		t.hc = &fasthttp.HostClient{
			Addr: t.addr,
			Dial: func(addr string) (net.Conn, error) {
				c, err := dialer.Dial("tcp", addr)
				if err != nil {
					return nil, err
				}
				return lazyconn.Wrap(c), nil
			},
			IsTLS:                         t.tls,
			TLSConfig:                     u.opts.TLSConfig,
			MaxConns:                      u.opts.MaxConnsPerTarget,
			MaxConnWaitTimeout:            up.connect,
			MaxIdleConnDuration:           up.idle,
			ReadBufferSize:                16 << 10, // bounds the upstream's response header size
			WriteBufferSize:               16 << 10,
			ConnPoolStrategy:              fasthttp.LIFO, // hot connections first: fewer stale ones
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			NoDefaultUserAgentHeader:      true,
			SecureErrorLogMessage:         true,
			// The fast engine drives connections itself (it never calls Do),
			// so these only guard against a future caller of Do: fasthttp
			// must never replay a request on its own.
			MaxIdemponentCallAttempts: 1,
			RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		}
		if t.h2 {
			up.h2 = true
		}
		if t.h2c {
			up.h2c = true
		}
		up.targets = append(up.targets, t)
	}
	if len(svc.Targets) == 0 {
		errs = append(errs, errors.New("service has no targets"))
	}
	up.err = errors.Join(errs...)
	up.seq = smoothSequence(up.targets)
	up.transport = u.newTransport(up, dialer)
	return up
}

func (u *Upstreams) newTransport(up *Upstream, dialer *net.Dialer) *http.Transport {
	tr := &http.Transport{
		// Never the environment's HTTP_PROXY: upstreams are reached directly.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   up.connect,
		ResponseHeaderTimeout: up.response,
		IdleConnTimeout:       up.idle,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   256,
		// A proxy must pass bodies through untouched: no transparent gzip.
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}
	if u.opts.TLSConfig != nil {
		tr.TLSClientConfig = u.opts.TLSConfig.Clone()
	}
	if up.h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		p.SetHTTP2(true)
		tr.Protocols = &p
	}
	return tr
}

// Upstream is one compiled service: its targets with their balancer and
// passive health, its timeouts and the connection pools of both engines.
// It is immutable apart from the health counters and pools, and safe for
// concurrent use.
type Upstream struct {
	ServiceID, Name string

	fp           string
	err          error
	engine       string
	preserveHost bool
	h2, h2c      bool
	clock        clock.Clock
	log          *slog.Logger

	connect, response, read, write, idle time.Duration
	ejectAfter                           int32
	ejectFor                             time.Duration

	targets []*Target
	// seq is the smooth weighted round-robin order (indexes into targets),
	// computed once; a request takes the next slot with one atomic add, so
	// the balancer has no lock at all.
	seq   []uint16
	next  atomic.Uint64
	spill atomic.Uint64

	transport *http.Transport // httputil engine
}

// Err reports targets that could not be used (bad URL, no targets).
func (up *Upstream) Err() error { return up.err }

// Engine is the service's forced engine ("" for the default choice).
func (up *Upstream) Engine() string { return up.engine }

func (up *Upstream) closeIdle() {
	up.transport.CloseIdleConnections()
	for _, t := range up.targets {
		t.hc.CloseIdleConnections()
	}
}

// Target is one upstream base URL.
type Target struct {
	// URL as configured.
	URL    string
	Weight int

	scheme     string // http or https, as sent
	addr       string // host:port to dial
	hostHeader string // Host to send unless the service preserves the client's
	basePath   string // escaped path prefix of the target URL, no trailing slash
	tls        bool
	h2, h2c    bool
	redacted   string // URL without userinfo, for operator texts

	h  *health
	hc *fasthttp.HostClient
}

// health is a target's passive health; it outlives Upstream rebuilds as
// long as the target's URL stays in the service.
type health struct {
	failures atomic.Int32
	// ejectedUntil and ejectedAt are Unix nanoseconds; 0 = not ejected.
	ejectedUntil atomic.Int64
	ejectedAt    atomic.Int64
}

// TargetStatus is a target's health for metrics and the admin API.
type TargetStatus struct {
	URL          string
	Weight       int
	Failures     int
	Ejected      bool
	EjectedUntil time.Time
}

// Status reports the health of each target at the upstream's clock.
func (up *Upstream) Status() []TargetStatus {
	now := up.clock.Now().UnixNano()
	out := make([]TargetStatus, 0, len(up.targets))
	for _, t := range up.targets {
		st := TargetStatus{URL: t.redacted, Weight: t.Weight, Failures: int(t.h.failures.Load())}
		if until := t.h.ejectedUntil.Load(); until != 0 && now < until {
			st.Ejected = true
			st.EjectedUntil = time.Unix(0, until)
		}
		out = append(out, st)
	}
	return out
}

func parseTarget(dt domain.Target) (*Target, error) {
	u, err := url.Parse(dt.URL)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", dt.URL, err)
	}
	t := &Target{URL: dt.URL, Weight: dt.Weight}
	if t.Weight <= 0 {
		t.Weight = 1
	}
	port := "80"
	switch strings.ToLower(u.Scheme) {
	case "http":
		t.scheme = "http"
	case "https":
		t.scheme, t.tls, port = "https", true, "443"
	case "h2c":
		// Cleartext HTTP/2 (prior knowledge): httputil engine only.
		t.scheme, t.h2, t.h2c = "http", true, true
	case "h2":
		// HTTP/2 over TLS required: httputil engine only.
		t.scheme, t.tls, t.h2, port = "https", true, true, "443"
	default:
		return nil, fmt.Errorf("target %q: scheme must be http, https, h2c or h2", u.Redacted())
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("target %q: no host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("target %q: a target URL takes no query or fragment", u.Redacted())
	}
	t.hostHeader = u.Host
	if u.Port() != "" {
		port = u.Port()
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	t.basePath = strings.TrimSuffix(u.EscapedPath(), "/")
	u.User = nil
	t.redacted = u.String()
	return t, nil
}

// smoothSequence returns one cycle of nginx's smooth weighted round-robin
// over targets (weights reduced by their gcd): for weights 5,1,1 it yields
// a a b a c a a rather than a a a a a b c, so a heavy target never takes a
// burst. Precomputing the cycle lets pick run lock-free. Cycles longer
// than 4096 slots are scaled down (weights are relative).
func smoothSequence(targets []*Target) []uint16 {
	n := len(targets)
	if n == 0 {
		return nil
	}
	w := make([]int, n)
	g := 0
	for i, t := range targets {
		w[i] = t.Weight
		g = gcd(g, t.Weight)
	}
	total := 0
	for i := range w {
		w[i] /= g
		total += w[i]
	}
	const maxCycle = 4096
	if total > maxCycle {
		scaled := 0
		for i := range w {
			w[i] = max(1, w[i]*maxCycle/total)
			scaled += w[i]
		}
		total = scaled
	}
	cur := make([]int, n)
	seq := make([]uint16, 0, total)
	for range total {
		best := 0
		for i := range cur {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		seq = append(seq, uint16(best))
	}
	return seq
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// pick returns the next target in round-robin order that is not ejected,
// skipping skip (the target a retry moves away from). A slot whose target
// is out is given to the targets that are in, in proportion to their
// weights (a second counter walks their slots), so an ejected target's
// share spreads evenly instead of doubling its neighbour's load.
//
// When every candidate is ejected it returns the least recently ejected
// one — the one closest to its return — rather than failing without
// trying: passive health only learns a target is back by sending it
// traffic, and a gateway that answers 502 without trying turns a blip into
// an outage. nil only when the upstream has no usable target.
func (up *Upstream) pick(skip *Target) *Target {
	n := uint64(len(up.seq))
	if n == 0 {
		return nil
	}
	if len(up.targets) == 1 {
		return up.targets[0]
	}
	var now int64
	t := up.targets[up.seq[(up.next.Add(1)-1)%n]]
	if t != skip && up.available(t, &now) {
		return t
	}
	if len(up.targets) <= 64 {
		var in [64]bool
		for i, tg := range up.targets {
			in[i] = tg != skip && up.available(tg, &now)
		}
		m := uint64(0)
		for _, s := range up.seq {
			if in[s] {
				m++
			}
		}
		if m > 0 {
			k := up.spill.Add(1) % m
			for _, s := range up.seq {
				if in[s] {
					if k == 0 {
						return up.targets[s]
					}
					k--
				}
			}
		}
	} else {
		start := up.spill.Add(1)
		for i := range n {
			tg := up.targets[up.seq[(start+i)%n]]
			if tg != skip && up.available(tg, &now) {
				return tg
			}
		}
	}
	var best *Target
	var bestAt int64
	for _, tg := range up.targets {
		if tg == skip {
			continue
		}
		at := tg.h.ejectedAt.Load()
		if best == nil || at < bestAt {
			best, bestAt = tg, at
		}
	}
	return best
}

// available reports whether t is not ejected; the clock is read at most
// once per pick, and only when some target is ejected.
func (up *Upstream) available(t *Target, now *int64) bool {
	until := t.h.ejectedUntil.Load()
	if until == 0 {
		return true
	}
	if *now == 0 {
		*now = up.clock.Now().UnixNano()
	}
	return *now >= until
}

// success records a response from t: it closes a failure streak and ends
// an ejection early.
func (up *Upstream) success(t *Target) {
	if t.h.failures.Load() != 0 {
		t.h.failures.Store(0)
	}
	if t.h.ejectedUntil.Load() != 0 {
		t.h.ejectedUntil.Store(0)
		up.log.Info("upstream target recovered", "service", up.Name, "target", t.redacted)
	}
}

// failure records a connection-level failure of t (refused, reset, timed
// out — never an HTTP status) and ejects t for ejectFor once ejectAfter
// failures follow each other. A target back from ejection is on probation:
// its streak was not reset, so one more failure ejects it again at once,
// while one success clears it.
func (up *Upstream) failure(t *Target, cause error) {
	f := t.h.failures.Add(1)
	if f < up.ejectAfter {
		return
	}
	now := up.clock.Now().UnixNano()
	until := t.h.ejectedUntil.Load()
	if until != 0 && now < until {
		return // already ejected
	}
	t.h.ejectedAt.Store(now)
	t.h.ejectedUntil.Store(now + int64(up.ejectFor))
	up.log.Warn("upstream target ejected", "service", up.Name, "target", t.redacted,
		"consecutive_failures", f, "for", up.ejectFor.String(), "cause", cause)
}

// requestURI joins the target's base path, the outbound path and query into
// dst.
func (t *Target) requestURI(dst []byte, path, rawQuery string) []byte {
	dst = append(dst, t.basePath...)
	switch {
	case path == "" && t.basePath == "":
		dst = append(dst, '/')
	case path == "":
	case path[0] != '/':
		dst = append(dst, '/')
		dst = append(dst, path...)
	default:
		dst = append(dst, path...)
	}
	if rawQuery != "" {
		dst = append(dst, '?')
		dst = append(dst, rawQuery...)
	}
	return dst
}

// String is the target's URL without credentials.
func (t *Target) String() string { return t.redacted }
