// Package identity signs the gateway's identity token (§8): on services
// that opt in (domain.IdentityJWT), every forwarded request carries
// X-Gatehouse-Identity, a short-lived JWT naming the tenant, consumer,
// credential and scopes the gateway admitted, signed with an Ed25519 key
// (EdDSA, RFC 8037) whose public half the gateway publishes as a JWKS at
// /.well-known/gatehouse/jwks.json. An upstream that verifies it needs no
// trust in the network between gateway and upstream: the plain
// X-Gatehouse-* fields are only as good as that network.
//
// # Keys
//
// The signing key lives in the store (identity_keys), its seed sealed
// under the master key, so every node of a cluster signs with the same
// key and serves the same JWKS. EnsureKey creates it on first start;
// Rotate makes a new one current and keeps the old one published for a
// grace period, so an upstream that cached the JWKS goes on verifying the
// tokens already issued. The kid is the key's RFC 7638 thumbprint. Signer
// follows the store through Sync (on every snapshot reload), so a rotation
// on one node reaches the others with the change feed.
//
// # Cost
//
// Signing costs tens of microseconds; the request path does not sign per
// request. Token caches one token per (service, credential, scopes) in a
// bounded, sharded map (a read lock per lookup, no global lock, no store
// query, no allocation on a hit) and reuses it until half its lifetime has
// passed, then signs a fresh one. A reused token cannot carry the request
// id, so the token has no per-request claim: upstreams correlate a token
// with a request through X-Request-Id, which the gateway sends next to
// it. jti is unique per token, not per request.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/secrets"
)

// Defaults.
const (
	// DefaultTTL is a token's lifetime when the service sets none.
	DefaultTTL = 60 * time.Second
	// MinTTL and MaxTTL bound a service's ttl: shorter leaves no time to
	// reuse a token, longer is no longer short-lived.
	MinTTL = 10 * time.Second
	MaxTTL = time.Hour
	// DefaultCacheSize bounds the cached tokens (about 1 KB each).
	DefaultCacheSize = 65536
	// DefaultJWKSMaxAge is the JWKS's Cache-Control max-age.
	DefaultJWKSMaxAge = 5 * time.Minute
	// DefaultIssuer is "iss" when neither identity.issuer nor public_url
	// is configured.
	DefaultIssuer = "gatehouse"
	// NotBeforeSkew backdates nbf, so an upstream whose clock runs a few
	// seconds behind the gateway's accepts a token the moment it arrives.
	NotBeforeSkew = 10 * time.Second
)

// shards is the number of cache shards (a power of two).
const shards = 64

// ErrNoKey is returned (wrapped) by Token when there is no usable signing
// key: none loaded yet, or the current one could not be opened.
var ErrNoKey = errors.New("identity: no usable signing key")

// Options configure a Signer.
type Options struct {
	// Box opens the sealed private keys.
	Box *secrets.Box
	// Issuer is every token's "iss" (default DefaultIssuer).
	Issuer string
	// CacheSize bounds the cached tokens (default DefaultCacheSize).
	CacheSize int
	// JWKSMaxAge is the JWKS's Cache-Control max-age (default
	// DefaultJWKSMaxAge).
	JWKSMaxAge time.Duration
	Clock      clock.Clock
	Logger     *slog.Logger
}

// Signer signs identity tokens and serves the JWKS. Safe for concurrent
// use; Token and the JWKS handler never block on Sync.
type Signer struct {
	o    Options
	keys atomic.Pointer[keySet]
	jwks atomic.Pointer[jwksDoc]
	seed maphash.Seed
	sh   [shards]shard
	// opened remembers keys already opened, by kid and sealed value, so a
	// reload does not decrypt them again (Sync only).
	mu     sync.Mutex
	opened map[string]*signingKey
}

// keySet is one immutable view of the stored keys.
type keySet struct {
	// current signs; nil when there is none or it could not be opened
	// (why: in problem).
	current *signingKey
	problem string
	// keys are every stored key, newest first, for the JWKS.
	keys []domain.IdentityKey
}

// signingKey is an opened current key.
type signingKey struct {
	kid    string
	sealed string
	priv   ed25519.PrivateKey
	// header is the token's encoded JOSE header, the same for every token
	// of this key.
	header string
}

// New returns a Signer with no keys (Token fails with ErrNoKey and the
// JWKS is empty until Sync).
func New(o Options) *Signer {
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.JWKSMaxAge <= 0 {
		o.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Signer{o: o, seed: maphash.MakeSeed(), opened: map[string]*signingKey{}}
	per := max(o.CacheSize/shards, 1)
	for i := range s.sh {
		s.sh[i].m = make(map[cacheKey]*entry)
		s.sh[i].max = per
	}
	return s
}

// Issuer is the "iss" of every token.
func (s *Signer) Issuer() string { return s.o.Issuer }

// Sync makes keys (the store's, newest first, as store.Data carries them)
// the signer's: the current one signs from the next Token on, and the
// JWKS publishes the current and previous ones. A current key that cannot
// be opened is logged (never its material) and leaves the signer without
// a signing key, so services that want a token fail closed rather than
// forward without one.
func (s *Signer) Sync(keys []domain.IdentityKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ks := &keySet{keys: keys}
	opened := make(map[string]*signingKey, 1)
	for _, k := range keys {
		if k.State != domain.IdentityKeyCurrent {
			continue
		}
		if sk := s.opened[k.KID]; sk != nil && sk.sealed == k.PrivateKey {
			ks.current = sk
		} else if priv, err := openKey(s.o.Box, k); err != nil {
			ks.problem = err.Error()
			s.o.Logger.Error("identity: the current signing key cannot be used; services with identity_jwt answer 500 until it can",
				"kid", k.KID, "err", err)
		} else {
			ks.current = newSigningKey(k, priv)
		}
		if ks.current != nil {
			opened[k.KID] = ks.current
		}
	}
	if ks.current == nil && ks.problem == "" {
		ks.problem = "the store holds no current identity key"
	}
	s.opened = opened
	s.keys.Store(ks)
}

func newSigningKey(k domain.IdentityKey, priv ed25519.PrivateKey) *signingKey {
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{domain.IdentityKeyEdDSA, k.KID, "JWT"})
	return &signingKey{kid: k.KID, sealed: k.PrivateKey, priv: priv, header: base64.RawURLEncoding.EncodeToString(h)}
}

// CurrentKID is the kid new tokens are signed with ("" when none).
func (s *Signer) CurrentKID() string {
	if ks := s.keys.Load(); ks != nil && ks.current != nil {
		return ks.current.kid
	}
	return ""
}

// Subject is what one token says: who was admitted, through what, for
// which service. Every field but Scopes is set by the caller.
type Subject struct {
	// ServiceID keys the cache; Audience is "aud".
	ServiceID string
	Audience  string
	// TTL is the token's lifetime (exp − iat), rounded down to seconds;
	// below MinTTL (zero included) means DefaultTTL.
	TTL time.Duration
	// TenantID is "tenant_id"; Tenant the tenant's slug ("tenant", as
	// X-Gatehouse-Tenant).
	TenantID, Tenant string
	// ConsumerID is "sub"; Consumer the consumer's name ("consumer", as
	// X-Gatehouse-Consumer).
	ConsumerID, Consumer string
	// CredentialID and CredentialType are "credential_id" and
	// "credential_type".
	CredentialID, CredentialType string
	// Scopes is "scope": space-separated, as X-Gatehouse-Scopes (omitted
	// when empty).
	Scopes string
}

// Claims is the identity token's claim set, in the order it is written.
type Claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`
	// ID is unique per token (not per request: a token serves many).
	ID             string `json:"jti"`
	Tenant         string `json:"tenant"`
	TenantID       string `json:"tenant_id"`
	Consumer       string `json:"consumer"`
	CredentialID   string `json:"credential_id"`
	CredentialType string `json:"credential_type"`
	Scope          string `json:"scope,omitempty"`
}

// cacheKey is what a token is reused for. The consumer, tenant and
// credential type follow from the credential; they are compared on a hit
// (entry.matches) so a rename is never served a stale token.
type cacheKey struct{ service, credential, scopes string }

type entry struct {
	token string
	key   *signingKey
	sub   Subject
	// issued and refresh are unix nanoseconds: a hit is served while
	// issued <= now < refresh.
	issued, refresh int64
}

func (e *entry) matches(sub *Subject) bool {
	return e.sub.Audience == sub.Audience && e.sub.TTL == sub.TTL && e.sub.ConsumerID == sub.ConsumerID &&
		e.sub.Consumer == sub.Consumer && e.sub.TenantID == sub.TenantID && e.sub.Tenant == sub.Tenant &&
		e.sub.CredentialType == sub.CredentialType
}

type shard struct {
	mu  sync.RWMutex
	m   map[cacheKey]*entry
	max int
	_   [40]byte // keep shards' locks on separate cache lines
}

// Token returns the identity token for sub at now: the cached one while
// it is less than half its lifetime old and signed by the current key,
// else a freshly signed one. The error wraps ErrNoKey when there is no
// usable key.
// Problem says why the signer has no signing key ("" when it has one): a
// services with identity_jwt then answers gateway.internal, so readiness
// reports it.
func (s *Signer) Problem() string {
	ks := s.keys.Load()
	switch {
	case ks == nil:
		return "no key loaded yet"
	case ks.current == nil:
		return ks.problem
	}
	return ""
}

func (s *Signer) Token(sub *Subject, now time.Time) (string, error) {
	ks := s.keys.Load()
	if ks == nil || ks.current == nil {
		problem := "no key loaded yet"
		if ks != nil {
			problem = ks.problem
		}
		return "", fmt.Errorf("%w: %s", ErrNoKey, problem)
	}
	ck := cacheKey{sub.ServiceID, sub.CredentialID, sub.Scopes}
	sh := &s.sh[maphash.String(s.seed, sub.CredentialID)&(shards-1)]
	n := now.UnixNano()
	sh.mu.RLock()
	e := sh.m[ck]
	sh.mu.RUnlock()
	if e != nil && e.key == ks.current && e.issued <= n && n < e.refresh && e.matches(sub) {
		return e.token, nil
	}
	e, err := s.sign(ks.current, sub, now)
	if err != nil {
		return "", err
	}
	sh.put(ck, e, n)
	return e.token, nil
}

// put stores e, evicting when the shard is full: a stale entry if one of
// the first few looked at is, else whichever came first (map order is
// random, so this is random eviction, O(1)).
func (sh *shard) put(k cacheKey, e *entry, now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[k]; !ok && len(sh.m) >= sh.max {
		var victim cacheKey
		looked := 0
		for vk, ve := range sh.m {
			if looked == 0 {
				victim = vk
			}
			if ve.refresh <= now {
				victim = vk
				break
			}
			if looked++; looked == 8 {
				break
			}
		}
		delete(sh.m, victim)
	}
	sh.m[k] = e
}

// ttlOf is the lifetime a token for sub gets.
func ttlOf(sub *Subject) time.Duration {
	if sub.TTL < MinTTL {
		return DefaultTTL
	}
	return min(sub.TTL, MaxTTL).Truncate(time.Second)
}

// sign signs a new token for sub at now.
func (s *Signer) sign(k *signingKey, sub *Subject, now time.Time) (*entry, error) {
	ttl := ttlOf(sub)
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return nil, fmt.Errorf("identity: jti: %w", err)
	}
	iat := now.Unix()
	payload, err := json.Marshal(Claims{Issuer: s.o.Issuer, Subject: sub.ConsumerID, Audience: sub.Audience,
		IssuedAt: iat, NotBefore: iat - int64(NotBeforeSkew/time.Second), Expires: iat + int64(ttl/time.Second),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]), Tenant: sub.Tenant, TenantID: sub.TenantID, Consumer: sub.Consumer,
		CredentialID: sub.CredentialID, CredentialType: sub.CredentialType, Scope: sub.Scopes})
	if err != nil {
		return nil, fmt.Errorf("identity: claims: %w", err)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(k.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(ed25519.SignatureSize))
	buf = append(buf, k.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig := ed25519.Sign(k.priv, buf)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	n := now.UnixNano()
	return &entry{token: string(buf), key: k, sub: *sub, issued: n, refresh: n + int64(ttl/2)}, nil
}
