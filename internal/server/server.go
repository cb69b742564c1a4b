// Package server assembles Gatehouse: store, snapshot, pipeline, call log,
// admin API and the two listeners; it owns the lifecycle — ready file,
// graceful shutdown — and nothing else.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse/internal/admin"
	"gatehouse/internal/ai"
	"gatehouse/internal/alerts"
	"gatehouse/internal/analytics"
	"gatehouse/internal/calllog"
	"gatehouse/internal/changefeed"
	"gatehouse/internal/clock"
	"gatehouse/internal/cluster"
	"gatehouse/internal/config"
	"gatehouse/internal/console"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/apikey"
	"gatehouse/internal/credential/basic"
	"gatehouse/internal/credential/httpsig"
	"gatehouse/internal/credential/introspect"
	"gatehouse/internal/credential/jwt"
	"gatehouse/internal/credential/mtls"
	"gatehouse/internal/domain"
	"gatehouse/internal/front"
	"gatehouse/internal/identity"
	"gatehouse/internal/metrics"
	"gatehouse/internal/pipeline"
	"gatehouse/internal/proxy"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/secrets"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres"
	"gatehouse/internal/store/sqlite"
	"gatehouse/internal/tracing"
	"gatehouse/internal/webhook"
)

// Options are the parts of the server that are not configuration.
type Options struct {
	Logger *slog.Logger
	Clock  clock.Clock
	// Stdout receives the once-only bootstrap admin token.
	Stdout io.Writer
	// AdminToken is GATEHOUSE_ADMIN_TOKEN (may be empty).
	AdminToken string
	// ReadyFile, when set, receives {"proxy":…,"admin":…} once serving.
	ReadyFile string
	// Store, when set, is used instead of opening cfg.Database (tests wrap
	// the real store to count its calls). The server closes it.
	Store store.Store
	// Getenv reads the environment (GATEHOUSE_MASTER_KEY); nil: os.Getenv.
	Getenv func(string) string
}

// Server is one Gatehouse node.
type Server struct {
	cfg   config.Config
	opts  Options
	log   *slog.Logger
	store store.Store
	snaps snapshot.Holder
	ups   *proxy.Upstreams
	creds *credentialIndex
	jwks  *jwt.Keyring
	// identity signs X-Gatehouse-Identity and serves its JWKS; its keys
	// follow the store with every snapshot (publish).
	identity *identity.Signer
	hooks    *webhook.Sender
	rollups  *analytics.Aggregator
	alerts   *alerts.Engine
	// alertsStale: another node changed the store; the alert rules are
	// reloaded off the change feed's path (applyChange, followAlerts).
	alertsStale chan struct{}
	// reloadAlerts is alerts.Reload (a test holds it to see that the
	// change feed does not wait for it).
	reloadAlerts func(context.Context) error
	met          *metrics.Metrics
	redis        *redis.Client
	rlFB         *ratelimit.Fallback
	// sharedCounts are the AI budget and quota counters' fallbacks (cluster
	// mode), for health: nil without Redis.
	sharedCounts []*ai.FallbackCounter
	// redisW pings Redis for health and metrics (nil without Redis).
	redisW *redisWatch
	// follower applies other nodes' changes (cluster mode); set once
	// follow starts it, after the listeners serve, so read atomically
	// (requests, status, metrics).
	follower atomic.Pointer[changefeed.Follower]
	trc      *tracing.Tracer
	tls      *tls.Config
	calls    *calllog.Writer
	pipe     *pipeline.Pipeline
	admin    *admin.API
	console  *console.Console
	portal   *console.Portal

	// loads serialises Reload and remembers the last full load (reload.go).
	loads loadState

	proxyLn, adminLn   net.Listener
	proxySrv, adminSrv *http.Server
	// fastSrv serves a cleartext proxy listener when proxy_server is fast.
	fastSrv *front.Server
	// GeneratedToken is the bootstrap admin token generated on first start
	// (empty when GATEHOUSE_ADMIN_TOKEN was set or admins already existed).
	GeneratedToken string
}

// New opens the store, bootstraps the admin token, loads the first
// snapshot and wires every component. It does not listen yet.
func New(ctx context.Context, cfg config.Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	s := &Server{cfg: cfg, opts: opts, log: opts.Logger}
	st := opts.Store
	if st == nil {
		var err error
		if st, err = openStore(ctx, cfg.Database); err != nil {
			return nil, err
		}
	}
	s.store = st
	tok, err := admin.Bootstrap(ctx, st, opts.AdminToken)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("bootstrap admin token: %w", err)
	}
	s.GeneratedToken = tok
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	box, err := secrets.Load(opts.Getenv, sqlitePath(cfg.Database))
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	s.creds = &credentialIndex{box: box, log: opts.Logger, issuers: map[string]issuerEntry{}}
	// The first start creates the identity-token signing keys; every
	// later start (and every other node of a cluster) finds them.
	if created, err := identity.EnsureKey(ctx, st, box, opts.Clock.Now()); err != nil {
		_ = st.Close()
		return nil, err
	} else if len(created) > 0 {
		opts.Logger.Info("identity: created the identity-token signing keys", "kid", created[0].KID, "next_kid", created[len(created)-1].KID)
	}
	s.identity = identity.New(identity.Options{Box: box, Issuer: identityIssuer(cfg), CacheSize: cfg.Identity.CacheSize,
		JWKSMaxAge: cfg.Identity.JWKSMaxAge.D(), Clock: opts.Clock, Logger: opts.Logger})
	s.jwks = jwt.NewKeyring(jwt.KeyringOptions{Clock: opts.Clock, Logger: opts.Logger})
	s.jwks.Start(ctx)
	s.ups = proxy.NewUpstreams(proxy.UpstreamOptions{
		Clock:  opts.Clock,
		Logger: opts.Logger,
		Defaults: domain.Timeouts{
			Connect:  cfg.Upstream.ConnectTimeout,
			Response: cfg.Upstream.ResponseTimeout,
			Idle:     cfg.Upstream.IdleTimeout,
		},
	})
	if err := s.Reload(ctx); err != nil {
		_ = st.Close()
		return nil, err
	}
	var events func(context.Context, admin.Event)
	if len(cfg.Webhooks.URLs) > 0 {
		if s.hooks, err = webhook.New(webhook.Options{URLs: cfg.Webhooks.URLs, Secret: []byte(cfg.Webhooks.Secret),
			Clock: opts.Clock, Logger: opts.Logger}); err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("webhooks: %w", err)
		}
		events = s.hooks.Publish
	}
	// The call log's sink: the store, behind the per-minute rollups and
	// the alert rules, which see each batch once it is committed.
	var sink calllog.Sink = st
	if an, ok := st.(store.Analytics); ok {
		// analytics.enabled: false leaves the records and the alert rules
		// alone and computes no rollup (the off switch of the overhead
		// measurement; /admin/v1/stats then says rollups are off).
		if cfg.Analytics.Enabled {
			s.rollups = analytics.NewAggregator(an, analytics.Options{Retention: cfg.Analytics.Retention.D(),
				Clock: opts.Clock, Logger: opts.Logger})
		} else {
			opts.Logger.Info("analytics are off (analytics.enabled: false): call records are written, rollups are not computed")
		}
		if _, err := alerts.SyncDeclared(ctx, st, cfg.Alerts.Rules, opts.Clock.Now()); err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("alerts.rules: %w", err)
		}
		var publish func(context.Context, webhook.Event)
		if s.hooks != nil {
			publish = s.hooks.Publish
		}
		if s.alerts, err = alerts.New(ctx, alerts.Options{Store: st, Publish: publish, Keys: alerts.SnapshotKeys(&s.snaps),
			RouteService: alerts.SnapshotRouteService(&s.snaps),
			Clock:        opts.Clock, Logger: opts.Logger}); err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("alerts: %w", err)
		}
		s.alertsStale, s.reloadAlerts = make(chan struct{}, 1), s.alerts.Reload
		if s.rollups != nil {
			sink = analytics.Sink(st, s.rollups)
		}
		sink = alerts.Sink(sink, s.alerts)
	} else {
		opts.Logger.Warn("analytics and alerts are off: the store does not implement them", "store", fmt.Sprintf("%T", st))
	}
	s.calls = calllog.New(sink, calllog.Options{
		QueueSize:     cfg.CallLog.QueueSize,
		BatchSize:     cfg.CallLog.BatchSize,
		FlushInterval: cfg.CallLog.FlushInterval.D(),
		Retention:     cfg.CallLog.Retention.D(),
		Clock:         opts.Clock,
		Logger:        opts.Logger,
		Deleter:       st,
	})
	var trusted []netip.Prefix
	for _, p := range cfg.TrustedProxies {
		if pr, err := netip.ParsePrefix(p); err == nil {
			trusted = append(trusted, pr.Masked())
		} else if a, err := netip.ParseAddr(p); err == nil {
			trusted = append(trusted, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	var limiter ratelimit.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	var nonces httpsig.NonceStore = httpsig.NewMemoryNonces(0, opts.Clock)
	if cfg.RedisURL != "" {
		if s.redis, err = cluster.OpenRedis(cfg.RedisURL); err != nil {
			_ = st.Close()
			return nil, err
		}
		fo := []ratelimit.FallbackOption{ratelimit.WithClock(opts.Clock)}
		if cfg.RateLimits.Nodes > 1 {
			fo = append(fo, ratelimit.WithFallbackShare(cfg.RateLimits.Nodes))
		}
		s.rlFB = ratelimit.NewFallback(ratelimit.NewRedis(s.redis, ratelimit.RedisOptions{}), limiter,
			cfg.RateLimits.FailClosed, opts.Logger, fo...)
		limiter = s.rlFB
		nonces = &cluster.Nonces{Client: s.redis}
		s.redisW = &redisWatch{c: s.redis, every: 2 * time.Second, clock: opts.Clock, log: opts.Logger}
	}
	// metrics.enabled: false leaves s.met nil: nothing observes requests
	// (Wrap returns the call log itself) and /metrics says it is off.
	if cfg.Metrics.Enabled {
		s.met = s.newMetrics()
	} else {
		opts.Logger.Info("metrics are off (metrics.enabled: false): /metrics answers 404")
	}
	var trust *mtls.Trust
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if cfg.TLS.ClientCAFile != "" {
			ca, err := os.ReadFile(cfg.TLS.ClientCAFile)
			if err != nil {
				_ = st.Close()
				return nil, fmt.Errorf("tls.client_ca_file: %w", err)
			}
			if s.tls, trust, err = mtls.TLSConfig(ca, cert); err != nil {
				_ = st.Close()
				return nil, fmt.Errorf("tls.client_ca_file: %w", err)
			}
		}
	}
	tc, err := cfg.Tracing.Config(opts.Getenv(tracing.HeadersEnv))
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if s.trc, err = tracing.New(ctx, tc, opts.Logger); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("tracing: %w", err)
	}
	var budgetCounter, quotaCounter ai.Counter = ai.NewMemCounter(opts.Clock), ai.NewMemCounter(opts.Clock)
	if s.redis != nil {
		bc := &ai.FallbackCounter{Primary: ai.NewRedisCounter(s.redis, "gatehouse:budget:"), Secondary: budgetCounter,
			Share: cfg.RateLimits.Nodes, Clock: opts.Clock, Logger: opts.Logger}
		qc := &ai.FallbackCounter{Primary: ai.NewRedisCounter(s.redis, "gatehouse:quota:"), Secondary: quotaCounter,
			Share: cfg.RateLimits.Nodes, Clock: opts.Clock, Logger: opts.Logger}
		budgetCounter, quotaCounter, s.sharedCounts = bc, qc, []*ai.FallbackCounter{bc, qc}
	}
	aiHandler, err := ai.New(ai.Options{Catalogue: snapCatalogue{holder: &s.snaps}, Clock: opts.Clock, Logger: opts.Logger,
		Budget: &aiBudgets{counter: budgetCounter, clock: opts.Clock, log: opts.Logger,
			budgets: func(c ai.CallContext) []domain.Budget { return aiIndexOf(s.snaps.Load()).budgetsFor(c) }}})
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("ai: %w", err)
	}
	s.pipe = pipeline.New(pipeline.Options{
		RouteHandlers: map[string]pipeline.RouteHandler{"ai": aiRoutes{h: aiHandler}, "prompt": promptRoutes{h: aiHandler}},
		Tracer:        s.trc,
		Snapshots:     &s.snaps,
		Verifiers: []credential.Verifier{
			apikey.Verifier{},
			jwt.New(jwt.Options{Keyring: s.jwks, Logger: opts.Logger,
				Bindings: func(in *credential.Input) jwt.Bindings { return jwtBindingsOf(in.Snap) }}),
			&httpsig.Verifier{Keys: signatureKeysOf, Nonces: nonces},
			introspect.New(introspect.Options{Logger: opts.Logger,
				Bindings: func(in *credential.Input) introspect.Bindings { return introspectBindingsOf(in.Snap) }}),
			basic.New(basic.Options{Logger: opts.Logger, Lockout: basicLockout(cfg.BasicAuth),
				Users: func(in *credential.Input) basic.Users { return basicUsersOf(in.Snap) }}),
			mtlsVerifier{mtls.New(mtls.Options{Trust: trust,
				Bindings: func(in *credential.Input) mtls.Bindings { return mtlsBindingsOf(in.Snap) }})},
		},
		Forwarder:     proxy.New(proxy.Options{Logger: opts.Logger}),
		Calls:         s.met.Wrap(s.calls),
		Limiter:       limiter,
		Quotas:        quotaCounter,
		Clock:         opts.Clock,
		Environment:   cfg.Environment,
		PublicURL:     cfg.PublicURL,
		ExpiryWarning: cfg.ExpiryWarning.D(),
		StoreUnreachable: func() (time.Time, bool) {
			if f := s.follower.Load(); f != nil {
				return f.Unreachable()
			}
			return time.Time{}, false
		},
		TrustedProxies: trusted,
		Logger:         opts.Logger,
		Identity:       s.identity,
	})
	s.admin = admin.New(admin.Config{
		Events:           events,
		Store:            st,
		Clock:            opts.Clock,
		Logger:           opts.Logger,
		OnChange:         s.onChange,
		Status:           s.status,
		DefaultGrace:     cfg.RotationGrace.D(),
		IdentityKeyGrace: cfg.Identity.KeyGrace.D(),
		Secrets:          box,
		Environment:      cfg.Environment,
		RollupsOff:       !cfg.Analytics.Enabled,
	})
	// One login limiter for the console and the portal: a username's
	// password guesses draw on one budget on both login pages.
	logins := console.NewLoginLimiter()
	if s.console, err = console.New(console.Config{Admin: s.admin, Store: st, Clock: opts.Clock, Logger: opts.Logger,
		SecureCookies: cfg.SecureCookies, Limiter: logins}); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("console: %w", err)
	}
	if tok := opts.Getenv("GATEHOUSE_PORTAL_TOKEN"); tok != "" {
		// Store: developer accounts log in to the portal by password.
		if s.portal, err = console.NewPortal(console.PortalConfig{Admin: s.admin, Token: tok, Proxy: s.pipe, Store: st,
			Clock: opts.Clock, Logger: opts.Logger, SecureCookies: cfg.SecureCookies, Limiter: logins}); err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("portal: %w", err)
		}
	}
	return s, nil
}

// identityIssuer is the "iss" of the identity tokens: identity.issuer,
// else public_url (the address upstreams know the gateway by), else
// identity.DefaultIssuer.
func identityIssuer(cfg config.Config) string {
	switch {
	case cfg.Identity.Issuer != "":
		return cfg.Identity.Issuer
	case cfg.PublicURL != "":
		return cfg.PublicURL
	}
	return identity.DefaultIssuer
}

// newMetrics builds the Prometheus metrics, reading the call log, the
// snapshot, the upstreams and the key sets when scraped.
func (s *Server) newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Options{
		Clock:  s.opts.Clock,
		Logger: s.opts.Logger,
		CallLog: func() metrics.CallLogStat {
			st := s.calls.Stats()
			return metrics.CallLogStat{Queued: st.Queued, Written: st.Written, Dropped: st.Dropped, Failed: st.FailedRecords}
		},
		Snapshot: func() (int64, time.Time) {
			if snap := s.snaps.Load(); snap != nil {
				return snap.Version, snap.BuiltAt
			}
			return 0, time.Time{}
		},
		Upstreams:    s.upstreamHealth,
		KeySets:      s.keySets,
		Dependencies: s.dependencies,
	})
}

// dependencies reports the shared stores this node depends on, for
// metrics: PostgreSQL in cluster mode (the change follower's view) and
// Redis (the background ping's).
func (s *Server) dependencies() []metrics.DependencyStat {
	var out []metrics.DependencyStat
	if f := s.follower.Load(); f != nil {
		_, down := f.Unreachable()
		out = append(out, metrics.DependencyStat{Name: "store", Up: !down})
	}
	if s.redisW != nil && s.redisW.checked.Load() {
		_, down := s.redisDown()
		out = append(out, metrics.DependencyStat{Name: "redis", Up: !down})
	}
	return out
}

func openStore(ctx context.Context, url string) (store.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		st, err := sqlite.Open(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("open embedded store %s: %w", url, err)
		}
		return st, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		st, err := postgres.Open(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("database %q: use sqlite://path/to/gatehouse.db", url)
}

// onChange is the admin API's OnChange, after each change it committed:
// the new snapshot (Reload: its version read spares the load when the
// change feed already applied this change's own notification), then the
// alert rules — both before the API answers, so a change is in effect on
// this node's next request.
func (s *Server) onChange(ctx context.Context) error {
	if err := s.Reload(ctx); err != nil {
		return err
	}
	if s.alerts != nil {
		return s.reloadAlerts(ctx)
	}
	return nil
}

// applyChange is the change feed's Apply — another node committed a
// change (its notification or the periodic check found the store's
// version past the snapshot's), or the periodic resync: the new snapshot,
// loaded without first reading the version again, and published; the
// alert rules follow on their own goroutine (followAlerts). The follower
// applies one change at a time, and the next change — a revocation, say —
// must not wait behind the alert rules' two round trips to the store, which
// under CPU pressure can take hundreds of milliseconds each (§10's 100 ms).
func (s *Server) applyChange(ctx context.Context) (int64, error) {
	if err := s.loadSnapshot(ctx, false); err != nil {
		return 0, err
	}
	if s.alerts != nil {
		select {
		case s.alertsStale <- struct{}{}:
		default: // a reload is already due: it reads the rules as they are then
		}
	}
	return s.snaps.Load().Version, nil
}

// followAlerts reloads the alert rules each time applyChange marks them
// stale, until ctx ends. A reload that fails is logged; the alerts
// engine's own refresh, which sees the store's version moved past its
// rules', tries again (alerts.Options.RefreshEvery).
func (s *Server) followAlerts(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.alertsStale:
			if err := s.reloadAlerts(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("alerts: reloading the rules after another node's change failed", "err", err)
			}
		}
	}
}

// Snapshot returns the current snapshot.
func (s *Server) Snapshot() *snapshot.Snapshot { return s.snaps.Load() }

// Store returns the store (for tests and the quickstart).
func (s *Server) Store() store.Store { return s.store }

// CallLog returns the call-log writer.
func (s *Server) CallLog() *calllog.Writer { return s.calls }

func (s *Server) status(ctx context.Context) any {
	snap := s.snaps.Load()
	out := map[string]any{"environment": s.cfg.Environment, "call_log": s.calls.Stats()}
	if s.hooks != nil {
		out["webhooks"] = s.hooks.Stats()
	}
	if f := s.follower.Load(); f != nil {
		out["change_feed"] = f.Status()
	}
	switch {
	case s.rollups != nil:
		out["analytics"] = s.rollups.Stats()
	case !s.cfg.Analytics.Enabled:
		out["analytics"] = map[string]any{"enabled": false}
	}
	if s.alerts != nil {
		out["alerts"] = s.alerts.Stats()
	}
	out["metrics"] = map[string]any{"enabled": s.met != nil}
	out["identity"] = map[string]any{"issuer": s.identity.Issuer(), "signing_kid": s.identity.CurrentKID(),
		"jwks_kids": s.identity.JWKSKids(s.opts.Clock.Now())}
	for _, c := range s.sharedCounts {
		if since, down := c.Degraded(); down {
			out["shared_counters"] = map[string]any{"degraded": true, "since": since.UTC(), "share": max(c.Share, 1)}
		}
	}
	if s.rlFB != nil {
		out["rate_limits"] = s.rlFB.Stats()
	}
	if snap != nil {
		out["snapshot"] = map[string]any{"version": snap.Version, "built_at": snap.BuiltAt,
			"age_seconds": s.opts.Clock.Now().Sub(snap.BuiltAt).Seconds(), "objects": snap.Counts()}
	}
	return out
}

// follow subscribes to the store's change feed (PostgreSQL LISTEN/NOTIFY:
// a NOTIFY sent inside the committing transaction is delivered on commit
// only), so every node applies a change made on any node; a periodic
// version check and a full resync repair anything a lost notification
// missed.
func (s *Server) follow(ctx context.Context, pg *postgres.Store) error {
	feed, err := changefeed.NewListener(changefeed.ListenerConfig{ConnConfig: pg.ConnConfig(), Channel: pg.Channel(),
		Current: pg.Version, Logger: s.log})
	if err != nil {
		return fmt.Errorf("change feed: %w", err)
	}
	f, err := changefeed.NewFollower(changefeed.FollowerConfig{Feed: feed, Current: pg.Version,
		Apply: s.applyChange,
		Applied: func() int64 {
			if snap := s.snaps.Load(); snap != nil {
				return snap.Version
			}
			return 0
		},
		CheckEvery: time.Second, Clock: s.opts.Clock, Logger: s.log})
	if err != nil {
		return fmt.Errorf("change feed: %w", err)
	}
	if s.alerts != nil {
		go s.followAlerts(ctx)
	}
	s.follower.Store(f)
	go f.Run(ctx)
	return nil
}

// upstreamHealth reports every target of every service, for metrics.
func (s *Server) upstreamHealth() []metrics.TargetHealth {
	snap := s.snaps.Load()
	if snap == nil {
		return nil
	}
	var out []metrics.TargetHealth
	for _, sv := range snap.Services() {
		if sv.Upstream == nil {
			continue
		}
		for _, t := range sv.Upstream.Status() {
			out = append(out, metrics.TargetHealth{Service: sv.ID, Target: t.URL, Healthy: !t.Ejected, ConsecutiveFailures: t.Failures})
		}
	}
	return out
}

// keySets reports the JWT issuers' key sets, for metrics.
func (s *Server) keySets() []metrics.KeySetStat {
	snap := s.snaps.Load()
	if snap == nil {
		return nil
	}
	var out []metrics.KeySetStat
	for _, iss := range jwtBindingsOf(snap).(*jwtBindings).all {
		st := s.jwks.For(iss).Status()
		out = append(out, metrics.KeySetStat{Issuer: st.Issuer, FetchedAt: st.FetchedAt, Failing: !st.FailingFrom.IsZero()})
	}
	return out
}

// Listen opens both listeners (":0" picks free ports).
func (s *Server) Listen() error {
	var err error
	if s.proxyLn, err = net.Listen("tcp", s.cfg.ProxyAddr); err != nil {
		return fmt.Errorf("proxy listener %s: %w (set proxy_addr or GATEHOUSE_PROXY_ADDR)", s.cfg.ProxyAddr, err)
	}
	if s.adminLn, err = net.Listen("tcp", s.cfg.AdminAddr); err != nil {
		_ = s.proxyLn.Close()
		return fmt.Errorf("admin listener %s: %w (set admin_addr or GATEHOUSE_ADMIN_ADDR)", s.cfg.AdminAddr, err)
	}
	return nil
}

// ProxyAddr is the proxy listener's address (after Listen).
func (s *Server) ProxyAddr() string { return s.proxyLn.Addr().String() }

// AdminAddr is the admin listener's address (after Listen).
func (s *Server) AdminAddr() string { return s.adminLn.Addr().String() }

// Handler returns the proxy listener's handler.
func (s *Server) Handler() http.Handler { return s.proxyHandler() }

func (s *Server) proxyHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+gatehousePaths+"/healthz", s.healthz)
	mux.HandleFunc("GET "+gatehousePaths+"/readyz", s.readyz)
	if s.portal != nil {
		mux.Handle(console.DefaultPortalBase+"/", s.portal)
	}
	mux.Handle("/", s.pipe)
	return proxyRouter{mux: mux, pipe: s.pipe}
}

// gatehousePaths is the prefix of the paths the gateway answers itself on
// the proxy listener (health, readiness, the portal, the reason pages).
const gatehousePaths = "/.well-known/gatehouse"

// proxyRouter sends a request straight to the pipeline when the ServeMux
// would: a path outside gatehousePaths that the mux's canonicalisation
// leaves as it is (no "//", "." or ".." segments — those still get the
// mux's redirect to the cleaned path, so a route cannot be matched by one
// path and reached by another). Everything else goes through the mux.
//
// Why: ServeMux's matching allocates for every path segment it tries
// against its literal patterns (net/http routing_tree.go appends the
// segment before it knows the wildcard child is absent): four
// allocations per request for "/policy", none for "/" — a third of a
// proxied request's garbage, for a lookup whose answer is the catch-all.
type proxyRouter struct {
	mux  *http.ServeMux
	pipe http.Handler
}

func (p proxyRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		if ep := r.URL.EscapedPath(); pipeline.CleanPath(ep) && !strings.HasPrefix(ep, gatehousePaths) {
			p.pipe.ServeHTTP(w, r)
			return
		}
	}
	p.mux.ServeHTTP(w, r)
}

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.met != nil {
		mux.Handle("GET /metrics", s.met.Handler())
	} else {
		mux.HandleFunc("GET /metrics", metricsOff)
	}
	// The JWKS is public; served here too for upstreams that reach only
	// the admin network.
	mux.Handle("GET "+identity.JWKSPath, s.identity)
	mux.Handle("/admin/", s.admin)
	mux.Handle(console.DefaultBase+"/", s.console)
	mux.Handle("GET "+console.DefaultBase, http.RedirectHandler(console.DefaultBase+"/", http.StatusFound))
	return mux
}

// metricsOff answers /metrics on a gateway configured without metrics: a
// 404 that says why, so a scrape target that fails is explained by its
// own error, not by a guess.
func metricsOff(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, "metrics are off on this gateway (metrics.enabled: false in its configuration): set metrics.enabled: true and restart to serve /metrics\n")
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
}

// redisHealth says what an unreachable Redis means for this node, "" while
// it answers (or without Redis): the background ping's view, else the
// counters' own as of their last use.
func (s *Server) redisHealth() string {
	since, down := s.redisDown()
	if !down {
		return ""
	}
	text := "unreachable"
	if !since.IsZero() {
		text += " since " + since.UTC().Format(time.RFC3339)
	}
	share := max(s.cfg.RateLimits.Nodes, 1)
	if s.cfg.RateLimits.FailClosed {
		return text + ": rate-limited requests are refused (rate_limits.fail_closed); AI budgets and quotas counted per node, each node a 1/" +
			strconv.Itoa(share) + " share"
	}
	return text + ": rate limits, AI budgets and quotas counted per node, each node a 1/" + strconv.Itoa(share) + " share (rate_limits.nodes)"
}

// redisDown is whether Redis is taken to be unreachable, and since when:
// the background ping's view, or a failure the counters met after the
// ping's last success (health and metrics both ask here).
func (s *Server) redisDown() (since time.Time, down bool) {
	var lastOK time.Time // the ping's last success: older failures are over
	if s.redisW != nil {
		since, down = s.redisW.down()
		if n := s.redisW.lastOK.Load(); n != 0 {
			lastOK = time.Unix(0, n)
		}
	}
	// A failure the counters met after the last successful ping is newer
	// news than the ping's (which runs every 2 s).
	if !down && s.rlFB != nil {
		if st := s.rlFB.Stats(); st.Degraded && st.DegradedSince.After(lastOK) {
			since, down = st.DegradedSince, true
		}
	}
	for _, c := range s.sharedCounts {
		if t, d := c.Degraded(); d && !down && t.After(lastOK) {
			since, down = t, true
		}
	}
	return since, down
}

// readyz: ready when a snapshot is loaded and the store answers; a node
// whose store is down keeps serving from its snapshot and says so.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	snap := s.snaps.Load()
	out := map[string]any{"status": "ready"}
	code := http.StatusOK
	if snap == nil {
		out["status"], code = "starting", http.StatusServiceUnavailable
	} else {
		out["snapshot_version"] = snap.Version
		out["snapshot_age_seconds"] = s.opts.Clock.Now().Sub(snap.BuiltAt).Seconds()
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := s.store.Version(ctx); err != nil {
			out["status"] = "degraded"
			out["store"] = "unreachable: serving from the last snapshot"
		}
		if text := s.redisHealth(); text != "" {
			out["status"] = "degraded"
			out["redis"] = text
		}
		if s.identity != nil {
			if p := s.identity.Problem(); p != "" {
				out["status"] = "degraded"
				out["identity"] = "cannot sign X-Gatehouse-Identity (services with identity_jwt answer gateway.internal): " + p
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}

// Serve serves until ctx is done, then shuts down gracefully: stop
// accepting, finish in-flight requests (up to shutdown_timeout), flush the
// call log, close the store.
func (s *Server) Serve(ctx context.Context) error {
	// The change feed and the alert rules' reloads (follow) end before
	// shutdown closes the store and the alerts engine they use, also when
	// Serve returns because a listener failed and ctx is still live.
	ctx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	if s.proxyLn == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	proxy := s.proxyHandler()
	// On net/http each HTTP/1 head is checked as the fast listener checks
	// it (h1heads.go): the handler finds the scan of its connection's
	// heads through ConnContext.
	s.proxySrv = &http.Server{Handler: checkedHeads{next: proxy, refuse: s.refuseHead}, ConnContext: headConnContext, ConnState: headConnState,
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.adminSrv = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if s.tls == nil && s.cfg.ProxyServer != config.ProxyServerNetHTTP {
		s.fastSrv = &front.Server{Handler: proxy, Log: s.log, ReadHeaderTimeout: s.proxySrv.ReadHeaderTimeout,
			// Requests refused before routing get the rejection shape, a
			// request ID and a call record like any other.
			Refuse: func(w http.ResponseWriter, r front.Refusal) {
				s.pipe.Refuse(w, r.Status, r.Method, r.Target, r.RemoteAddr, r.Err)
			}}
	}
	errc := make(chan error, 2)
	go func() {
		if s.tls != nil {
			cfg := s.tls.Clone()
			cfg.NextProtos = []string{"h2", "http/1.1"}
			s.proxySrv.TLSConfig = cfg // Serve configures HTTP/2 for it
			errc <- s.proxySrv.Serve(newTLSHeadListener(s.proxyLn, cfg, s.proxySrv.ReadHeaderTimeout, s.proxySrv.ErrorLog.Printf, s.pipe.Refuse))
			return
		}
		if s.fastSrv != nil {
			errc <- s.fastSrv.Serve(s.proxyLn)
			return
		}
		errc <- s.proxySrv.Serve(headListener{Listener: s.proxyLn, refuse: s.pipe.Refuse})
	}()
	go func() { errc <- s.adminSrv.Serve(s.adminLn) }()
	if pg, ok := s.store.(*postgres.Store); ok {
		if err := s.follow(ctx, pg); err != nil {
			return err
		}
	}
	if s.redisW != nil {
		go s.redisW.run(ctx)
	}
	s.log.Info("gatehouse serving", "proxy", s.ProxyAddr(), "admin", s.AdminAddr(),
		"environment", s.cfg.Environment, "database", redactURL(s.cfg.Database))
	if s.opts.ReadyFile != "" {
		if err := writeReadyFile(s.opts.ReadyFile, s.ProxyAddr(), s.AdminAddr()); err != nil {
			s.log.Error("ready file", "err", err)
		}
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	stopFollowing()
	return errors.Join(serveErr, s.shutdown())
}

// refuseHead answers a request the net/http listener's head check
// refused (h1heads.go) as the fast listener's refusals are answered.
func (s *Server) refuseHead(w http.ResponseWriter, r *http.Request, err error) {
	s.pipe.Refuse(w, http.StatusBadRequest, r.Method, r.RequestURI, r.RemoteAddr, err)
}

func (s *Server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout.D())
	defer cancel()
	s.log.Info("shutting down: draining requests and flushing the call log")
	err := errors.Join(s.proxySrv.Shutdown(ctx), s.adminSrv.Shutdown(ctx))
	if s.fastSrv != nil {
		err = errors.Join(err, s.fastSrv.Shutdown(ctx))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("shutdown: some requests were still in flight at shutdown_timeout; closing them")
		_ = s.proxySrv.Close()
		_ = s.adminSrv.Close()
		err = nil
	}
	if s.trc != nil {
		tctx, tcancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = errors.Join(err, s.trc.Shutdown(tctx))
		tcancel()
	}
	// The call log gets its own budget: a slow drain of HTTP connections
	// must not cost the records of the requests that were answered.
	fctx, fcancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout.D())
	defer fcancel()
	if s.calls != nil {
		err = errors.Join(err, s.calls.Close(fctx))
	}
	// The rest get budgets of their own too: a call log waiting out a
	// store outage to its deadline must not leave the webhooks, which do
	// not need the store, an expired context.
	rest := func(close func(context.Context) error) {
		cctx, ccancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout.D())
		defer ccancel()
		err = errors.Join(err, close(cctx))
	}
	if s.rollups != nil {
		rest(s.rollups.Close)
	}
	if s.alerts != nil {
		rest(s.alerts.Close)
	}
	s.jwks.Close()
	if s.hooks != nil {
		rest(s.hooks.Close)
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
	err = errors.Join(err, s.store.Close())
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close releases resources of a server that never served.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.calls.Close(ctx)
	if s.rollups != nil {
		err = errors.Join(err, s.rollups.Close(ctx))
	}
	if s.alerts != nil {
		err = errors.Join(err, s.alerts.Close(ctx))
	}
	if s.hooks != nil {
		err = errors.Join(err, s.hooks.Close(ctx))
	}
	s.jwks.Close()
	if s.proxyLn != nil {
		_ = s.proxyLn.Close()
		_ = s.adminLn.Close()
	}
	return errors.Join(err, s.store.Close())
}

// writeReadyFile writes the addresses atomically (temp file + rename), so
// a watcher never reads half a file.
func writeReadyFile(path, proxyAddr, adminAddr string) error {
	b, _ := json.Marshal(map[string]string{"proxy": proxyAddr, "admin": adminAddr})
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// sqlitePath is the database file of a sqlite:// URL ("" for others: the
// master key must then come from the environment).
func sqlitePath(url string) string {
	p, ok := strings.CutPrefix(url, "sqlite://")
	if !ok {
		return ""
	}
	return p
}

// redactURL hides a password in a database URL for logs.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.Index(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				return u[:i+3] + rest[:c] + ":xxxxx" + rest[at:]
			}
		}
	}
	return u
}
