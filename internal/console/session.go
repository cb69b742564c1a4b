package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"gatehouse/internal/clock"
)

// Session limits. A session lives at most absoluteTTL from login and ends
// after idleTTL without a request; the store holds at most maxSessions
// (the least recently used is dropped first when full), so a flood of
// logins cannot grow memory without bound.
const (
	defaultIdleTTL     = 30 * time.Minute
	defaultAbsoluteTTL = 12 * time.Hour
	defaultMaxSessions = 10000
	maxFlashes         = 8
)

// flash is a one-shot message shown on the next page.
type flash struct {
	Kind string // "ok" or "error"
	Text string
}

// session is one logged-in browser. Its id lives only in the cookie and as
// a SHA-256 in the store; the credential it acts with (an admin token for
// the console, the consumer's API key for the portal) never leaves the
// server.
type session struct {
	// csrf is the synchronizer token every form of this session carries.
	csrf     string
	created  time.Time
	lastSeen time.Time

	// Console sessions: an admin token, or the id of a user who logged
	// in with a password (the admin API re-reads the user every request).
	// Portal sessions of a developer account carry its id in user too
	// (the portal re-reads it every request), and no key.
	token string
	user  string
	admin adminInfo

	// Portal sessions: the key a key login acts with, and the consumer.
	key      string
	consumer portalIdentity

	flashes []flash
}

// sessions is the bounded in-memory session store. Sessions are per node:
// behind a load balancer the console needs sticky sessions (or a login per
// node), which fits a tool for operators.
type sessions struct {
	clock    clock.Clock
	idle     time.Duration
	absolute time.Duration
	max      int

	mu   sync.Mutex
	byID map[string]*session // key: sha256(id) in hex
}

func newSessions(c clock.Clock, idle, absolute time.Duration, max int) *sessions {
	if idle <= 0 {
		idle = defaultIdleTTL
	}
	if absolute <= 0 {
		absolute = defaultAbsoluteTTL
	}
	if max <= 0 {
		max = defaultMaxSessions
	}
	return &sessions{clock: c, idle: idle, absolute: absolute, max: max, byID: map[string]*session{}}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("console: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// create stores a new session and returns its fresh random id. A login
// always creates a new session (never adopts an id the browser brought):
// that is what defeats session fixation.
func (s *sessions) create(fill func(*session)) (string, *session, error) {
	id, err := randomToken(32)
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken(32)
	if err != nil {
		return "", nil, err
	}
	now := s.clock.Now()
	se := &session{csrf: csrf, created: now, lastSeen: now}
	fill(se)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= s.max {
		s.sweepLocked(now)
	}
	for len(s.byID) >= s.max {
		s.evictOldestLocked()
	}
	s.byID[sessionKey(id)] = se
	return id, se, nil
}

// get returns the live session with this id and marks it used.
func (s *sessions) get(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	now := s.clock.Now()
	k := sessionKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.byID[k]
	if !ok {
		return nil, false
	}
	if s.expired(se, now) {
		delete(s.byID, k)
		return nil, false
	}
	se.lastSeen = now
	return se, true
}

func (s *sessions) expired(se *session, now time.Time) bool {
	return now.Sub(se.lastSeen) >= s.idle || now.Sub(se.created) >= s.absolute
}

func (s *sessions) delete(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	delete(s.byID, sessionKey(id))
	s.mu.Unlock()
}

// len is the number of stored sessions (tests).
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *sessions) sweepLocked(now time.Time) {
	for k, se := range s.byID {
		if s.expired(se, now) {
			delete(s.byID, k)
		}
	}
}

func (s *sessions) evictOldestLocked() {
	var oldestK string
	var oldest time.Time
	for k, se := range s.byID {
		if oldestK == "" || se.lastSeen.Before(oldest) {
			oldestK, oldest = k, se.lastSeen
		}
	}
	delete(s.byID, oldestK)
}

// addFlash queues a message for the session's next page.
func (s *sessions) addFlash(se *session, kind, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(se.flashes) < maxFlashes {
		se.flashes = append(se.flashes, flash{Kind: kind, Text: text})
	}
}

// takeFlashes returns and clears the queued messages.
func (s *sessions) takeFlashes(se *session) []flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := se.flashes
	se.flashes = nil
	return f
}

// portalKey returns the API key a portal session acts with.
func (s *sessions) portalKey(se *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return se.key
}

// setPortalKey replaces the portal session's key (after the user rotated
// the key they logged in with).
func (s *sessions) setPortalKey(se *session, key string) {
	s.mu.Lock()
	se.key = key
	s.mu.Unlock()
}

// tokensEqual compares two secrets in constant time.
func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// cookieConfig names a session cookie and where it applies.
type cookieConfig struct {
	name string
	path string
	// secure marks cookies Secure; the handlers also set it for any
	// request that arrived over TLS.
	secure bool
}

func (c cookieConfig) set(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     c.path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   c.secure || r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

func (c cookieConfig) clear(w http.ResponseWriter, r *http.Request, name string) {
	c.set(w, r, name, "", -1)
}

func cookieValue(r *http.Request, name string) string {
	ck, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}
