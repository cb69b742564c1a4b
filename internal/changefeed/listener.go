package changefeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// ListenerConfig configures a Listener. ConnConfig, Channel and Current
// are required; zero durations take the defaults.
type ListenerConfig struct {
	// ConnConfig opens the dedicated LISTEN connection
	// (postgres.Store.ConnConfig()). It is copied, never modified.
	ConnConfig *pgx.ConnConfig
	// Channel is the channel the store notifies on (postgres.Store.Channel()).
	Channel string
	// Current reads the store's version (postgres.Store.Version); it is
	// emitted after every (re)connection.
	Current func(ctx context.Context) (int64, error)
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, doubling from min to max with ±20% jitter (defaults
	// 100ms and 5s). A successful connection resets it.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how long the connection may stay silent before the
	// Listener pings it, to notice a dead peer that never closed the TCP
	// connection (default 10s).
	PingInterval time.Duration
	// Timeout bounds connecting, LISTEN, Current and a ping (default 3s).
	Timeout time.Duration
	// OnState, if set, is called when a subscription connects (err nil)
	// or loses its connection (err says why); for logs, metrics and
	// readiness. It must not block.
	OnState func(connected bool, err error)
	// Logger receives reconnection lines (default slog.Default()).
	Logger *slog.Logger
}

// Listener is the PostgreSQL LISTEN/NOTIFY Feed (see the package doc).
type Listener struct {
	cfg ListenerConfig

	mu        sync.Mutex
	subs      int // live subscriptions
	connected int // of which connected
}

var _ Feed = (*Listener)(nil)

// NewListener checks cfg and returns a Listener; it connects on Subscribe.
func NewListener(cfg ListenerConfig) (*Listener, error) {
	switch {
	case cfg.ConnConfig == nil:
		return nil, errors.New("changefeed: ListenerConfig.ConnConfig is required")
	case cfg.Channel == "":
		return nil, errors.New("changefeed: ListenerConfig.Channel is required")
	case cfg.Current == nil:
		return nil, errors.New("changefeed: ListenerConfig.Current is required")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Listener{cfg: cfg}, nil
}

// Subscribe starts a subscription on its own connection, in the
// background: the channel receives the current version as soon as the
// connection listens, then every notified version. The subscription
// reconnects (with backoff) until ctx ends, then closes the channel.
func (l *Listener) Subscribe(ctx context.Context) (<-chan int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("changefeed: subscribe: %w", err)
	}
	out := make(chan int64, 1)
	l.mu.Lock()
	l.subs++
	l.mu.Unlock()
	go l.run(ctx, out)
	return out, nil
}

// Connected reports whether there is a subscription and every one is
// connected and listening (false while any is reconnecting).
func (l *Listener) Connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.subs > 0 && l.connected == l.subs
}

func (l *Listener) run(ctx context.Context, out chan int64) {
	defer func() {
		l.mu.Lock()
		l.subs--
		l.mu.Unlock()
		close(out)
	}()
	backoff := l.cfg.MinBackoff
	for {
		listened, err := l.session(ctx, out)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = l.cfg.MinBackoff
		}
		l.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "change feed disconnected; reconnecting",
			slog.String("channel", l.cfg.Channel), slog.Duration("backoff", backoff), slog.String("error", err.Error()))
		if l.cfg.OnState != nil {
			l.cfg.OnState(false, err)
		}
		wait := time.NewTimer(jitter(backoff))
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		backoff = min(2*backoff, l.cfg.MaxBackoff)
	}
}

// jitter spreads d by ±20% so nodes cut off together do not reconnect in
// lockstep.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// session runs one connection: connect, LISTEN, emit the current version,
// then relay notifications until the connection fails or ctx ends.
// listened reports whether the session got as far as emitting the
// current version (the backoff then resets).
func (l *Listener) session(ctx context.Context, out chan int64) (listened bool, err error) {
	cfg := l.cfg.ConnConfig.Copy()
	// A wait that times out (to ping) must leave the connection usable: set
	// a deadline instead of the default cancel request, which would also
	// open a second connection to the server every PingInterval.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	cfg.RuntimeParams["application_name"] = "gatehouse-changefeed"
	setup, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(setup, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(setup, "LISTEN "+pgx.Identifier{l.cfg.Channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// LISTEN is in effect: a change committed from now on is notified, and
	// everything before is in the version read now.
	v, err := l.cfg.Current(setup)
	if err != nil {
		// Not counted as listening: the backoff keeps growing while the
		// store cannot answer.
		return false, fmt.Errorf("read current version: %w", err)
	}
	l.setConnected(true)
	defer l.setConnected(false)
	if l.cfg.OnState != nil {
		l.cfg.OnState(true, nil)
	}
	offer(out, v)
	for {
		wait, cancel := context.WithTimeout(ctx, l.cfg.PingInterval)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			v, perr := strconv.ParseInt(n.Payload, 10, 64)
			if perr != nil {
				l.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "change feed: unexpected payload; ignored",
					slog.String("channel", n.Channel), slog.String("payload", n.Payload))
				continue
			}
			offer(out, v)
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			ping, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
			err := conn.Ping(ping)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping after %s of silence: %w", l.cfg.PingInterval, err)
			}
		default:
			return true, fmt.Errorf("wait for notification: %w", err)
		}
	}
}

func (l *Listener) setConnected(up bool) {
	l.mu.Lock()
	if up {
		l.connected++
	} else {
		l.connected--
	}
	l.mu.Unlock()
}
