package basic

import (
	"fmt"
	"net/netip"
	"testing"

	"gatehouse/internal/trace"
)

// BenchmarkVerify: a repeated Basic credential (cache hit), the first
// sight of one (argon2id with the secrets package's parameters), a
// malformed header (decoding only), and the lockout: a cache hit while the
// counter tables hold entries, and a locked-out username (no argon2id).
func BenchmarkVerify(b *testing.B) {
	users := testUsers(b)
	failOthers := func(b *testing.B, v *counted) {
		for i := range 3 {
			if _, rerr := v.Verify(lockedInput("nobody", fmt.Sprint(i), ipA, t0)); rerr == nil {
				b.Fatal("accepted")
			}
		}
	}
	cases := []struct {
		desc  string
		token string
		ip    string
		o     Options
		prep  func(b *testing.B, v *counted)
		ok    bool
	}{
		{desc: "cached", token: enc("alice:s3cret pass"), ok: true},
		{desc: "cached_with_lockout_counters", token: enc("alice:s3cret pass"), ip: ipA, prep: failOthers, ok: true},
		{desc: "uncached", token: enc("alice:s3cret pass"), o: Options{CacheSize: -1}, ok: true},
		// The lockout would answer after 5 iterations: this one measures
		// the dummy hash.
		{desc: "unknown_user", token: enc("nobody:s3cret pass"), o: Options{Lockout: Lockout{Off: true}}},
		{desc: "locked_out", token: enc("nobody:s3cret pass"), ip: ipA, prep: func(b *testing.B, v *counted) {
			for range DefaultMaxUserFailures {
				_, _ = v.Verify(lockedInput("nobody", "s3cret pass", ipB, t0))
			}
		}},
		{desc: "malformed", token: "dXNlcjpwYXNz\x01"},
	}
	for _, tc := range cases {
		b.Run(tc.desc, func(b *testing.B) {
			v := newCounted(b, users, tc.o)
			if tc.prep != nil {
				tc.prep(b, v)
			}
			in := input(tc.token, t0)
			if tc.ip != "" {
				in.ClientIP = netip.MustParseAddr(tc.ip)
			}
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
