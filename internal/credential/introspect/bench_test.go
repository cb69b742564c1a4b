package introspect

import (
	"testing"

	"gatehouse/internal/trace"
)

// BenchmarkVerify: a token seen before (hash and cache lookup) against a
// first-seen one (a real introspection call to a loopback server), and a
// cached inactive answer.
func BenchmarkVerify(b *testing.B) {
	cases := []struct {
		desc  string
		token string
		o     Options
		ok    bool
	}{
		{"cached", tokUser, Options{}, true},
		{"uncached", tokUser, Options{CacheSize: -1}, true},
		{"cached_inactive", tokUnknown, Options{}, false},
	}
	for _, tc := range cases {
		b.Run(tc.desc, func(b *testing.B) {
			_, bs := world(b)
			v := newVerifier(bs, tc.o)
			in := input(tc.token, t0)
			var tr trace.Trace
			in.Trace = &tr
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tr.Reset()
				if _, rerr := v.Verify(in); (rerr == nil) != tc.ok {
					b.Fatal(rerr)
				}
			}
		})
	}
}
