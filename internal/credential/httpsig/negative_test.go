package httpsig

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/credential"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

// TestRFC9421NegativeVariants: the negative variants of the B.2.5 and
// B.2.6 vectors suggested in auth-vectors.md A.1, each with its own
// diagnosable code.
func TestRFC9421NegativeVariants(t *testing.T) {
	const in25 = `sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`
	const sig25 = `sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`
	const in26 = `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	const sig26 = `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`
	policy := Policy{Required: []string{"@authority"}, BodyDigestOptional: true, NonceOptional: true}
	at := time.Unix(vectorCreated+10, 0)
	cases := []struct {
		desc, input, sig, code, detail string
		now                            time.Time
		mutate                         func(r *http.Request)
	}{
		{desc: "B.2.5 as published passes", input: in25, sig: sig25},
		{desc: "one byte of Date flipped", input: in25, sig: sig25, code: CodeInvalid, detail: "does not verify",
			mutate: func(r *http.Request) { r.Header.Set("Date", "Tue, 20 Apr 2021 02:07:54 GMT") }},
		{desc: "Signature-Input names a different label", input: strings.Replace(in25, "sig-b25", "sig1", 1), sig: sig25,
			code: CodeMalformed, detail: "no label appears in both fields"},
		{desc: "unknown keyid", input: strings.Replace(in25, "test-shared-secret", "test-other", 1), sig: sig25,
			code: CodeInvalid, detail: `keyid "test-other"`},
		{desc: "expires in the past", input: in25 + ";expires=1618884480", sig: sig25, now: time.Unix(1618884480+120, 0),
			code: CodeExpired, detail: "expired 2m0s ago"},
		{desc: "created far in the future", input: in25, sig: sig25, now: time.Unix(vectorCreated-3600, 0),
			code: CodeClockSkew, detail: "created 1h0m0s in the future"},
		{desc: "created 10 minutes ago", input: in25, sig: sig25, now: time.Unix(vectorCreated+600, 0),
			code: CodeExpired, detail: "created 10m0s ago"},
		{desc: "base64url in the byte sequence", input: in25, sig: strings.NewReplacer("/", "_", "+", "-").Replace(sig25),
			code: CodeMalformed, detail: "base64url"},
		{desc: "duplicate component", input: strings.Replace(in25, `("date"`, `("date" "date"`, 1), sig: sig25,
			code: CodeMalformed, detail: "covered twice"},
		// Not the RFC's B.2.5, but a valid signature over the same request
		// with other parameters: the base rules did not change since.
		{desc: "draft-era HMAC vector (created=1618884475, other order, label sig1) verifies as itself",
			input: `sig1=("@authority" "date" "content-type");created=1618884475;keyid="test-shared-secret"`,
			sig:   `sig1=:fN3AMNGbx0V/cIEKkZOvLOoC3InI+lM2+gTv22x3ia8=:`},
		{desc: "draft-era signature under the RFC's parameters", input: in25,
			sig: `sig-b25=:fN3AMNGbx0V/cIEKkZOvLOoC3InI+lM2+gTv22x3ia8=:`, code: CodeInvalid, detail: "does not verify"},
		{desc: "B.2.6 as published passes", input: in26, sig: sig26},
		{desc: `alg="hmac-sha256" presented with the ed25519 key`, input: in26 + `;alg="hmac-sha256"`, sig: sig26,
			code: CodeInvalid, detail: "does not verify"},
		{desc: "B.2.6 signature presented for the HMAC key", input: strings.Replace(in26, "test-key-ed25519", "test-shared-secret", 1),
			sig: sig26, code: CodeInvalid, detail: "does not verify"},
	}
	keys := vectorKeys(t)
	v := &Verifier{Keys: func(*snapshot.Snapshot) Keys { return keys }}
	rules := mustRules(t, policy)
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := readRequest(t, testRequest, "Signature-Input: "+c.input, "Signature: "+c.sig)
			if c.mutate != nil {
				c.mutate(r)
			}
			now := c.now
			if now.IsZero() {
				now = at
			}
			var tr trace.Trace
			_, rerr := v.VerifyRequest(&credential.Input{Now: now, Trace: &tr}, r, rules)
			if c.code == "" {
				if rerr != nil {
					t.Fatal(rerr)
				}
				return
			}
			if rerr == nil || rerr.Code != c.code || !strings.Contains(rerr.Detail, c.detail) {
				t.Fatalf("got %v, want %s with %q", rerr, c.code, c.detail)
			}
		})
	}
}
