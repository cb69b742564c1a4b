package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

// Object ids are a type prefix plus 16 random base62 characters (≈95 bits
// from crypto/rand), e.g. "ten_3kTMd92VbQx0aZpL". The prefix makes an id
// self-describing in logs and audit entries, and keeps ids apart from
// slugs and names (slugs have no "_"), so a reference can be tried as an id
// first and as a name second. API keys are the exception: their id is the
// 12-character id inside the key (internal/keys).
const (
	prefixTenant   = "ten_"
	prefixConsumer = "con_"
	prefixService  = "svc_"
	prefixRoute    = "rte_"
	prefixAdmin    = "adm_"
	// Subscriptions, issuers, credentials and events (webhook payloads).
	prefixSubscription = "sub_"
	prefixIssuer       = "iss_"
	prefixCredential   = "crd_"
	prefixEvent        = "evt_"
	// The AI gateway's providers, models, budgets and prompts.
	prefixProvider = "prv_"
	prefixModel    = "mdl_"
	prefixBudget   = "bdg_"
	prefixPrompt   = "prm_"
	idRandomLen    = 16
)

// Admin tokens are "gha_" plus 40 base62 characters (≈238 bits). Only
// their SHA-256 is stored.
const (
	tokenPrefix    = "gha_"
	tokenRandomLen = 40
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n characters drawn uniformly from base62 (rejection
// sampling: bytes ≥ 248 are redrawn so no character is favoured).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

func newID(prefix string) (string, error) {
	r, err := randomBase62(idRandomLen)
	if err != nil {
		return "", err
	}
	return prefix + r, nil
}

// newToken returns a fresh admin token (shown once) and its hash.
func newToken() (token, hash string, err error) {
	r, err := randomBase62(tokenRandomLen)
	if err != nil {
		return "", "", err
	}
	token = tokenPrefix + r
	return token, hashToken(token), nil
}

// hashToken is the stored form of an admin token: lowercase hex SHA-256.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// hashesEqual compares two hashes in constant time, so a lookup that found
// a row by index cannot be confirmed faster or slower depending on how
// much of the hash matched.
func hashesEqual(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
