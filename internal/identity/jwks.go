package identity

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"gatehouse/internal/domain"
)

// JWKSPath is where both listeners serve the JWKS.
const JWKSPath = "/.well-known/gatehouse/jwks.json"

// jwksDoc is the rendered JWKS of one key set, valid until the next
// previous key leaves it.
type jwksDoc struct {
	set   *keySet
	body  []byte
	until time.Time // zero: valid as long as the set
	kids  []string
}

// JWKS is the document the JWKS endpoint serves at now: the current key
// first, then the next key, then the previous keys still within their
// grace period; public parts only.
func (s *Signer) JWKS(now time.Time) []byte { return s.jwksAt(now).body }

// JWKSKids lists the kids the JWKS publishes at now, current first.
func (s *Signer) JWKSKids(now time.Time) []string { return s.jwksAt(now).kids }

func (s *Signer) jwksAt(now time.Time) *jwksDoc {
	ks := s.keys.Load()
	if d := s.jwks.Load(); d != nil && d.set == ks && (d.until.IsZero() || now.Before(d.until)) {
		return d
	}
	d := &jwksDoc{set: ks}
	out := struct {
		Keys []JWK `json:"keys"`
	}{Keys: []JWK{}}
	if ks != nil {
		// Current first: a verifier that takes the first usable key
		// (some do, kid or not) then picks the signing one; next second.
		for _, state := range [...]string{domain.IdentityKeyCurrent, domain.IdentityKeyNext, domain.IdentityKeyPrevious} {
			for _, k := range ks.keys {
				if k.State != state || !published(k, now) {
					continue
				}
				out.Keys = append(out.Keys, jwkOf(k))
				d.kids = append(d.kids, k.KID)
				if k.PublishUntil != nil && (d.until.IsZero() || k.PublishUntil.Before(d.until)) {
					d.until = *k.PublishUntil
				}
			}
		}
	}
	d.body, _ = json.Marshal(out)
	d.body = append(d.body, '\n')
	s.jwks.Store(d)
	return d
}

// ServeHTTP serves the JWKS (GET and HEAD; anything else is 405). It is
// public: it holds public keys only. Cache-Control lets upstreams cache
// it for JWKSMaxAge; a rotated-out key stays in it for its grace period,
// which should be longer than that.
func (s *Signer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the JWKS is read with GET", http.StatusMethodNotAllowed)
		return
	}
	d := s.jwksAt(s.o.Clock.Now())
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.o.JWKSMaxAge/time.Second)))
	h.Set("Content-Length", strconv.Itoa(len(d.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(d.body)
}
