package sigkey

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func vector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "rfc9421", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestParse covers each accepted encoding and each refusal, with the
// message an operator would see.
func TestParse(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	spki := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	p256x, p256y := p256.X.FillBytes(make([]byte, 32)), p256.Y.FillBytes(make([]byte, 32))
	edJWK := `{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`
	cases := []struct {
		desc   string
		alg    Algorithm
		data   string
		want   Algorithm
		errHas string
	}{
		{desc: "ed25519 SPKI PEM, inferred", data: string(vector(t, "test-key-ed25519.pub.pem")), want: Ed25519},
		{desc: "P-256 SPKI PEM, inferred", data: string(vector(t, "test-key-ecc-p256.pub.pem")), want: ECDSAP256SHA256},
		{desc: "RSA SPKI PEM with explicit PSS", alg: RSAPSSSHA512, data: string(vector(t, "test-key-rsa-pss.pub.pem")), want: RSAPSSSHA512},
		{desc: "RSA needs an explicit algorithm", data: string(vector(t, "test-key-rsa-pss.pub.pem")), errHas: "explicit algorithm"},
		{desc: "RSA SPKI as raw base64 DER", alg: RSAV15SHA256, data: base64.StdEncoding.EncodeToString(pemBytes(t, "test-key-rsa-pss.pub.pem")), want: RSAV15SHA256},
		{desc: "PKCS#1 RSA PUBLIC KEY", alg: RSAPSSSHA512, data: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(mustRSA(t).Public().(*rsa.PublicKey))})), want: RSAPSSSHA512},
		{desc: "ed25519 JWK (B.1.4's x)", data: edJWK, want: Ed25519},
		{desc: "ed25519 JWK with alg EdDSA", data: `{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`, want: Ed25519},
		{desc: "P-256 JWK", data: `{"kty":"EC","crv":"P-256","x":"` + b64u(p256x) + `","y":"` + b64u(p256y) + `"}`, want: ECDSAP256SHA256},
		{desc: "P-256 JWK off the curve", data: `{"kty":"EC","crv":"P-256","x":"` + b64u(p256x) + `","y":"` + b64u(p256x) + `"}`, errHas: "JWK point"},
		{desc: "RSA JWK with alg PS512", data: `{"kty":"RSA","alg":"PS512","n":"` + b64u(mustRSA(t).PublicKey.N.Bytes()) + `","e":"AQAB"}`, want: RSAPSSSHA512},
		{desc: "oct JWK is an HMAC secret", data: `{"kty":"oct","k":"` + b64u([]byte(strings.Repeat("s", 32))) + `"}`, want: HMACSHA256},
		{desc: "HMAC secret as base64 (B.1.5)", alg: HMACSHA256, data: string(vector(t, "test-shared-secret.b64")), want: HMACSHA256},
		{desc: "HMAC secret too short", alg: HMACSHA256, data: base64.StdEncoding.EncodeToString([]byte("short")), errHas: "at least 32"},
		{desc: "JWK alg contradicts the configured algorithm", alg: HMACSHA256, data: `{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`, errHas: "configured for hmac-sha256"},
		{desc: "ed25519 key configured as ecdsa", alg: ECDSAP256SHA256, data: edJWK, errHas: "cannot verify ecdsa-p256-sha256"},
		{desc: "public key configured as hmac", alg: HMACSHA256, data: string(vector(t, "test-key-ed25519.pub.pem")), errHas: "shared secret"},
		{desc: "JWK with private member d", data: `{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","d":"n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"}`, errHas: "private key material"},
		{desc: "PEM private key", data: string(vector(t, "test-key-ed25519.pem")), errHas: "register only the public key"},
		{desc: "EC private key", data: string(vector(t, "test-key-ecc-p256.pem")), errHas: "register only the public key"},
		{desc: "RSA below 2048 bits", alg: RSAPSSSHA512, data: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki(&rsa1024.PublicKey)})), errHas: "at least 2048"},
		{desc: "unknown algorithm", alg: "rsa-v1_5-sha1", data: string(vector(t, "test-key-rsa-pss.pub.pem")), errHas: "unsupported algorithm"},
		{desc: "two PEM blocks", data: string(vector(t, "test-key-ed25519.pub.pem")) + string(vector(t, "test-key-ecc-p256.pub.pem")), errHas: "more than one PEM block"},
		{desc: "garbage", data: "not a key!", errHas: "neither PEM, JWK nor base64"},
		{desc: "empty", data: "  ", errHas: "empty key"},
		{desc: "unsupported JWK curve", data: `{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}`, errHas: "P-521"},
		{desc: "unsupported JWK alg", data: `{"kty":"RSA","alg":"RS512","n":"AA","e":"AQAB"}`, errHas: "no RFC 9421 equivalent"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			k, err := Parse(c.alg, []byte(c.data))
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("err %v, want %q", err, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm() != c.want {
				t.Fatalf("algorithm %s, want %s", k.Algorithm(), c.want)
			}
		})
	}
}

var rsaKey *rsa.PrivateKey

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	if rsaKey == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaKey = k
	}
	return rsaKey
}

// TestVerifyErrors: wrong lengths are named, DER ECDSA is recognised,
// bad signatures are ErrSignatureInvalid.
func TestVerifyErrors(t *testing.T) {
	base := []byte("base")
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ek, err := New("", &p256.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(base)
	der, _ := ecdsa.SignASN1(rand.Reader, p256, digest[:])
	if err := ek.Verify(base, der); err == nil || !strings.Contains(err.Error(), "looks DER-encoded") {
		t.Fatalf("DER ECDSA: %v", err)
	}
	r, s, _ := ecdsa.Sign(rand.Reader, p256, digest[:])
	raw := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	if err := ek.Verify(base, raw); err != nil {
		t.Fatalf("raw r‖s: %v", err)
	}
	if err := ek.Verify([]byte("other"), raw); err != ErrSignatureInvalid {
		t.Fatalf("other base: %v", err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	edk, _ := New(Ed25519, pub)
	if err := edk.Verify(base, ed25519.Sign(priv, base)[:63]); err == nil || !strings.Contains(err.Error(), "64 bytes; this one is 63") {
		t.Fatalf("short ed25519: %v", err)
	}
	hk, _ := NewHMAC([]byte(strings.Repeat("k", 32)))
	if err := hk.Verify(base, make([]byte, 32)); err != ErrSignatureInvalid {
		t.Fatalf("zero MAC: %v", err)
	}
	pss, _ := New(RSAPSSSHA512, &mustRSA(t).PublicKey)
	if err := pss.Verify(base, make([]byte, 256)); err != ErrSignatureInvalid {
		t.Fatalf("zero PSS: %v", err)
	}
}

// TestParsePrivatePEM: the B.1.2 PSS-labelled PKCS#8 key unwraps; other
// private keys parse as crypto/x509 reads them.
func TestParsePrivatePEM(t *testing.T) {
	for _, name := range []string{"test-key-rsa-pss.pem", "test-key-ecc-p256.pem", "test-key-ed25519.pem"} {
		if _, err := ParsePrivatePEM(vector(t, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePrivatePEM([]byte("nope")); err == nil {
		t.Error("garbage parsed")
	}
}

func pemBytes(t *testing.T, name string) []byte {
	t.Helper()
	b, _ := pem.Decode(vector(t, name))
	if b == nil {
		t.Fatalf("%s: no PEM", name)
	}
	return b.Bytes
}
