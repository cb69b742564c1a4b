package admin

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
)

// Key kinds of an hmac credential's public key, and the RFC 9421
// algorithms each may sign with (the first is the default).
const (
	keyKindEd25519 = "Ed25519"
	keyKindP256    = "EC P-256"
	keyKindP384    = "EC P-384"
	keyKindRSA     = "RSA"
)

// RFC 9421 signature algorithms (the HTTP Signature Algorithms registry).
const (
	algHMACSHA256  = "hmac-sha256"
	algEd25519     = "ed25519"
	algECDSAP256   = "ecdsa-p256-sha256"
	algECDSAP384   = "ecdsa-p384-sha384"
	algRSAPSS512   = "rsa-pss-sha512"
	algRSAV15SHA   = "rsa-v1_5-sha256"
	minRSAKeyBits  = 2048
	maxPublicKeyLn = 16 << 10
)

var sigAlgorithms = map[string][]string{
	"":             {algHMACSHA256},
	keyKindEd25519: {algEd25519},
	keyKindP256:    {algECDSAP256},
	keyKindP384:    {algECDSAP384},
	keyKindRSA:     {algRSAPSS512, algRSAV15SHA},
}

// publicKeyKind parses a public key given as PEM (PUBLIC KEY, RSA PUBLIC
// KEY or CERTIFICATE) or as a JWK, and returns its kind. A private key in
// either form is refused, so it never reaches the store.
func publicKeyKind(text string) (string, error) {
	text = strings.TrimSpace(text)
	switch {
	case len(text) > maxPublicKeyLn:
		return "", invalid("public_key is %d bytes long; a public key is at most %d", len(text), maxPublicKeyLn)
	case strings.HasPrefix(text, "{"):
		return jwkKind(text)
	case strings.HasPrefix(text, "-----BEGIN"):
		return pemKind(text)
	}
	return "", invalid("public_key must be a PEM block (-----BEGIN PUBLIC KEY-----…) or a JWK ({\"kty\":…})")
}

func pemKind(text string) (string, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return "", invalid("public_key is not a readable PEM block")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return "", invalid("public_key has data after its PEM block: send one public key")
	}
	var key any
	var err error
	switch {
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return "", invalid("public_key is a private key (%s): send only the public key, never the private one", block.Type)
	case block.Type == "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case block.Type == "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case block.Type == "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return "", invalid("public_key is a PEM %q block; send a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return "", invalid("public_key does not parse as %s: %v", block.Type, err)
	}
	switch k := key.(type) {
	case ed25519.PublicKey:
		return keyKindEd25519, nil
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256":
			return keyKindP256, nil
		case "P-384":
			return keyKindP384, nil
		}
		return "", invalid("public_key is an EC key on %s; RFC 9421 signs with P-256 or P-384", k.Curve.Params().Name)
	case *rsa.PublicKey:
		return rsaKind(k.N.BitLen())
	}
	return "", invalid("public_key is a %T; use an Ed25519, EC P-256/P-384 or RSA key", key)
}

func rsaKind(bits int) (string, error) {
	if bits < minRSAKeyBits {
		return "", invalid("public_key is a %d-bit RSA key; at least %d bits are required", bits, minRSAKeyBits)
	}
	return keyKindRSA, nil
}

// jwkKind reads a public JWK (RFC 7517) of kty OKP, EC or RSA and checks
// its key material, not just its labels.
func jwkKind(text string) (string, error) {
	var j map[string]any
	if err := json.Unmarshal([]byte(text), &j); err != nil {
		return "", invalid("public_key looks like a JWK but is not valid JSON: %v", err)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if _, ok := j[private]; ok {
			return "", invalid("public_key is a JWK with private member %q: send only the public key, never the private one", private)
		}
	}
	str := func(name string) string { s, _ := j[name].(string); return s }
	b64 := func(name string) ([]byte, error) {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(str(name), "="))
		if err != nil || len(b) == 0 {
			return nil, invalid("public_key JWK member %q is missing or not base64url", name)
		}
		return b, nil
	}
	switch kty, crv := str("kty"), str("crv"); {
	case kty == "OKP" && crv == "Ed25519":
		x, err := b64("x")
		if err != nil {
			return "", err
		}
		if len(x) != ed25519.PublicKeySize {
			return "", invalid("public_key JWK x has %d bytes; an Ed25519 key has %d", len(x), ed25519.PublicKeySize)
		}
		return keyKindEd25519, nil
	case kty == "EC" && (crv == "P-256" || crv == "P-384"):
		x, err := b64("x")
		if err != nil {
			return "", err
		}
		y, err := b64("y")
		if err != nil {
			return "", err
		}
		curve, kind := ecdh.P256(), keyKindP256
		if crv == "P-384" {
			curve, kind = ecdh.P384(), keyKindP384
		}
		if _, err := curve.NewPublicKey(append(append([]byte{4}, x...), y...)); err != nil {
			return "", invalid("public_key JWK x and y are not a point on %s", crv)
		}
		return kind, nil
	case kty == "RSA":
		n, err := b64("n")
		if err != nil {
			return "", err
		}
		if _, err := b64("e"); err != nil {
			return "", err
		}
		return rsaKind(new(big.Int).SetBytes(n).BitLen())
	case kty == "oct":
		return "", invalid("public_key is a symmetric JWK (kty oct): leave public_key out and the gateway generates the HMAC secret")
	default:
		return "", invalid("public_key JWK kty %q crv %q is not supported: use OKP/Ed25519, EC/P-256, EC/P-384 or RSA", kty, crv)
	}
}

// sigAlgorithm picks or checks an hmac credential's algorithm for a key of
// kind ("" for a shared secret).
func sigAlgorithm(kind, alg string) (string, error) {
	allowed := sigAlgorithms[kind]
	if alg == "" {
		return allowed[0], nil
	}
	for _, a := range allowed {
		if a == alg {
			return alg, nil
		}
	}
	for k, algs := range sigAlgorithms {
		for _, a := range algs {
			if a != alg {
				continue
			}
			if k == "" {
				return "", invalid("algorithm %q signs with a shared secret: leave public_key out and the gateway generates the secret", alg)
			}
			if kind == "" {
				return "", invalid("algorithm %q needs public_key (an %s key)", alg, k)
			}
			return "", invalid("algorithm %q needs an %s key, but public_key is an %s key (it signs with %s)", alg, k, kind, strings.Join(allowed, " or "))
		}
	}
	return "", invalid("algorithm %q is not an RFC 9421 algorithm the gateway verifies: use %s", alg,
		strings.Join([]string{algHMACSHA256, algEd25519, algECDSAP256, algECDSAP384, algRSAPSS512, algRSAV15SHA}, ", "))
}
