package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Key is a public verification key from a JWK (RFC 7517).
type Key struct {
	Kid string
	// HasKid tells "kid":"" from no kid.
	HasKid bool
	// Kty is "RSA", "EC" or "OKP"; Crv the curve for EC and OKP.
	Kty string
	Crv string
	// Alg is the JWK's own alg restriction ("" for none): a key published
	// for RS256 is not used for PS256.
	Alg string
	// Public is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Public crypto.PublicKey
	// Thumbprint is the RFC 7638 SHA-256 thumbprint, base64url: a stable
	// public name for the key in traces, and how two key sets compare.
	Thumbprint string
}

// Describe names the key's type for details: "RSA 2048", "EC P-256",
// "OKP Ed25519".
func (k *Key) Describe() string {
	if r, ok := k.Public.(*rsa.PublicKey); ok {
		return fmt.Sprintf("RSA %d", r.N.BitLen())
	}
	return k.Kty + " " + k.Crv
}

// jwkJSON is a JWK's members. JWK sets come from the issuer's configured
// endpoint, not from the caller, so encoding/json's last-wins handling of
// duplicates is acceptable here; tokens go through the strict reader.
type jwkJSON struct {
	Kty    string   `json:"kty"`
	Kid    *string  `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"`
	K      string   `json:"k"`
	P      string   `json:"p"`
}

// MinRSABits is RFC 7518 §3.3's minimum modulus size.
const MinRSABits = 2048

// ParseJWK parses one public JWK. Private or symmetric key material, a
// key not meant for signatures (use, key_ops), an RSA key under 2048 bits,
// an EC point not on its curve and unsupported curves are errors.
func ParseJWK(raw []byte) (*Key, error) {
	var j jwkJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	return j.key()
}

func (j *jwkJSON) key() (*Key, error) {
	k := &Key{Kty: j.Kty, Crv: j.Crv, Alg: j.Alg}
	if j.Kid != nil {
		k.Kid, k.HasKid = *j.Kid, true
	}
	name := "jwk"
	if k.HasKid {
		name = fmt.Sprintf("jwk kid %q", k.Kid)
	}
	if j.D != "" || j.P != "" || j.K != "" {
		return nil, fmt.Errorf("%s: contains private or symmetric key material; a key set must publish public keys only", name)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("%s: use is %q, not \"sig\"", name, j.Use)
	}
	if j.KeyOps != nil {
		ok := false
		for _, op := range j.KeyOps {
			ok = ok || op == "verify"
		}
		if !ok {
			return nil, fmt.Errorf("%s: key_ops does not include \"verify\"", name)
		}
	}
	if j.Alg != "" {
		if _, ok := lookupAlg(j.Alg); !ok {
			return nil, fmt.Errorf("%s: alg %q is not a supported signature algorithm", name, j.Alg)
		}
	}
	var tp string
	switch j.Kty {
	case "RSA":
		n, err := decodeUint(j.N)
		if err != nil {
			return nil, fmt.Errorf("%s: n: %w", name, err)
		}
		e, err := decodeUint(j.E)
		if err != nil {
			return nil, fmt.Errorf("%s: e: %w", name, err)
		}
		if n.BitLen() < MinRSABits {
			return nil, fmt.Errorf("%s: RSA modulus is %d bits; RFC 7518 §3.3 requires at least %d", name, n.BitLen(), MinRSABits)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return nil, fmt.Errorf("%s: RSA exponent is not an odd number between 3 and 2^31-1", name)
		}
		k.Public = &rsa.PublicKey{N: n, E: int(e.Int64())}
		tp = `{"e":"` + b64.EncodeToString(e.Bytes()) + `","kty":"RSA","n":"` + b64.EncodeToString(n.Bytes()) + `"}`
	case "EC":
		curve, size := curveOf(j.Crv)
		if curve == nil {
			return nil, fmt.Errorf("%s: unsupported EC curve %q", name, j.Crv)
		}
		x, errX := b64.DecodeString(j.X)
		y, errY := b64.DecodeString(j.Y)
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return nil, fmt.Errorf("%s: x and y must be %d-byte base64url coordinates for %s", name, size, j.Crv)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		k.Public = pub
		tp = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("%s: unsupported OKP curve %q (only Ed25519)", name, j.Crv)
		}
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%s: x must be a 32-byte base64url Ed25519 public key", name)
		}
		k.Public = ed25519.PublicKey(x)
		tp = `{"crv":"Ed25519","kty":"OKP","x":"` + j.X + `"}`
	case "oct":
		return nil, fmt.Errorf("%s: symmetric (oct) keys are not taken from key sets; configure an HS256 secret instead", name)
	case "":
		return nil, fmt.Errorf("%s: no kty", name)
	default:
		return nil, fmt.Errorf("%s: unsupported kty %q", name, j.Kty)
	}
	sum := sha256.Sum256([]byte(tp))
	k.Thumbprint = b64.EncodeToString(sum[:])
	return k, nil
}

// decodeUint decodes a Base64urlUInt (RFC 7518 §2). Some issuers pad
// with '=' or add a leading zero octet; both are tolerated in key sets,
// which come from configuration, not from callers.
func decodeUint(s string) (*big.Int, error) {
	b, err := b64.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, errors.New("not base64url")
	}
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return new(big.Int).SetBytes(b), nil
}

func curveOf(crv string) (elliptic.Curve, int) {
	switch crv {
	case "P-256":
		return elliptic.P256(), 32
	case "P-384":
		return elliptic.P384(), 48
	case "P-521":
		return elliptic.P521(), 66
	}
	return nil, 0
}

// ParseJWKS parses a JWK Set (RFC 7517 §5). Keys that cannot be used are
// returned as skipped errors rather than failing the set: one odd key (an
// encryption key, an unsupported curve) must not take the issuer's other
// keys down with it. err is non-nil only when the document is not a set.
func ParseJWKS(raw []byte) (keys []*Key, skipped []error, err error) {
	var set struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, nil, fmt.Errorf("jwks: %w", err)
	}
	if set.Keys == nil {
		return nil, nil, errors.New("jwks: no \"keys\" member")
	}
	for i, r := range *set.Keys {
		k, err := ParseJWK(r)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		keys = append(keys, k)
	}
	return keys, skipped, nil
}
