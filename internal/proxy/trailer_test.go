package proxy

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzAppendTrailerNames: whatever Trailer field value an upstream sends,
// the announcement passed on names only fields it named, never an empty
// one and never one the gateway answers for, each trimmed, joined by ", ".
func FuzzAppendTrailerNames(f *testing.F) {
	for _, seed := range []string{
		"X-Checksum", "Gatehouse-Debug, RateLimit, X-Checksum, X-Request-Id", " , ,x", "ratelimit-policy,\tServer-Timing ",
		"Gatehouse_Credential_Expires", ",,,", "a,b,,c", "",
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, v string, ownRateLimit bool) {
		out := appendTrailerNames([]byte("prefix:"), []byte(v), ownRateLimit)
		if !bytes.HasPrefix(out, []byte("prefix:")) {
			t.Fatalf("the bytes before were changed: %q", out)
		}
		got := string(out[len("prefix:"):])
		if got == "" {
			return
		}
		named := map[string]bool{}
		for _, n := range strings.Split(v, ",") {
			named[strings.TrimSpace(n)] = true
		}
		for _, n := range strings.Split(got, ", ") {
			switch {
			case n == "" || n != strings.TrimSpace(n):
				t.Fatalf("%q → %q: an empty or untrimmed name", v, got)
			case !named[n]:
				t.Fatalf("%q → %q: %q was not named", v, got, n)
			case gatewayAnswersFor(n, ownRateLimit):
				t.Fatalf("%q → %q: %q is the gateway's", v, got, n)
			}
		}
	})
}
