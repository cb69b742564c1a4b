// Package apikey verifies Gatehouse API keys (§3) and imported opaque keys.
//
// Order of checks, and why: every offline check (shape, alphabet, checksum,
// environment) runs before any lookup so that a garbage or typo'd key costs
// no more than a string scan; then the public id is looked up in the
// snapshot and the SHA-256 of the whole key compared in constant time. Only
// after that comparison succeeds has the caller proved possession, and only
// then does it learn the key's lifecycle (expired, revoked, rotated).
package apikey

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
)

// Verifier implements credential.Verifier for API keys.
type Verifier struct{}

var _ credential.Verifier = Verifier{}

// Method implements credential.Verifier.
func (Verifier) Method() string { return domain.AuthAPIKey }

// Recognizes accepts Bearer, ApiKey, X-API-Key and query credentials. A
// Bearer value that is shaped like a JWT is not an API key.
func (Verifier) Recognizes(p authheader.Credential) bool {
	switch p.Kind {
	case authheader.APIKeyScheme:
		return true
	case authheader.Bearer:
		return !LooksLikeJWT(p.Token)
	}
	return false
}

// LooksLikeJWT reports whether s has the compact JWS shape "eyJ….….…".
func LooksLikeJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2
}

const stage = "verify"

// Verify implements credential.Verifier.
func (Verifier) Verify(in *credential.Input) (credential.Identity, *reason.Error) {
	tok := in.Presented.Token
	t := in.Trace
	if !strings.HasPrefix(tok, keys.Prefix) && !keys.HasPrefix(tok) {
		// Not meant as a Gatehouse key: an imported opaque key, or garbage.
		if in.Snap.HasImportedKeys() {
			var k snapshot.Key
			if in.Snap.LookupImportedKey(sum(tok), &k) {
				t.Pass(stage, "key.imported", "imported key matched by hash")
				return lifecycle(in, &k)
			}
			t.Fail(stage, "key.lookup", "not a gk_ key and no imported key has this hash")
			return credential.Identity{}, reason.New(reason.KeyUnknown,
				"This is neither a Gatehouse key (gk_…) nor a key imported into this gateway.")
		}
	}
	env := in.Env
	if env == domain.EnvBoth {
		env = "" // both environments are served; services may pin one
	}
	parsed, perr := keys.Parse(tok, env)
	if perr != nil {
		t.Fail(stage, "key.format", perr.Detail)
		return credential.Identity{}, perr
	}
	t.Pass(stage, "key.format", "well-formed, checksum ok, environment ok")
	// The view lives on this stack frame: the lookup allocates nothing.
	var k snapshot.Key
	if !in.Snap.LookupKey(parsed.ID, &k) {
		t.Fail(stage, "key.lookup", "no key with this id")
		return credential.Identity{}, &reason.Error{Code: reason.KeyUnknown, CredentialID: parsed.ID,
			Detail: "Key " + keys.Prefix + parsed.Env + "_" + parsed.ID + " is not known to this gateway."}
	}
	s := sum(tok)
	if subtle.ConstantTimeCompare(s[:], k.Sum[:]) != 1 {
		// The caller proved nothing: it learns only "unknown", while the
		// operator learns the id exists.
		t.Fail(stage, "key.secret", "key not recognised")
		why := "id exists, but the secret does not match: an old secret of a rotated key, or a forged key?"
		if k.Successor != "" {
			why = "id exists, but the secret does not match; this key was rotated to " + k.Successor + ": an outdated copy?"
		}
		t.Private(stage, "key.secret", domain.OutcomeFail, why)
		return credential.Identity{}, &reason.Error{Code: reason.KeyUnknown, CredentialID: parsed.ID,
			Detail: "Key " + keys.Prefix + parsed.Env + "_" + parsed.ID + " is not known to this gateway.",
			Debug:  why}
	}
	t.Pass(stage, "key.secret", "secret matches (possession proven)")
	return lifecycle(in, &k)
}

// sum hashes a token without allocating for ordinary key lengths.
func sum(tok string) [32]byte {
	var buf [128]byte
	if len(tok) <= len(buf) {
		n := copy(buf[:], tok)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(tok))
}

// lifecycle checks revocation, rotation and expiry of a key whose
// possession is proven, in that order: a revoked key stays revoked even if
// it was also rotated or has expired.
func lifecycle(in *credential.Input, k *snapshot.Key) (credential.Identity, *reason.Error) {
	t := in.Trace
	now := in.Now
	// display(k) is built on refusals only: the allowed path needs no name.
	if k.RevokedAt != nil {
		d := display(k) + " was revoked at " + k.RevokedAt.UTC().Format(time.RFC3339)
		if k.RevokedReason != "" {
			d += ": " + k.RevokedReason
		}
		d += "."
		t.Fail(stage, "key.revoked", d)
		return credential.Identity{}, &reason.Error{Code: reason.KeyRevoked, Detail: d, CredentialID: k.ID, Possession: true,
			Hint: ownerHint(k)}
	}
	id := credential.Identity{
		Type: domain.AuthAPIKey, CredentialID: k.ID, Consumer: k.Consumer, Environment: k.Environment,
		Scopes: k.Scopes, ScopeHeader: k.ScopeHeader, ExpiresAt: k.ExpiresAt, IPAllow: k.IPAllow,
	}
	if k.Successor != "" && k.GraceUntil != nil {
		if !now.Before(*k.GraceUntil) {
			d := display(k) + " was replaced by key " + k.Successor + "; its grace period ended at " +
				k.GraceUntil.UTC().Format(time.RFC3339) + "."
			t.Fail(stage, "key.rotated", d)
			return credential.Identity{}, &reason.Error{Code: reason.KeyRotated, Detail: d, CredentialID: k.ID, Possession: true,
				Hint: "Switch to key " + k.Successor + "."}
		}
		id.RotatedHeader = `successor="` + k.Successor + `"; grace-until="` + k.GraceUntil.UTC().Format(time.RFC3339) + `"`
		t.Pass(stage, "key.rotated", "rotated, within grace: warning header sent")
	}
	if k.ExpiresAt != nil {
		if !now.Before(*k.ExpiresAt) {
			d := display(k) + " expired at " + k.ExpiresAt.UTC().Format(time.RFC3339) + " (" +
				now.Sub(*k.ExpiresAt).Round(time.Second).String() + " ago)."
			t.Fail(stage, "key.expiry", d)
			return credential.Identity{}, &reason.Error{Code: reason.KeyExpired, Detail: d, CredentialID: k.ID, Possession: true,
				Hint: ownerHint(k)}
		}
		if in.ExpiryWarning > 0 && k.ExpiresAt.Sub(now) <= in.ExpiryWarning {
			id.ExpiresHeader = k.ExpiresAt.UTC().Format(time.RFC3339)
			t.Pass(stage, "key.expiry", "expires soon: warning header sent")
		} else {
			t.Pass(stage, "key.expiry", "not expired")
		}
	}
	return id, nil
}

func display(k *snapshot.Key) string {
	if k.Imported {
		return "Imported key " + k.ID
	}
	return "Key " + keys.Prefix + k.Environment + "_" + k.ID
}

func ownerHint(k *snapshot.Key) string {
	return "Ask the owner of application '" + k.Consumer.Name + "' for a new key, or create one in the portal."
}
