package sigkey

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// oidRSASSAPSS is id-RSASSA-PSS (RFC 4055 §3.1). RFC 9421's B.1.2 key
// carries it in its PKCS#8 wrapper, and OpenSSL writes it into SPKI for
// PSS-restricted keys; Go's crypto/x509 rejects it in both places.
var oidRSASSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}

// Parse loads a verification key for alg from what an operator pastes:
//   - PEM "PUBLIC KEY" (SPKI, including the id-RSASSA-PSS form), "RSA
//     PUBLIC KEY" (PKCS#1) or "CERTIFICATE" (its public key);
//   - a JWK (RFC 7517) of kty OKP/Ed25519, EC/P-256|P-384, RSA, or oct (a
//     shared secret, for hmac-sha256);
//   - base64 of SPKI DER, or of the raw secret for hmac-sha256.
//
// alg "" infers the algorithm where the key allows only one. A PEM private
// key is refused with a message saying so: the gateway needs only the
// public half, and a private key pasted into its configuration is a leak.
func Parse(alg Algorithm, data []byte) (*Key, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty key")
	}
	switch {
	case bytes.HasPrefix(data, []byte("-----BEGIN")):
		pub, only, err := ParsePublicPEM(data)
		if err != nil {
			return nil, err
		}
		return newRestricted(alg, pub, only)
	case data[0] == '{':
		return ParseJWK(alg, data)
	}
	raw, err := decodeAnyB64(string(data))
	if err != nil {
		return nil, fmt.Errorf("key is neither PEM, JWK nor base64: %w", err)
	}
	if alg == HMACSHA256 {
		return NewHMAC(raw)
	}
	pub, only, err := parseSPKI(raw)
	if err != nil {
		return nil, err
	}
	return newRestricted(alg, pub, only)
}

func newRestricted(alg Algorithm, pub crypto.PublicKey, only Algorithm) (*Key, error) {
	if only != "" {
		if alg == "" {
			alg = only
		} else if alg != only {
			return nil, fmt.Errorf("the key is restricted to %s by its encoding, not %s", only, alg)
		}
	}
	return New(alg, pub)
}

// ParsePublicPEM parses one PEM public key. only is set when the encoding
// restricts the algorithm (an id-RSASSA-PSS SPKI: rsa-pss-sha512).
func ParsePublicPEM(data []byte) (pub crypto.PublicKey, only Algorithm, err error) {
	blk, rest := pem.Decode(data)
	if blk == nil {
		return nil, "", errors.New("no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, "", errors.New("more than one PEM block: paste one public key")
	}
	switch blk.Type {
	case "PUBLIC KEY":
		return parseSPKI(blk.Bytes)
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(blk.Bytes)
		return k, "", err
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, "", err
		}
		return c.PublicKey, "", nil
	}
	if strings.Contains(blk.Type, "PRIVATE KEY") {
		return nil, "", fmt.Errorf("this is a private key (%s): register only the public key", blk.Type)
	}
	return nil, "", fmt.Errorf("unsupported PEM block %q", blk.Type)
}

// spki mirrors SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
type spki struct {
	Algorithm pkixAlgorithm
	PublicKey asn1.BitString
}

type pkixAlgorithm struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

func parseSPKI(der []byte) (crypto.PublicKey, Algorithm, error) {
	var info spki
	if rest, err := asn1.Unmarshal(der, &info); err == nil && len(rest) == 0 && info.Algorithm.Algorithm.Equal(oidRSASSAPSS) {
		k, err := x509.ParsePKCS1PublicKey(info.PublicKey.RightAlign())
		if err != nil {
			return nil, "", fmt.Errorf("id-RSASSA-PSS public key: %w", err)
		}
		return k, RSAPSSSHA512, nil
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, "", err
	}
	return k, "", nil
}

// pkcs8 mirrors PrivateKeyInfo (RFC 5208 §5).
type pkcs8 struct {
	Version    int
	Algorithm  pkixAlgorithm
	PrivateKey []byte
}

// ParsePrivatePEM parses a PEM private key, for tests and client-side
// tools that sign (never for the gateway's configuration). Besides what
// crypto/x509 reads (PKCS#8, PKCS#1, SEC 1), it unwraps a PKCS#8 key
// labelled id-RSASSA-PSS, the form of RFC 9421's B.1.2 test key, to its
// inner PKCS#1 RSA key.
func ParsePrivatePEM(data []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(bytes.TrimSpace(data))
	if blk == nil {
		return nil, errors.New("no PEM block found")
	}
	switch blk.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err == nil {
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported private key type %T", k)
			}
			return s, nil
		}
		var info pkcs8
		if rest, perr := asn1.Unmarshal(blk.Bytes, &info); perr == nil && len(rest) == 0 && info.Algorithm.Algorithm.Equal(oidRSASSAPSS) {
			return x509.ParsePKCS1PrivateKey(info.PrivateKey)
		}
		return nil, err
	}
	return nil, fmt.Errorf("unsupported PEM block %q", blk.Type)
}

// jwk holds the members of RFC 7517/7518/8037 keys used here.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Alg string `json:"alg"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	K   string `json:"k"`
	D   string `json:"d"`
	P   string `json:"p"`
}

// jwsAlg maps JOSE "alg" values to RFC 9421 algorithms (RFC 9421 §3.3.7
// lets a JWK's alg pin the algorithm).
var jwsAlg = map[string]Algorithm{
	"HS256": HMACSHA256, "EdDSA": Ed25519, "Ed25519": Ed25519, "ES256": ECDSAP256SHA256,
	"ES384": ECDSAP384SHA384, "PS512": RSAPSSSHA512, "RS256": RSAV15SHA256,
}

// ParseJWK loads a key from a JWK. A JWK "alg" pins the algorithm and must
// agree with alg when both are given. Private members are refused.
func ParseJWK(alg Algorithm, data []byte) (*Key, error) {
	var j jwk
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("JWK: %w", err)
	}
	if j.Alg != "" {
		a, ok := jwsAlg[j.Alg]
		if !ok {
			return nil, fmt.Errorf("JWK alg %q has no RFC 9421 equivalent here", j.Alg)
		}
		if alg != "" && alg != a {
			return nil, fmt.Errorf("JWK alg %q means %s, but the key is configured for %s", j.Alg, a, alg)
		}
		alg = a
	}
	if j.Kty != "oct" && (j.D != "" || j.P != "") {
		return nil, errors.New("this JWK holds private key material: register only the public key")
	}
	b := func(name, s string) ([]byte, error) {
		if s == "" {
			return nil, fmt.Errorf("JWK member %q is missing", name)
		}
		v, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("JWK member %q is not base64url: %w", name, err)
		}
		return v, nil
	}
	switch j.Kty {
	case "oct":
		k, err := b("k", j.K)
		if err != nil {
			return nil, err
		}
		if alg != "" && alg != HMACSHA256 {
			return nil, fmt.Errorf("an oct JWK is a shared secret; it cannot verify %s", alg)
		}
		return NewHMAC(k)
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("OKP curve %q is not supported (Ed25519 is)", j.Crv)
		}
		x, err := b("x", j.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 x is %d bytes, not %d", len(x), ed25519.PublicKeySize)
		}
		return New(alg, ed25519.PublicKey(x))
	case "EC":
		var c elliptic.Curve
		var size int
		switch j.Crv {
		case "P-256":
			c, size = elliptic.P256(), 32
		case "P-384":
			c, size = elliptic.P384(), 48
		default:
			return nil, fmt.Errorf("EC curve %q is not supported (P-256 and P-384 are)", j.Crv)
		}
		x, err := b("x", j.X)
		if err != nil {
			return nil, err
		}
		y, err := b("y", j.Y)
		if err != nil {
			return nil, err
		}
		if len(x) != size || len(y) != size {
			return nil, fmt.Errorf("%s coordinates are %d bytes each", j.Crv, size)
		}
		pt := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(c, pt)
		if err != nil {
			return nil, fmt.Errorf("JWK point: %w", err)
		}
		return New(alg, pub)
	case "RSA":
		n, err := b("n", j.N)
		if err != nil {
			return nil, err
		}
		e, err := b("e", j.E)
		if err != nil {
			return nil, err
		}
		if len(e) > 4 {
			return nil, errors.New("RSA exponent too large")
		}
		ev := 0
		for _, c := range e {
			ev = ev<<8 | int(c)
		}
		if ev < 3 || ev%2 == 0 {
			return nil, fmt.Errorf("RSA exponent %d is not valid", ev)
		}
		return New(alg, &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev})
	}
	return nil, fmt.Errorf("JWK kty %q is not supported", j.Kty)
}

// decodeAnyB64 accepts standard or URL base64, padded or not.
func decodeAnyB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
