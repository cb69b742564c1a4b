package identity

import (
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/domain"
)

func benchSigner(b *testing.B) *Signer {
	b.Helper()
	box := testBox(b, 1)
	s := New(Options{Box: box})
	s.Sync([]domain.IdentityKey{newKey(b, box, domain.IdentityKeyCurrent)})
	return s
}

// BenchmarkTokenCached is the request path for a caller seen before: one
// sharded-map lookup under a read lock, no signing, no allocation.
func BenchmarkTokenCached(b *testing.B) {
	s := benchSigner(b)
	sub := subject()
	if _, err := s.Token(sub, t0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Token(sub, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenCachedParallel: the same across every P, 1000 callers
// spread over the shards.
func BenchmarkTokenCachedParallel(b *testing.B) {
	s := benchSigner(b)
	subs := make([]*Subject, 1000)
	for i := range subs {
		subs[i] = subject()
		subs[i].CredentialID = fmt.Sprintf("cred-%04d", i)
		if _, err := s.Token(subs[i], t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Token(subs[i%len(subs)], t0); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkTokenSign is a caller's first request (or the first after half
// the token's lifetime): claims, Ed25519 signature, cache insert.
func BenchmarkTokenSign(b *testing.B) {
	s := benchSigner(b)
	sub := subject()
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		// Each iteration half a lifetime later: the cached token is stale.
		now = now.Add(30 * time.Second)
		if _, err := s.Token(sub, now); err != nil {
			b.Fatal(err)
		}
	}
}
