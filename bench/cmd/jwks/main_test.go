package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The token must verify against the key the endpoint serves (fetched over
// real HTTP, as Gatehouse does), and a token signed by another key must not.
func TestTokenVerifiesAgainstServedKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler(&key.PublicKey))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kid, N, E, Alg string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 || set.Keys[0].Kid != kid || set.Keys[0].Alg != "RS256" {
		t.Fatalf("jwks %+v %v", set, err)
	}
	n, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].N)
	e, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].E)
	served := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}

	cases := []struct {
		desc   string
		signer *rsa.PrivateKey
		valid  bool
	}{
		{"signed with the served key", key, true},
		{"signed with another key", other, false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			tok, err := sign(tc.signer, map[string]any{"iss": "i", "sub": "bench", "exp": 1})
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(tok, ".")
			if len(parts) != 3 {
				t.Fatalf("token %q", tok)
			}
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			if err := rsa.VerifyPKCS1v15(served, crypto.SHA256, sum[:], sig); (err == nil) != tc.valid {
				t.Fatalf("verify: %v, want valid=%v", err, tc.valid)
			}
		})
	}
}
