package main

import (
	"path/filepath"
	"testing"
)

func TestGCPercent(t *testing.T) {
	cases := []struct {
		desc string
		live uint64
		want int
	}{
		{"nothing measured yet", 0, 400},
		{"a small gateway: the most headroom", 10 << 20, 400},
		{"32 MiB live: 400", 32 << 20, 400},
		{"64 MiB live: 200 (128 MiB of growth)", 64 << 20, 200},
		{"a million keys (~115 MB): close to the default", 115 << 20, 111},
		{"past the headroom: Go's default", 1 << 30, 100},
	}
	for _, c := range cases {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("%s: gcPercent(%d) = %d, want %d", c.desc, c.live, got, c.want)
		}
	}
}

// TestSelfCommand: quickstart's printed commands run this binary again —
// go run's from its build cache, a built binary by the path it was started
// by (so they work from another directory), one on PATH by its name.
func TestSelfCommand(t *testing.T) {
	abs, _ := filepath.Abs("./gh")
	for _, tc := range []struct{ arg0, want string }{
		{"/tmp/go-build1234/b001/exe/gatehouse", "go run ./cmd/gatehouse"},
		{"./gh", abs},
		{"/usr/local/bin/gatehouse", "/usr/local/bin/gatehouse"},
		{"gatehouse", "gatehouse"},
	} {
		if got := selfCommand(tc.arg0); got != tc.want {
			t.Errorf("selfCommand(%q) = %q, want %q", tc.arg0, got, tc.want)
		}
	}
}
