package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"gatehouse/internal/admin"
	"gatehouse/internal/clock"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/store"
)

// The login protections the console and the portal share. Both forms take
// a username and password (console users there, developers here), so both
// get the same guard, from this one place: a per-address limit on every
// login attempt (token, key or password), a per-username limit on password
// attempts, a bound on the argon2id checks running at once, and one answer
// for every failed check (admin.ErrLogin). The session side (a fresh id at
// every login, the cookies, CSRF) is session.go's, shared the same way.

// loginLimit bounds login attempts per client address and per username
// (GCRA: a burst of 5, then one every 6 s).
var loginLimit = ratelimit.Limit{Limit: 10, Period: time.Minute, Burst: 5, Name: "console-login"}

const (
	// maxLoginKeys bounds the login limiter's keys (addresses and
	// usernames) when the console or portal builds its own limiter.
	maxLoginKeys = 1 << 16
	// maxConcurrentPasswordChecks bounds the argon2id checks at once
	// (each ~19 MiB and tens of milliseconds); more logins at the same
	// moment answer 503 "try again".
	maxConcurrentPasswordChecks = 4
)

// NewLoginLimiter is the default limiter of a login form: in memory and
// bounded, so a flood of addresses or usernames evicts idle keys rather
// than growing memory. The server gives one to both the console and the
// portal (Config.Limiter, PortalConfig.Limiter), so a username's password
// guesses draw on one budget across both login pages.
func NewLoginLimiter() ratelimit.Limiter {
	return ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: maxLoginKeys})
}

// limiter wraps the shared GCRA limiter for login attempts.
type limiter struct {
	l     ratelimit.Limiter
	clock clock.Clock
	// name prefixes the per-address keys ("console-login", "portal-login").
	name string
}

// allow reports whether this client address may try to log in now, and if
// not, how long to wait.
func (l *limiter) allow(r *http.Request) (bool, time.Duration) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return l.allowKey(r.Context(), l.name+":"+host)
}

// allowUser reports whether a password may be tried for username now. The
// key does not depend on the form: given the same Limiter (the server
// passes one to both), the console and the portal draw on one budget per
// username, so two login pages do not double the guesses.
func (l *limiter) allowUser(ctx context.Context, username string) (bool, time.Duration) {
	return l.allowKey(ctx, "login-user:"+strings.ToLower(username))
}

func (l *limiter) allowKey(ctx context.Context, key string) (bool, time.Duration) {
	d, err := l.l.Allow(ctx, key, loginLimit, l.clock.Now())
	if err != nil {
		// A limiter failure must not lock everyone out; admin tokens and
		// API keys are long random secrets, and a password check costs
		// tens of milliseconds.
		return true, 0
	}
	return d.Allowed, d.RetryAfter
}

// loginRefusal is why a login attempt was refused, as the form shows it.
type loginRefusal struct {
	status int
	msg    string
	// retry, when set, is sent as Retry-After (429, 503).
	retry time.Duration
}

func tooManyLogins(wait time.Duration, who string) *loginRefusal {
	s := int(wait.Seconds()) + 1
	return &loginRefusal{status: http.StatusTooManyRequests, retry: time.Duration(s) * time.Second,
		msg: fmt.Sprintf("Too many login attempts %s; try again in %d s.", who, s)}
}

// header sets Retry-After for a refusal that has one.
func (f *loginRefusal) header(w http.ResponseWriter) {
	if f.retry > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(f.retry.Seconds())))
	}
}

// fromAddress applies the per-address limit; every login attempt passes it
// first, before anything else is looked at.
func (l *limiter) fromAddress(r *http.Request) *loginRefusal {
	if ok, wait := l.allow(r); !ok {
		return tooManyLogins(wait, "from your address")
	}
	return nil
}

// passwordLogin checks usernames and passwords for one login form.
type passwordLogin struct {
	limit *limiter
	// hashing bounds the password checks running at once.
	hashing chan struct{}
	// verify is admin.VerifyUser over the store (or a test's stand-in);
	// nil: this form takes no passwords.
	verify func(ctx context.Context, username, password string) (store.User, error)
}

func newPasswordLogin(l *limiter, verify func(ctx context.Context, username, password string) (store.User, error)) *passwordLogin {
	return &passwordLogin{limit: l, hashing: make(chan struct{}, maxConcurrentPasswordChecks), verify: verify}
}

// storeVerifier is the default verify: admin.VerifyUser over st.
func storeVerifier(st store.Store) func(ctx context.Context, username, password string) (store.User, error) {
	if st == nil {
		return nil
	}
	return func(ctx context.Context, username, password string) (store.User, error) {
		return admin.VerifyUser(ctx, st, username, password)
	}
}

// enabled reports whether this form takes usernames and passwords.
func (p *passwordLogin) enabled() bool { return p.verify != nil }

// check applies the per-username limit (case-folded: one bucket per name
// however it is typed, and from any number of addresses), takes a hashing
// slot, and verifies the password. It returns the user, or the refusal to
// show, or an error (the store failed) the caller logs and reports as 500.
// Which roles may use the form is the caller's check, after this one.
func (p *passwordLogin) check(ctx context.Context, username, password string) (store.User, *loginRefusal, error) {
	if ok, wait := p.limit.allowUser(ctx, username); !ok {
		return store.User{}, tooManyLogins(wait, "for this user"), nil
	}
	if password == "" {
		return store.User{}, &loginRefusal{status: http.StatusUnauthorized, msg: "Enter the password."}, nil
	}
	select {
	case p.hashing <- struct{}{}:
	default:
		return store.User{}, &loginRefusal{status: http.StatusServiceUnavailable, retry: time.Second,
			msg: "Many logins are being checked right now; try again in a second."}, nil
	}
	u, err := p.verify(ctx, username, password)
	<-p.hashing
	if errors.Is(err, admin.ErrLogin) {
		return store.User{}, &loginRefusal{status: http.StatusUnauthorized, msg: "Unknown username or wrong password."}, nil
	}
	if err != nil {
		return store.User{}, nil, fmt.Errorf("console: verify user: %w", err)
	}
	return u, nil, nil
}
