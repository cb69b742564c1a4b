package httpsig

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"

	"gatehouse/internal/credential/httpsig/sfv"
)

// Digest is one Content-Digest member (RFC 9530 §2).
type Digest struct {
	Algorithm string
	Value     []byte
}

// digestSizes lists the active algorithms of the RFC 9530 §7.2 registry.
var digestSizes = map[string]int{"sha-256": sha256.Size, "sha-512": sha512.Size}

// deprecatedDigests are registered but deprecated (RFC 9530 §7.2): named
// in the error so a client knows why its digest was not used.
var deprecatedDigests = map[string]bool{"md5": true, "sha": true, "unixsum": true, "unixcksum": true, "adler": true, "crc32c": true}

// ParseContentDigest parses a Content-Digest (or Repr-Digest) value and
// returns the members with supported algorithms. It fails when the field
// is not a dictionary of byte sequences, when a supported algorithm's
// value has the wrong length, or when no supported algorithm is present.
// Unknown algorithms are skipped, as RFC 9530 §2 asks.
func ParseContentDigest(v string) ([]Digest, error) {
	if len(v) > MaxFieldLen {
		return nil, &ParseError{Field: FieldContentDigest, Msg: "longer than " + strconv.Itoa(MaxFieldLen) + " bytes"}
	}
	d, err := sfv.ParseDictionary(v)
	if err != nil {
		return nil, &ParseError{Field: FieldContentDigest, Msg: "not a structured-field dictionary: " + err.Error()}
	}
	if d.Duplicate != "" {
		return nil, &ParseError{Field: FieldContentDigest, Label: d.Duplicate, Msg: "appears twice"}
	}
	var out []Digest
	var skipped []string
	for i := range d.Members {
		m := &d.Members[i]
		if m.IsInner || m.Item.Value.Kind != sfv.ByteSeq {
			return nil, &ParseError{Field: FieldContentDigest, Label: m.Key,
				Msg: "must be a byte sequence (:base64:), found " + kindOf(&m.Member)}
		}
		size, ok := digestSizes[m.Key]
		if !ok {
			skipped = append(skipped, m.Key)
			continue
		}
		if n := len(m.Item.Value.Bytes); n != size {
			return nil, &ParseError{Field: FieldContentDigest, Label: m.Key,
				Msg: "a " + m.Key + " digest is " + strconv.Itoa(size) + " bytes; this one is " + strconv.Itoa(n)}
		}
		out = append(out, Digest{Algorithm: m.Key, Value: m.Item.Value.Bytes})
	}
	if len(out) == 0 {
		msg := "no supported algorithm (sha-256, sha-512)"
		if len(skipped) > 0 {
			msg += "; found " + strings.Join(skipped, ", ")
			for _, s := range skipped {
				if deprecatedDigests[s] {
					msg += " (" + s + " is deprecated by RFC 9530)"
				}
			}
		}
		return nil, &ParseError{Field: FieldContentDigest, Msg: msg}
	}
	return out, nil
}

// DigestMismatch says which digest did not match the body.
type DigestMismatch struct {
	Algorithm  string
	Provided   []byte
	Calculated []byte
}

// Error implements error. Both digests are of the caller's own body.
func (e *DigestMismatch) Error() string {
	return "the " + e.Algorithm + " of the body is :" + base64.StdEncoding.EncodeToString(e.Calculated) +
		": but Content-Digest says :" + base64.StdEncoding.EncodeToString(e.Provided) + ":"
}

// VerifyContentDigest checks every supported digest in the field value
// against body: all must match (one mismatch of two is a mismatch).
func VerifyContentDigest(v string, body []byte) error {
	ds, err := ParseContentDigest(v)
	if err != nil {
		return err
	}
	for _, d := range ds {
		var sum []byte
		switch d.Algorithm {
		case "sha-256":
			s := sha256.Sum256(body)
			sum = s[:]
		case "sha-512":
			s := sha512.Sum512(body)
			sum = s[:]
		}
		if subtle.ConstantTimeCompare(sum, d.Value) != 1 {
			return &DigestMismatch{Algorithm: d.Algorithm, Provided: d.Value, Calculated: sum}
		}
	}
	return nil
}
