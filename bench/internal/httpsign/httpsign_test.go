package httpsign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// The base must be byte-for-byte the one Gatehouse rebuilds (the format of
// internal/server TestHTTPSignatureRoute); a reused Signer must not leak
// state from one request into the next.
func TestSign(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := New("bench-sig", secret)
	cases := []struct {
		desc                           string
		method, authority, path, nonce string
		created                        int64
	}{
		{"first request", "GET", "127.0.0.1:8080", "/sig", "n-1", 1700000000},
		{"second request on the same signer", "GET", "127.0.0.1:8080", "/sig/x", "n-2", 1700000001},
		{"shorter values after longer ones", "GET", "h:1", "/", "n", 1},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			input, sig := s.Sign(tc.method, tc.authority, tc.path, tc.created, tc.nonce)
			params := `("@method" "@authority" "@path");created=` + itoa(tc.created) + `;keyid="bench-sig";nonce="` + tc.nonce + `"`
			if input != "sig1="+params {
				t.Fatalf("Signature-Input = %q, want %q", input, "sig1="+params)
			}
			base := "\"@method\": " + tc.method + "\n\"@authority\": " + tc.authority + "\n\"@path\": " + tc.path + "\n\"@signature-params\": " + params
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(base))
			want := "sig1=:" + base64.StdEncoding.EncodeToString(m.Sum(nil)) + ":"
			if sig != want {
				t.Fatalf("Signature = %q, want %q", sig, want)
			}
		})
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
