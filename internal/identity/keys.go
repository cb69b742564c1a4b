package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
)

// AuditActor is the audit log's actor for the key the gateway creates on
// its first start (rotations are audited under the admin who asked).
const AuditActor = "gatehouse"

// Audit actions and resource of identity-key changes.
const (
	ActionCreate = "identity_key.create"
	ActionRotate = "identity_key.rotate"
	Resource     = "identity_key"
)

// JWK is the public half of an identity key as the JWKS publishes it
// (RFC 8037 OKP key).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// jwkOf is the JWKS entry of a stored key.
func jwkOf(k domain.IdentityKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: k.PublicKey, Kid: k.KID, Alg: domain.IdentityKeyEdDSA, Use: "sig"}
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key
// (RFC 8037 §2: the required members crv, kty, x in lexicographic order,
// no whitespace; SHA-256; base64url). It is the key's kid, so an upstream
// can check that a kid names the key it claims to.
func Thumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NewKey generates an Ed25519 key and seals its seed with box. The key is
// current and created at now.
func NewKey(box *secrets.Box, now time.Time) (domain.IdentityKey, error) {
	if box == nil {
		return domain.IdentityKey{}, errors.New("identity: no master key is loaded to seal the signing key with")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return domain.IdentityKey{}, fmt.Errorf("identity: generate key: %w", err)
	}
	sealed, err := box.Seal(priv.Seed())
	if err != nil {
		return domain.IdentityKey{}, fmt.Errorf("identity: seal key: %w", err)
	}
	return domain.IdentityKey{KID: Thumbprint(pub), Algorithm: domain.IdentityKeyEdDSA,
		PublicKey: base64.RawURLEncoding.EncodeToString(pub), PrivateKey: sealed,
		State: domain.IdentityKeyCurrent, CreatedAt: now.UTC().Truncate(time.Microsecond)}, nil
}

// openKey opens a stored key's seed and checks it against the stored
// public key and kid, so a row edited by hand (or sealed for another key)
// can never sign under a kid that does not verify it. Errors never carry
// key material.
func openKey(box *secrets.Box, k domain.IdentityKey) (ed25519.PrivateKey, error) {
	if k.Algorithm != domain.IdentityKeyEdDSA {
		return nil, fmt.Errorf("identity key %s: algorithm %q, this gateway signs with %s only", k.KID, k.Algorithm, domain.IdentityKeyEdDSA)
	}
	if box == nil {
		return nil, fmt.Errorf("identity key %s: no master key is loaded to open it", k.KID)
	}
	seed, err := box.Open(k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", k.KID, err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("identity key %s: the sealed seed has %d bytes, want %d", k.KID, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	clear(seed)
	pub := priv.Public().(ed25519.PublicKey)
	if base64.RawURLEncoding.EncodeToString(pub) != k.PublicKey || Thumbprint(pub) != k.KID {
		return nil, fmt.Errorf("identity key %s: the sealed private key does not match the stored public key and kid", k.KID)
	}
	return priv, nil
}

// KeyView is an identity key as the admin API and the audit log show it:
// public parts only. There is no field that could carry the private key.
type KeyView struct {
	KID       string `json:"kid"`
	Algorithm string `json:"algorithm"`
	// State is current (signs new tokens), next (published ahead, signs
	// from the next rotation), previous (published until publish_until so
	// tokens it signed still verify) or expired (a previous key past
	// publish_until, out of the JWKS, deleted at the next rotation).
	State        string     `json:"state"`
	CreatedAt    time.Time  `json:"created_at"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	PublishUntil *time.Time `json:"publish_until,omitempty"`
	// Published says whether the JWKS serves the key now.
	Published bool `json:"published"`
	JWK       JWK  `json:"jwk"`
}

// StateExpired is KeyView's state of a previous key out of the JWKS.
const StateExpired = "expired"

// ViewOf is the public view of k at now.
func ViewOf(k domain.IdentityKey, now time.Time) KeyView {
	v := KeyView{KID: k.KID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt,
		PublishUntil: k.PublishUntil, Published: published(k, now), JWK: jwkOf(k)}
	if k.State == domain.IdentityKeyPrevious && !v.Published {
		v.State = StateExpired
	}
	return v
}

// published reports whether the JWKS serves k at now: the current and
// next keys, and previous keys until their PublishUntil.
func published(k domain.IdentityKey, now time.Time) bool {
	switch k.State {
	case domain.IdentityKeyCurrent, domain.IdentityKeyNext:
		return true
	case domain.IdentityKeyPrevious:
		return k.PublishUntil != nil && now.Before(*k.PublishUntil)
	}
	return false
}

// keyTx is the identity-key part of a store transaction.
func keyTx(tx store.Tx) (store.IdentityKeyTx, error) {
	k, ok := tx.(store.IdentityKeyTx)
	if !ok {
		return nil, fmt.Errorf("identity: the store's transaction %T does not hold identity keys", tx)
	}
	return k, nil
}

func withState(keys []domain.IdentityKey, state string) *domain.IdentityKey {
	for i := range keys {
		if keys[i].State == state {
			return &keys[i]
		}
	}
	return nil
}

// complete reports whether keys hold both a current and a next key.
func complete(keys []domain.IdentityKey) bool {
	return withState(keys, domain.IdentityKeyCurrent) != nil && withState(keys, domain.IdentityKeyNext) != nil
}

// EnsureKey creates the gateway's signing keys when the store lacks them
// — the current one, and the next one published ahead of the first
// rotation — audited as the gateway itself. It runs on every start: a
// quick read when the keys exist (every later start, every other node);
// the creation runs in one Update that looks again first, and Update
// serialises transactions, so nodes starting together create one set.
// It returns the keys it created (none: nil).
func EnsureKey(ctx context.Context, st store.Store, box *secrets.Box, now time.Time) ([]domain.IdentityKey, error) {
	var have bool
	err := st.View(ctx, func(tx store.Tx) error {
		k, err := keyTx(tx)
		if err != nil {
			return err
		}
		keys, err := k.ListIdentityKeys(ctx)
		have = complete(keys)
		return err
	})
	if err != nil || have {
		return nil, err
	}
	var created []domain.IdentityKey
	err = st.Update(ctx, func(tx store.Tx) error {
		created = nil
		k, err := keyTx(tx)
		if err != nil {
			return err
		}
		keys, err := k.ListIdentityKeys(ctx)
		if err != nil || complete(keys) {
			return err
		}
		for _, state := range []string{domain.IdentityKeyCurrent, domain.IdentityKeyNext} {
			if withState(keys, state) != nil {
				continue
			}
			nk, err := NewKey(box, now)
			if err != nil {
				return err
			}
			nk.State = state
			if err := k.PutIdentityKey(ctx, nk); err != nil {
				return err
			}
			created = append(created, nk)
		}
		views := make([]KeyView, len(created))
		for i, c := range created {
			views[i] = ViewOf(c, now)
		}
		after, err := json.Marshal(views)
		if err != nil {
			return fmt.Errorf("identity: audit: %w", err)
		}
		return tx.Audit(ctx, domain.AuditEntry{At: now, Actor: AuditActor, Action: ActionCreate, Resource: Resource,
			ResourceID: created[0].KID, After: after})
	})
	if err != nil {
		return nil, fmt.Errorf("identity: create the signing keys: %w", err)
	}
	return created, nil
}

// Rotation is what Rotate changed.
type Rotation struct {
	// Current is the new signing key: the next key published since the
	// previous rotation (or first start), or a fresh key when there was
	// none or the grace is 0.
	Current domain.IdentityKey
	// Next is the fresh key published from now on, current from the
	// next rotation.
	Next domain.IdentityKey
	// Retired is the key that signed until now (nil when there was none
	// or the grace is 0), published until its PublishUntil.
	Retired *domain.IdentityKey
	// Deleted are the kids of keys removed from the store: previous keys
	// past their publication, and with grace 0 every old key.
	Deleted []string
}

// MaxGrace bounds a rotation's grace period: a retired key published for
// longer than a month is a key nobody retired.
const MaxGrace = 30 * 24 * time.Hour

// Rotate rotates the keys inside tx; the caller audits the change in the
// same transaction.
//
// With grace > 0 (the routine rotation) the next key, published since the
// last rotation, becomes current; the current key becomes previous,
// published for grace more so tokens it signed keep verifying; a fresh
// next key is published; previous keys past their publication are
// deleted.
//
// With grace 0 (a key leaked) every old key is deleted — the current, the
// next (stored and sealed like it) and the previous ones: nothing they
// signed verifies once the upstreams refetch the JWKS. A fresh current key
// signs at once and a fresh next key is published.
func Rotate(ctx context.Context, tx store.Tx, box *secrets.Box, now time.Time, grace time.Duration) (Rotation, error) {
	if grace < 0 || grace > MaxGrace {
		return Rotation{}, fmt.Errorf("identity: grace %s must be from 0 to %s", grace, MaxGrace)
	}
	k, err := keyTx(tx)
	if err != nil {
		return Rotation{}, err
	}
	keys, err := k.ListIdentityKeys(ctx)
	if err != nil {
		return Rotation{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	var r Rotation
	var promote *domain.IdentityKey
	for _, old := range keys {
		switch {
		case grace > 0 && old.State == domain.IdentityKeyCurrent:
			until := now.Add(grace)
			old.State, old.RetiredAt, old.PublishUntil = domain.IdentityKeyPrevious, &now, &until
			if err := k.PutIdentityKey(ctx, old); err != nil {
				return Rotation{}, err
			}
			r.Retired = &old
		case grace > 0 && old.State == domain.IdentityKeyNext && promote == nil:
			promote = &old
		case grace > 0 && old.State == domain.IdentityKeyPrevious && published(old, now):
		default:
			if err := k.DeleteIdentityKey(ctx, old.KID); err != nil {
				return Rotation{}, err
			}
			r.Deleted = append(r.Deleted, old.KID)
		}
	}
	if promote != nil {
		r.Current = *promote
		r.Current.State = domain.IdentityKeyCurrent
	} else if r.Current, err = NewKey(box, now); err != nil {
		return Rotation{}, err
	}
	if err := k.PutIdentityKey(ctx, r.Current); err != nil {
		return Rotation{}, err
	}
	if r.Next, err = NewKey(box, now); err != nil {
		return Rotation{}, err
	}
	r.Next.State = domain.IdentityKeyNext
	if err := k.PutIdentityKey(ctx, r.Next); err != nil {
		return Rotation{}, err
	}
	return r, nil
}
