package jose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
)

// Official vectors, from /work/shared/reference/auth-vectors.md §A.3 (each
// recomputed there against the RFC text).
const (
	// RFC 7515 A.1–A.3 share this payload: {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}
	rfc7515Payload = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

	rfc7515A1 = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + rfc7515Payload + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	// RFC 7515 A.1 key (JWK oct k).
	rfc7515A1Key = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"

	rfc7515A2 = "eyJhbGciOiJSUzI1NiJ9." + rfc7515Payload + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
	// RFC 7515 A.2.1 public key.
	rfc7515A2JWK = `{"kty":"RSA","kid":"rfc7515-a2","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}`

	rfc7515A3 = "eyJhbGciOiJFUzI1NiJ9." + rfc7515Payload + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
	// RFC 7515 A.3.1 public key.
	rfc7515A3JWK = `{"kty":"EC","kid":"rfc7515-a3","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`

	// RFC 8037 A.4: Ed25519 over the payload "Example of Ed25519 signing".
	rfc8037A4    = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	rfc8037A2JWK = `{"kty":"OKP","kid":"rfc8037","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`

	// RFC 7520 4.4: HS256 with the cookbook's symmetric key (3.5).
	rfc7520Payload = "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
	rfc7520_44     = "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9." + rfc7520Payload + ".s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0"
	rfc7520Key     = "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"
)

func mustJWK(t testing.TB, s string) *Key {
	t.Helper()
	k, err := ParseJWK([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flipSig changes one bit of the signature (the first byte of the last
// segment), keeping the encoding valid.
func flipSig(t testing.TB, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig := mustB64(t, tok[i+1:])
	sig[0] ^= 1
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func TestOfficialVectors(t *testing.T) {
	cases := []struct {
		desc    string
		tok     string
		alg     string
		jwk     string // asymmetric key
		secret  string // HS256 key, base64url
		payload string // expected decoded payload prefix
		kid     string
	}{
		{desc: "RFC 7515 A.1 HS256 (header with CRLF and a space)", tok: rfc7515A1, alg: "HS256", secret: rfc7515A1Key, payload: "{\"iss\":\"joe\",\r\n \"exp\":1300819380"},
		{desc: "RFC 7515 A.2 RS256", tok: rfc7515A2, alg: "RS256", jwk: rfc7515A2JWK, payload: "{\"iss\":\"joe\""},
		{desc: "RFC 7515 A.3 ES256", tok: rfc7515A3, alg: "ES256", jwk: rfc7515A3JWK, payload: "{\"iss\":\"joe\""},
		{desc: "RFC 8037 A.4 Ed25519 (alg EdDSA)", tok: rfc8037A4, alg: "EdDSA", jwk: rfc8037A2JWK, payload: "Example of Ed25519 signing"},
		{desc: "RFC 7520 4.4 HS256 with kid", tok: rfc7520_44, alg: "HS256", secret: rfc7520Key, payload: "It\u2019s a dangerous business, Frodo", kid: "018c0ae5-4d9b-471b-bfd6-eef314bc7037"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			verify := func(tok string) *Error {
				j, err := ParseCompact(tok, 0)
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if j.Header.Alg != c.alg || j.Header.Kid != c.kid {
					t.Fatalf("header alg %q kid %q, want %q %q", j.Header.Alg, j.Header.Kid, c.alg, c.kid)
				}
				if !strings.HasPrefix(string(j.Payload), c.payload) {
					t.Fatalf("payload %q does not start with %q", j.Payload, c.payload)
				}
				if c.secret != "" {
					return VerifyHS256(mustB64(t, c.secret), j.SigningInput, j.Signature)
				}
				k := mustJWK(t, c.jwk)
				if e := KeyFits(c.alg, k); e != nil {
					t.Fatalf("key does not fit: %v", e)
				}
				return Verify(c.alg, k, j.SigningInput, j.Signature)
			}
			if err := verify(c.tok); err != nil {
				t.Fatalf("official vector rejected: %v", err)
			}
			if err := verify(flipSig(t, c.tok)); err == nil || err.Code != CodeSignatureInvalid {
				t.Fatalf("one flipped signature bit: got %v, want %s", err, CodeSignatureInvalid)
			}
		})
	}
}

// RFC 7638 §3.1 and RFC 8037 A.3 thumbprints.
func TestThumbprints(t *testing.T) {
	cases := []struct{ desc, jwk, want string }{
		{"RFC 7638 3.1 RSA example", `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"RFC 8037 A.3 Ed25519", rfc8037A2JWK, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	}
	for _, c := range cases {
		if got := mustJWK(t, c.jwk).Thumbprint; got != c.want {
			t.Errorf("%s: thumbprint %s, want %s", c.desc, got, c.want)
		}
	}
}

func TestParseJWK(t *testing.T) {
	ec := func(crv string, c elliptic.Curve, size int) string {
		k, _ := ecdsa.GenerateKey(c, rand.Reader)
		x := make([]byte, size)
		y := make([]byte, size)
		k.X.FillBytes(x)
		k.Y.FillBytes(y)
		return `{"kty":"EC","crv":"` + crv + `","x":"` + base64.RawURLEncoding.EncodeToString(x) + `","y":"` + base64.RawURLEncoding.EncodeToString(y) + `"}`
	}
	offCurve := `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1"}`
	small := `{"kty":"RSA","n":"` + base64.RawURLEncoding.EncodeToString(new(big.Int).Lsh(big.NewInt(1), 1023).Bytes()) + `","e":"AQAB"}`
	cases := []struct {
		desc    string
		jwk     string
		wantErr string // "" means it parses
	}{
		{desc: "RSA public key", jwk: rfc7515A2JWK},
		{desc: "EC P-256", jwk: ec("P-256", elliptic.P256(), 32)},
		{desc: "EC P-384", jwk: ec("P-384", elliptic.P384(), 48)},
		{desc: "EC P-521", jwk: ec("P-521", elliptic.P521(), 66)},
		{desc: "Ed25519", jwk: rfc8037A2JWK},
		{desc: "point not on the curve", jwk: offCurve, wantErr: "jwk"},
		{desc: "RSA under 2048 bits", jwk: small, wantErr: "at least 2048"},
		{desc: "private key material", jwk: `{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, wantErr: "private"},
		{desc: "symmetric key", jwk: `{"kty":"oct","k":"` + rfc7520Key + `"}`, wantErr: "private or symmetric"},
		{desc: "encryption key", jwk: strings.Replace(rfc7515A2JWK, `"kty"`, `"use":"enc","kty"`, 1), wantErr: `use is "enc"`},
		{desc: "key_ops without verify", jwk: strings.Replace(rfc7515A2JWK, `"kty"`, `"key_ops":["encrypt"],"kty"`, 1), wantErr: "key_ops"},
		{desc: "Ed448", jwk: `{"kty":"OKP","crv":"Ed448","x":"AAAA"}`, wantErr: "Ed448"},
		{desc: "EC coordinate too short", jwk: `{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}`, wantErr: "32-byte"},
		{desc: "unknown kty", jwk: `{"kty":"XYZ"}`, wantErr: "unsupported kty"},
		{desc: "unsupported alg", jwk: strings.Replace(rfc7515A2JWK, `"kty"`, `"alg":"RSA-OAEP","kty"`, 1), wantErr: "not a supported"},
	}
	for _, c := range cases {
		_, err := ParseJWK([]byte(c.jwk))
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.desc, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", c.desc, err, c.wantErr)
		}
	}
	keys, skipped, err := ParseJWKS([]byte(`{"keys":[` + rfc7515A2JWK + `,{"kty":"oct","k":"AAAA"},` + rfc7515A3JWK + `]}`))
	if err != nil || len(keys) != 2 || len(skipped) != 1 {
		t.Errorf("JWKS with one unusable key: %d keys, %d skipped, %v; want 2, 1, nil", len(keys), len(skipped), err)
	}
	if _, _, err := ParseJWKS([]byte(`{"kids":[]}`)); err == nil {
		t.Error("a document without keys was accepted as a JWK set")
	}
}
