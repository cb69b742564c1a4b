package jose

import "testing"

// BenchmarkParseCompact is the strict parse of the RFC 7515 A.2 token
// (header, claims, signature decoding): the non-crypto part of a
// first-seen token.
func BenchmarkParseCompact(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		j, err := ParseCompact(rfc7515A2, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseClaims(j.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignature is the signature check alone, per algorithm, on the
// official vectors: the crypto part of a first-seen token.
func BenchmarkSignature(b *testing.B) {
	for _, c := range []struct{ name, tok, alg, jwk string }{
		{"RS256", rfc7515A2, "RS256", rfc7515A2JWK},
		{"ES256", rfc7515A3, "ES256", rfc7515A3JWK},
		{"EdDSA", rfc8037A4, "EdDSA", rfc8037A2JWK},
		{"HS256", rfc7515A1, "HS256", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			j, _ := ParseCompact(c.tok, 0)
			var k *Key
			secret := mustB64(b, rfc7515A1Key)
			if c.jwk != "" {
				k = mustJWK(b, c.jwk)
			}
			b.ReportAllocs()
			for b.Loop() {
				var err *Error
				if k == nil {
					err = VerifyHS256(secret, j.SigningInput, j.Signature)
				} else {
					err = Verify(c.alg, k, j.SigningInput, j.Signature)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
