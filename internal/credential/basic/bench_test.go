package basic

import (
	"testing"

	"gatehouse/internal/trace"
)

// BenchmarkVerify: a repeated Basic credential (cache hit), the first
// sight of one (argon2id with the secrets package's parameters), and a
// malformed header (decoding only).
func BenchmarkVerify(b *testing.B) {
	users := testUsers(b)
	cases := []struct {
		desc  string
		token string
		o     Options
		ok    bool
	}{
		{"cached", enc("alice:s3cret pass"), Options{}, true},
		{"uncached", enc("alice:s3cret pass"), Options{CacheSize: -1}, true},
		{"unknown_user", enc("nobody:s3cret pass"), Options{}, false},
		{"malformed", "dXNlcjpwYXNz\x01", Options{}, false},
	}
	for _, tc := range cases {
		b.Run(tc.desc, func(b *testing.B) {
			v := newCounted(b, users, tc.o)
			in := input(tc.token, t0)
			if _, rerr := v.Verify(in); (rerr == nil) != tc.ok {
				b.Fatal(rerr)
			}
			var tr trace.Trace
			in.Trace = &tr
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tr.Reset()
				_, _ = v.Verify(in)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	tok := enc("alice:s3cret pass")
	var buf [256]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, _, rerr := decode(buf[:0], tok); rerr != nil {
			b.Fatal(rerr)
		}
	}
}
