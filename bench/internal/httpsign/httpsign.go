// Package httpsign signs benchmark requests the way Gatehouse's RFC 9421
// verifier expects from an hmac credential: hmac-sha256 over the signature
// base of "@method" "@authority" "@path" with created, keyid and a nonce
// (Gatehouse requires a nonce by default and refuses a repeated one as
// sig.replayed, so every request needs its own). It exists so that
// bench/cmd/setup (which proves the path) and bench/cmd/sigload (which
// measures it) cannot drift apart.
package httpsign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
)

// Signer holds one key; it is not safe for concurrent use (it reuses its
// HMAC state and buffers), so each load worker owns one.
type Signer struct {
	keyID string
	mac   hash.Hash
	buf   []byte
	sum   []byte
}

// New returns a Signer for the hmac secret known to Gatehouse under keyID.
func New(keyID string, secret []byte) *Signer {
	return &Signer{keyID: keyID, mac: hmac.New(sha256.New, secret)}
}

// Sign returns the Signature-Input and Signature header values for a
// request with the given method, authority (Host) and path.
func (s *Signer) Sign(method, authority, path string, created int64, nonce string) (input, signature string) {
	params := make([]byte, 0, 128)
	params = append(params, `("@method" "@authority" "@path");created=`...)
	params = strconv.AppendInt(params, created, 10)
	params = append(params, `;keyid="`...)
	params = append(params, s.keyID...)
	params = append(params, `";nonce="`...)
	params = append(params, nonce...)
	params = append(params, '"')

	b := s.buf[:0]
	b = append(b, "\"@method\": "...)
	b = append(b, method...)
	b = append(b, "\n\"@authority\": "...)
	b = append(b, authority...)
	b = append(b, "\n\"@path\": "...)
	b = append(b, path...)
	b = append(b, "\n\"@signature-params\": "...)
	b = append(b, params...)
	s.buf = b

	s.mac.Reset()
	s.mac.Write(b)
	s.sum = s.mac.Sum(s.sum[:0])
	return "sig1=" + string(params), "sig1=:" + base64.StdEncoding.EncodeToString(s.sum) + ":"
}
