package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384 and SHA-512 for RS/PS/ES384 and 512
	"math/big"
	"strconv"
)

type family uint8

const (
	famHMAC family = iota + 1
	famRSA
	famPSS
	famECDSA
	famEdDSA
)

type algorithm struct {
	fam  family
	hash crypto.Hash
	crv  string // ECDSA curve
	size int    // ECDSA coordinate size in bytes
}

// lookupAlg is the table of supported algorithms (RFC 7518 §3.1, RFC
// 8037, RFC 9864). HS384/HS512 are absent on purpose: the only symmetric
// algorithm is HS256 with a configured secret. Ed448 is absent (no
// standard-library implementation).
func lookupAlg(name string) (algorithm, bool) {
	switch name {
	case "HS256":
		return algorithm{fam: famHMAC, hash: crypto.SHA256}, true
	case "RS256":
		return algorithm{fam: famRSA, hash: crypto.SHA256}, true
	case "RS384":
		return algorithm{fam: famRSA, hash: crypto.SHA384}, true
	case "RS512":
		return algorithm{fam: famRSA, hash: crypto.SHA512}, true
	case "PS256":
		return algorithm{fam: famPSS, hash: crypto.SHA256}, true
	case "PS384":
		return algorithm{fam: famPSS, hash: crypto.SHA384}, true
	case "PS512":
		return algorithm{fam: famPSS, hash: crypto.SHA512}, true
	case "ES256":
		return algorithm{fam: famECDSA, hash: crypto.SHA256, crv: "P-256", size: 32}, true
	case "ES384":
		return algorithm{fam: famECDSA, hash: crypto.SHA384, crv: "P-384", size: 48}, true
	case "ES512":
		return algorithm{fam: famECDSA, hash: crypto.SHA512, crv: "P-521", size: 66}, true
	case "EdDSA", "Ed25519":
		// RFC 9864 deprecates the polymorphic "EdDSA" in favour of
		// "Ed25519"; with Ed448 unsupported both mean Ed25519 here.
		return algorithm{fam: famEdDSA}, true
	}
	return algorithm{}, false
}

// Supported reports whether alg is an algorithm this package verifies.
func Supported(alg string) bool {
	_, ok := lookupAlg(alg)
	return ok
}

// Symmetric reports whether alg is a MAC algorithm.
func Symmetric(alg string) bool {
	a, _ := lookupAlg(alg)
	return a.fam == famHMAC
}

// KeyType names the key an algorithm needs: "RSA", "EC P-256", "OKP
// Ed25519" or "a shared secret".
func KeyType(alg string) string {
	a, _ := lookupAlg(alg)
	switch a.fam {
	case famHMAC:
		return "a shared secret"
	case famRSA, famPSS:
		return "RSA"
	case famECDSA:
		return "EC " + a.crv
	case famEdDSA:
		return "OKP Ed25519"
	}
	return "nothing"
}

// KeyFits checks that alg may be verified with k: the key's type and curve
// are the algorithm's, and the JWK's own alg, if any, is alg (RFC 8725
// §3.1: the algorithm is bound to the key, not taken from the header). The
// error's code is jwt.alg_not_allowed.
func KeyFits(alg string, k *Key) *Error {
	a, ok := lookupAlg(alg)
	if !ok {
		return &Error{Code: CodeAlgNotAllowed, Detail: "The algorithm " + quoteShort(alg) + " is not supported."}
	}
	fits := false
	switch a.fam {
	case famRSA, famPSS:
		_, fits = k.Public.(*rsa.PublicKey)
	case famECDSA:
		_, isEC := k.Public.(*ecdsa.PublicKey)
		fits = isEC && k.Crv == a.crv
	case famEdDSA:
		_, fits = k.Public.(ed25519.PublicKey)
	}
	if !fits {
		return &Error{Code: CodeAlgNotAllowed, Detail: "The token says alg " + alg + ", which needs " + KeyType(alg) +
			" key, but the key " + quoteShort(k.Kid) + " is " + k.Describe() + "."}
	}
	if k.Alg != "" && k.Alg != alg && !(edName(k.Alg) && edName(alg)) {
		return &Error{Code: CodeAlgNotAllowed, Detail: "The token says alg " + alg + ", but the key " + quoteShort(k.Kid) +
			" is published for " + k.Alg + " only."}
	}
	return nil
}

func edName(s string) bool { return s == "EdDSA" || s == "Ed25519" }

func sigInvalid(d string) *Error { return &Error{Code: CodeSignatureInvalid, Detail: d} }

// Verify verifies an asymmetric signature over signingInput. KeyFits must
// have passed. ECDSA signatures must be the fixed-length r‖s of RFC 7518
// §3.4 (a DER signature is refused by its length), with 0 < r, s < n
// checked here as well as by crypto/ecdsa (CVE-2022-21449 "psychic
// signatures": this check keeps the guarantee if the backend changes).
func Verify(alg string, k *Key, signingInput string, sig []byte) *Error {
	a, ok := lookupAlg(alg)
	if !ok || a.fam == famHMAC {
		return &Error{Code: CodeAlgNotAllowed, Detail: "The algorithm " + quoteShort(alg) + " is not an asymmetric algorithm."}
	}
	if len(sig) == 0 {
		return sigInvalid("The signature segment is empty.")
	}
	bad := sigInvalid("The " + alg + " signature does not verify with the key " + quoteShort(k.Kid) + ".")
	switch a.fam {
	case famRSA, famPSS:
		pub := k.Public.(*rsa.PublicKey)
		if len(sig) != pub.Size() {
			return sigInvalid("An " + alg + " signature with this key is " + strconv.Itoa(pub.Size()) +
				" bytes; this one is " + strconv.Itoa(len(sig)) + ".")
		}
		d := digest(a.hash, signingInput)
		var err error
		if a.fam == famRSA {
			err = rsa.VerifyPKCS1v15(pub, a.hash, d, sig)
		} else {
			// RFC 7518 §3.5: the salt is as long as the hash output.
			err = rsa.VerifyPSS(pub, a.hash, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash})
		}
		if err != nil {
			return bad
		}
	case famECDSA:
		pub := k.Public.(*ecdsa.PublicKey)
		if len(sig) != 2*a.size {
			d := "An " + alg + " signature is " + strconv.Itoa(2*a.size) + " bytes (r‖s, RFC 7518 §3.4); this one is " + strconv.Itoa(len(sig)) + "."
			switch {
			case len(sig) > 6 && sig[0] == 0x30 && int(sig[1])+2 == len(sig), len(sig) > 7 && sig[0] == 0x30 && sig[1] == 0x81:
				d += " It looks DER-encoded; JWS uses the raw concatenation of r and s."
			case len(sig) == 96 || len(sig) == 132:
				d += " It has the length of a signature made with a different curve (ES384/ES512)."
			}
			return sigInvalid(d)
		}
		r := new(big.Int).SetBytes(sig[:a.size])
		s := new(big.Int).SetBytes(sig[a.size:])
		n := pub.Curve.Params().N
		if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
			return sigInvalid("The " + alg + " signature has r or s outside 1…n-1 (a forged \"psychic\" signature?).")
		}
		if !ecdsa.Verify(pub, digest(a.hash, signingInput), r, s) {
			return bad
		}
	case famEdDSA:
		pub := k.Public.(ed25519.PublicKey)
		if len(sig) != ed25519.SignatureSize {
			return sigInvalid("An Ed25519 signature is 64 bytes; this one is " + strconv.Itoa(len(sig)) + ".")
		}
		if !ed25519.Verify(pub, []byte(signingInput), sig) {
			return bad
		}
	}
	return nil
}

// VerifyHS256 verifies an HS256 MAC with a full-length constant-time
// comparison: a truncated MAC is refused by its length (which is public),
// never compared as a prefix.
func VerifyHS256(secret []byte, signingInput string, sig []byte) *Error {
	if len(sig) == 0 {
		return sigInvalid("The signature segment is empty.")
	}
	if len(sig) != sha256.Size {
		return sigInvalid("An HS256 signature is 32 bytes; this one is " + strconv.Itoa(len(sig)) + " (truncated?).")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signingInput))
	var buf [sha256.Size]byte
	if !hmac.Equal(m.Sum(buf[:0]), sig) {
		return sigInvalid("The HS256 signature does not verify with the configured secret.")
	}
	return nil
}

func digest(h crypto.Hash, s string) []byte {
	w := h.New()
	w.Write([]byte(s))
	return w.Sum(nil)
}
