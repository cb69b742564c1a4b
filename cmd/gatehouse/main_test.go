package main

import "testing"

func TestMinProcs(t *testing.T) {
	cases := []struct {
		desc    string
		current int
		env     string
		want    int
		raise   bool
	}{
		{"one CPU: raised to 2", 1, "", 2, true},
		{"two CPUs: left alone", 2, "", 2, false},
		{"many CPUs: left alone", 16, "", 16, false},
		{"GOMAXPROCS set explicitly, even to 1: left alone", 1, "1", 1, false},
	}
	for _, c := range cases {
		if n, raise := minProcs(c.current, c.env); n != c.want || raise != c.raise {
			t.Errorf("%s: minProcs(%d, %q) = %d, %v; want %d, %v", c.desc, c.current, c.env, n, raise, c.want, c.raise)
		}
	}
}
