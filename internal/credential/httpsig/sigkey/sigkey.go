// Package sigkey holds RFC 9421 verification keys: the six algorithms of
// RFC 9421 §3.3 and the loaders that turn what an operator pastes (PEM,
// JWK, raw base64 DER) into a checked key.
//
// It depends on the standard library only, so that the snapshot (which
// the credential packages import) can hold compiled *Key values without
// an import cycle: parse once when the snapshot is built, verify many
// times on the request path.
//
// The algorithm always comes from the key's configuration, never from the
// request (RFC 9421 §3.2 step 6, §7.3.6): a Key verifies with exactly one
// algorithm, and New refuses a key whose type cannot serve it.
package sigkey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"sync"
)

// Algorithm is an RFC 9421 §6.2 registry name.
type Algorithm string

// The algorithms of RFC 9421 §3.3.
const (
	RSAPSSSHA512    Algorithm = "rsa-pss-sha512"
	RSAV15SHA256    Algorithm = "rsa-v1_5-sha256"
	HMACSHA256      Algorithm = "hmac-sha256"
	ECDSAP256SHA256 Algorithm = "ecdsa-p256-sha256"
	ECDSAP384SHA384 Algorithm = "ecdsa-p384-sha384"
	Ed25519         Algorithm = "ed25519"
)

// Algorithms lists the supported algorithms, for error messages and
// configuration validation.
var Algorithms = []Algorithm{HMACSHA256, Ed25519, ECDSAP256SHA256, ECDSAP384SHA384, RSAPSSSHA512, RSAV15SHA256}

// ParseAlgorithm checks that s names a supported algorithm.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range Algorithms {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unsupported algorithm %q (supported: %s)", s, list())
}

func list() string {
	s := ""
	for i, a := range Algorithms {
		if i > 0 {
			s += ", "
		}
		s += string(a)
	}
	return s
}

// MinHMACSecret is the shortest HMAC secret accepted: 32 bytes, the
// output size of SHA-256 (RFC 2104 §3; shorter keys weaken the MAC).
const MinHMACSecret = 32

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// ErrSignatureInvalid is returned when a signature does not verify.
var ErrSignatureInvalid = errors.New("signature does not verify")

// Key verifies signatures with one algorithm. It is safe for concurrent
// use and must not be copied after first use.
type Key struct {
	alg    Algorithm
	public crypto.PublicKey
	secret []byte
	// macs pools keyed HMAC states (*mac): hmac.New costs several
	// allocations and keying, Reset restores the keyed state for free.
	macs sync.Pool
}

// mac is a pooled keyed HMAC with the buffer its sum goes into: a buffer
// on the stack would escape through the hash.Hash interface, one
// allocation per verification.
type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// Algorithm returns the key's algorithm.
func (k *Key) Algorithm() Algorithm { return k.alg }

// Public returns the public key (nil for HMAC).
func (k *Key) Public() crypto.PublicKey { return k.public }

// NewHMAC returns an hmac-sha256 key. The secret is copied.
func NewHMAC(secret []byte) (*Key, error) {
	if len(secret) < MinHMACSecret {
		return nil, fmt.Errorf("hmac-sha256 secret is %d bytes; at least %d are required", len(secret), MinHMACSecret)
	}
	k := &Key{alg: HMACSHA256, secret: append([]byte(nil), secret...)}
	k.macs.New = func() any { return &mac{h: hmac.New(sha256.New, k.secret)} }
	return k, nil
}

// New returns a key verifying alg with pub. alg "" picks the algorithm the
// key type allows (ed25519, ECDSA by curve); RSA keys need an explicit
// algorithm, because one RSA key could serve PSS and PKCS#1 v1.5.
func New(alg Algorithm, pub crypto.PublicKey) (*Key, error) {
	if alg == HMACSHA256 {
		return nil, errors.New("hmac-sha256 takes a shared secret, not a public key (use NewHMAC)")
	}
	want, err := algorithmFor(pub)
	if err != nil {
		return nil, err
	}
	if alg == "" {
		if want == "" {
			return nil, errors.New("an RSA key needs an explicit algorithm: rsa-pss-sha512 or rsa-v1_5-sha256")
		}
		alg = want
	}
	if _, err := ParseAlgorithm(string(alg)); err != nil {
		return nil, err
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if alg != RSAPSSSHA512 && alg != RSAV15SHA256 {
			return nil, fmt.Errorf("an RSA key cannot verify %s", alg)
		}
		if p.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("the RSA key has %d bits; at least %d are required", p.N.BitLen(), MinRSABits)
		}
	default:
		if alg != want {
			return nil, fmt.Errorf("a %s key cannot verify %s (it verifies %s)", describeKey(pub), alg, want)
		}
	}
	return &Key{alg: alg, public: pub}, nil
}

// algorithmFor returns the only algorithm a key type allows ("" for RSA,
// which allows two).
func algorithmFor(pub crypto.PublicKey) (Algorithm, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return "", fmt.Errorf("an ed25519 public key is %d bytes, not %d", ed25519.PublicKeySize, len(p))
		}
		return Ed25519, nil
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return ECDSAP256SHA256, nil
		case elliptic.P384():
			return ECDSAP384SHA384, nil
		}
		return "", fmt.Errorf("ECDSA curve %s is not supported (P-256 and P-384 are)", p.Curve.Params().Name)
	case *rsa.PublicKey:
		return "", nil
	}
	return "", fmt.Errorf("unsupported public key type %T", pub)
}

func describeKey(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return "ed25519"
	case *ecdsa.PublicKey:
		return "ECDSA " + p.Curve.Params().Name
	case *rsa.PublicKey:
		return "RSA"
	}
	return fmt.Sprintf("%T", pub)
}

// Verify checks sig over the signature base. It returns
// ErrSignatureInvalid, or an error naming a length problem (which tells
// the caller nothing about the key).
func (k *Key) Verify(base, sig []byte) error {
	switch k.alg {
	case HMACSHA256:
		if len(sig) != sha256.Size {
			return fmt.Errorf("hmac-sha256 signatures are %d bytes; this one is %d (truncated MACs are not accepted)", sha256.Size, len(sig))
		}
		m := k.macs.Get().(*mac)
		m.h.Reset()
		m.h.Write(base)
		ok := hmac.Equal(m.h.Sum(m.sum[:0]), sig)
		k.macs.Put(m)
		if !ok {
			return ErrSignatureInvalid
		}
		return nil
	case Ed25519:
		if len(sig) != ed25519.SignatureSize {
			return fmt.Errorf("ed25519 signatures are %d bytes; this one is %d", ed25519.SignatureSize, len(sig))
		}
		if !ed25519.Verify(k.public.(ed25519.PublicKey), base, sig) {
			return ErrSignatureInvalid
		}
		return nil
	case ECDSAP256SHA256:
		d := sha256.Sum256(base)
		return verifyECDSA(k.public.(*ecdsa.PublicKey), d[:], sig, 32)
	case ECDSAP384SHA384:
		d := sha512.Sum384(base)
		return verifyECDSA(k.public.(*ecdsa.PublicKey), d[:], sig, 48)
	case RSAPSSSHA512:
		d := sha512.Sum512(base)
		// RFC 9421 §3.3.1 signs with a 64-byte salt. Verification
		// detects the salt length (PSSSaltLengthAuto) so that signers
		// using their library's default (Node's crypto: the maximum)
		// interoperate; the salt length carries no security of its own
		// for the verifier.
		if err := rsa.VerifyPSS(k.public.(*rsa.PublicKey), crypto.SHA512, d[:], sig,
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA512}); err != nil {
			return ErrSignatureInvalid
		}
		return nil
	case RSAV15SHA256:
		d := sha256.Sum256(base)
		if err := rsa.VerifyPKCS1v15(k.public.(*rsa.PublicKey), crypto.SHA256, d[:], sig); err != nil {
			return ErrSignatureInvalid
		}
		return nil
	}
	return fmt.Errorf("key has no algorithm")
}

// verifyECDSA checks a raw r‖s signature (RFC 9421 §3.3.4: not DER).
func verifyECDSA(pub *ecdsa.PublicKey, digest, sig []byte, size int) error {
	if len(sig) != 2*size {
		if len(sig) > 0 && sig[0] == 0x30 {
			return fmt.Errorf("ECDSA signatures are raw r‖s (%d bytes); this one looks DER-encoded (%d bytes)", 2*size, len(sig))
		}
		return fmt.Errorf("ECDSA signatures are raw r‖s, %d bytes; this one is %d", 2*size, len(sig))
	}
	r := new(big.Int).SetBytes(sig[:size])
	s := new(big.Int).SetBytes(sig[size:])
	if !ecdsa.Verify(pub, digest, r, s) {
		return ErrSignatureInvalid
	}
	return nil
}
