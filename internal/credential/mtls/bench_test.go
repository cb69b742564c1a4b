package mtls

import (
	"testing"

	"gatehouse/internal/trace"
)

// BenchmarkVerify: a client certificate seen before (fingerprint and
// cache lookup) against the first sight of one (chain building with an
// ECDSA P-256 signature check per link), direct and via an intermediate.
func BenchmarkVerify(b *testing.B) {
	w := newWorld(b)
	cases := []struct {
		desc string
		cert string
		o    Options
	}{
		{"cached", "good", Options{}},
		{"uncached", "good", Options{CacheSize: -1}},
		{"uncached_intermediate", "by-subject", Options{CacheSize: -1}},
		{"untrusted", "untrusted", Options{}},
	}
	for _, tc := range cases {
		b.Run(tc.desc, func(b *testing.B) {
			tc.o.Trust = w.trust
			tc.o.Bindings = constBindings(w.bindings)
			v := New(tc.o)
			in := newInput(w.certs[tc.cert])
			var tr trace.Trace
			in.Trace = &tr
			_, first := v.Verify(in)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tr.Reset()
				if _, rerr := v.Verify(in); (rerr == nil) != (first == nil) {
					b.Fatal(rerr)
				}
			}
		})
	}
}
