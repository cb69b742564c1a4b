package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/credential/jwt/jose"
)

// KeyringOptions configures a Keyring.
type KeyringOptions struct {
	// Client fetches key sets and discovery documents (default: a client
	// with FetchTimeout). Tests pass an httptest server's client.
	Client *http.Client
	// Clock decides when a key set is due for refresh and when an unknown
	// kid may trigger a refetch (default: the system clock).
	Clock  clock.Clock
	Logger *slog.Logger
	// FetchTimeout bounds one fetch (discovery + JWKS), default 5 s.
	FetchTimeout time.Duration
	// MaxBodyBytes bounds a discovery document or key set, default 1 MiB.
	MaxBodyBytes int64
}

// Keyring holds the key sets of all issuers. It lives as long as the
// gateway, across snapshot rebuilds, so that a configuration change does
// not refetch every issuer's keys.
type Keyring struct {
	o KeyringOptions

	mu      sync.Mutex
	sets    map[string]*KeySet
	baseCtx context.Context // parent of fetches and background loops
	cancel  context.CancelFunc
	running bool
}

// NewKeyring returns a Keyring. It fetches on demand until Start is called.
func NewKeyring(o KeyringOptions) *Keyring {
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.FetchTimeout}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Keyring{o: o, sets: map[string]*KeySet{}, baseCtx: ctx, cancel: cancel}
}

// Start runs a background refresh loop for every key set, present and
// future, until ctx ends or Close is called.
func (r *Keyring) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return
	}
	r.running = true
	base := r.baseCtx
	go func() {
		select {
		case <-ctx.Done():
			r.Close()
		case <-base.Done():
		}
	}()
	for _, ks := range r.sets {
		ks.startLoop(base)
	}
}

// Close stops background loops and in-flight fetches.
func (r *Keyring) Close() { r.cancel() }

func setKey(iss *Issuer) string {
	return strings.Join([]string{iss.Name, iss.Issuer, iss.JWKSURL, iss.DiscoveryURL,
		iss.RefetchInterval.String(), iss.RefreshInterval.String()}, "\n")
}

// For returns the issuer's key set, creating it (unfetched) if needed; nil
// for an issuer with no key source (HS256 only).
func (r *Keyring) For(iss *Issuer) *KeySet {
	if iss.JWKSURL == "" && iss.DiscoveryURL == "" {
		return nil
	}
	k := setKey(iss)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ks := r.sets[k]; ks != nil {
		return ks
	}
	ks := &KeySet{r: r, name: iss.Name, iss: iss.Issuer, jwksURL: iss.JWKSURL, discoveryURL: iss.DiscoveryURL,
		refetch: iss.RefetchInterval, refresh: iss.RefreshInterval}
	r.sets[k] = ks
	if r.running {
		ks.startLoop(r.baseCtx)
	} else {
		ks.begin() // first fetch now, so the first request rarely waits
	}
	return ks
}

// Sync makes the keyring hold exactly the key sets of issuers: sets of
// issuers no longer configured (or configured differently) are stopped and
// dropped, new ones are created and fetched in the background.
func (r *Keyring) Sync(issuers []*Issuer) {
	keep := map[string]bool{}
	for _, iss := range issuers {
		if r.For(iss) != nil {
			keep[setKey(iss)] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, ks := range r.sets {
		if !keep[k] {
			ks.stopLoop()
			delete(r.sets, k)
		}
	}
}

// KeySet is one issuer's cached JWK set. Readers see an immutable state
// through an atomic pointer; fetches are single-flight.
type KeySet struct {
	r                     *Keyring
	name, iss             string
	jwksURL, discoveryURL string
	refetch, refresh      time.Duration

	state atomic.Pointer[keyState]

	mu          sync.Mutex
	inflight    *fetchCall
	lastAttempt time.Time
	lastErr     error
	failingFrom time.Time
	stop        context.CancelFunc
}

// keyState is an immutable snapshot of a fetched key set.
type keyState struct {
	byKid     map[string][]*jose.Key
	all       []*jose.Key
	kids      string // for traces: "k1, k2"
	source    string // the JWKS URL it came from
	fetchedAt time.Time
	gen       uint64 // bumped when the keys change, not on every fetch
	print     string // identity of the key set's content
}

type fetchCall struct {
	done chan struct{}
	err  error
}

func (ks *KeySet) current() *keyState { return ks.state.Load() }

// Refresh fetches the key set now (joining a fetch in flight) and returns
// its error. On error the previous keys stay in use (serve stale).
func (ks *KeySet) Refresh(ctx context.Context) error {
	c := ks.begin()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// begin starts a fetch, or returns the one in flight.
func (ks *KeySet) begin() *fetchCall {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.beginLocked()
}

func (ks *KeySet) beginLocked() *fetchCall {
	if ks.inflight != nil {
		return ks.inflight
	}
	c := &fetchCall{done: make(chan struct{})}
	ks.inflight = c
	ks.lastAttempt = ks.r.o.Clock.Now()
	go ks.run(c)
	return c
}

// tryFetch starts a fetch unless one was attempted less than RefetchInterval
// ago; a fetch in flight is joined. nil means "not now".
func (ks *KeySet) tryFetch() *fetchCall {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.inflight != nil {
		return ks.inflight
	}
	if !ks.lastAttempt.IsZero() && ks.r.o.Clock.Now().Sub(ks.lastAttempt) < ks.refetch {
		return nil
	}
	return ks.beginLocked()
}

// nextAttempt is when tryFetch will next start a fetch.
func (ks *KeySet) nextAttempt() time.Time {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.lastAttempt.Add(ks.refetch)
}

func (ks *KeySet) failure() (err error, since time.Time) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.lastErr, ks.failingFrom
}

func (ks *KeySet) run(c *fetchCall) {
	ctx, cancel := context.WithTimeout(ks.r.baseCtx, ks.r.o.FetchTimeout)
	st, skipped, err := ks.fetch(ctx)
	cancel()
	log := ks.r.o.Logger
	ks.mu.Lock()
	ks.inflight = nil
	if err != nil {
		if ks.lastErr == nil {
			ks.failingFrom = ks.r.o.Clock.Now()
		}
		ks.lastErr = err
		ks.mu.Unlock()
		stale := "no key set was ever fetched"
		if old := ks.current(); old != nil {
			stale = "serving the key set fetched at " + old.fetchedAt.UTC().Format(time.RFC3339)
		}
		log.Warn("jwt: key set fetch failed", slog.String("issuer", ks.name), slog.String("error", err.Error()),
			slog.String("state", stale))
	} else {
		ks.lastErr = nil
		old := ks.current()
		st.gen = 1
		if old != nil {
			st.gen = old.gen
			if old.print != st.print {
				st.gen++
			}
		}
		ks.state.Store(st)
		ks.mu.Unlock()
		if old == nil || old.print != st.print {
			log.Info("jwt: key set loaded", slog.String("issuer", ks.name), slog.String("source", st.source),
				slog.String("kids", st.kids), slog.Uint64("generation", st.gen))
		}
		for _, s := range skipped {
			log.Warn("jwt: key set entry skipped", slog.String("issuer", ks.name), slog.String("error", s.Error()))
		}
	}
	c.err = err
	close(c.done)
}

func (ks *KeySet) startLoop(base context.Context) {
	ctx, cancel := context.WithCancel(base)
	ks.mu.Lock()
	ks.stop = cancel
	ks.mu.Unlock()
	go ks.loop(ctx)
}

func (ks *KeySet) stopLoop() {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.stop != nil {
		ks.stop()
	}
}

// loop refreshes every RefreshInterval, and after a failure every
// RefetchInterval until a fetch succeeds again.
func (ks *KeySet) loop(ctx context.Context) {
	for {
		d := ks.refresh
		if err := ks.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			d = ks.refetch
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fetch resolves the JWKS URL (through discovery if configured) and loads
// the set. A set with no usable key is an error: replacing good keys with
// nothing would reject every token, so the old set is kept instead.
func (ks *KeySet) fetch(ctx context.Context) (*keyState, []error, error) {
	src := ks.jwksURL
	if src == "" {
		var err error
		if src, err = ks.discover(ctx); err != nil {
			return nil, nil, err
		}
	}
	body, err := ks.get(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	keys, skipped, err := jose.ParseJWKS(body)
	if err != nil {
		return nil, nil, fmt.Errorf("key set %s: %w", src, err)
	}
	if len(keys) == 0 {
		msg := "no usable key"
		if len(skipped) > 0 {
			msg += " (" + errors.Join(skipped...).Error() + ")"
		}
		return nil, nil, fmt.Errorf("key set %s: %s", src, msg)
	}
	st := &keyState{byKid: map[string][]*jose.Key{}, all: keys, source: src, fetchedAt: ks.r.o.Clock.Now()}
	var kids, prints []string
	for _, k := range keys {
		if k.HasKid {
			st.byKid[k.Kid] = append(st.byKid[k.Kid], k)
			kids = append(kids, strconv.Quote(k.Kid))
		} else {
			kids = append(kids, "(no kid)")
		}
		prints = append(prints, k.Kid+"\x00"+k.Alg+"\x00"+k.Thumbprint)
	}
	sort.Strings(prints)
	st.print = strings.Join(prints, "\n")
	st.kids = strings.Join(kids, ", ")
	return st, skipped, nil
}

// discover reads the OpenID provider configuration (OpenID Connect
// Discovery 1.0 §4) and returns its jwks_uri. The document's issuer must
// be the configured one (§4.3; RFC 8414 §3.3: a mix-up defence).
func (ks *KeySet) discover(ctx context.Context) (string, error) {
	u := ks.discoveryURL
	if !strings.Contains(u, "/.well-known/") {
		u = strings.TrimSuffix(u, "/") + "/.well-known/openid-configuration"
	}
	body, err := ks.get(ctx, u)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("discovery %s: %w", u, err)
	}
	if doc.Issuer != ks.iss {
		return "", fmt.Errorf("discovery %s: the document's issuer is %q, not the configured %q", u, doc.Issuer, ks.iss)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("discovery %s: no jwks_uri", u)
	}
	if err := checkURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery %s: jwks_uri: %w", u, err)
	}
	return doc.JWKSURI, nil
}

func (ks *KeySet) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := ks.r.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, ks.r.o.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(body)) > ks.r.o.MaxBodyBytes {
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", u, ks.r.o.MaxBodyBytes)
	}
	return body, nil
}

// KeySetStatus describes a key set for operators (admin API, CLI).
type KeySetStatus struct {
	Issuer      string    `json:"issuer"`
	Source      string    `json:"source,omitempty"`
	FetchedAt   time.Time `json:"fetched_at,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	FailingFrom time.Time `json:"failing_since,omitzero"`
	Kids        string    `json:"kids,omitempty"`
	Generation  uint64    `json:"generation"`
}

// Status reports the key set's state.
func (ks *KeySet) Status() KeySetStatus {
	s := KeySetStatus{Issuer: ks.name}
	if st := ks.current(); st != nil {
		s.Source, s.FetchedAt, s.Kids, s.Generation = st.source, st.fetchedAt, st.kids, st.gen
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	s.LastAttempt = ks.lastAttempt
	if ks.lastErr != nil {
		s.LastError = ks.lastErr.Error()
		s.FailingFrom = ks.failingFrom
	}
	return s
}
