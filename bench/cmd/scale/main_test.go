package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/keys"
	"gatehouse/internal/store/postgres/pgtest"
)

func TestSameIDOtherSecret(t *testing.T) {
	for _, env := range []string{keys.EnvLive, keys.EnvTest} {
		g, err := keys.Generate(env)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := sameIDOtherSecret(g.Full)
		if err != nil {
			t.Fatal(err)
		}
		p, perr := keys.Parse(forged, env)
		if perr != nil {
			t.Fatalf("forged key does not pass the offline checks: %s", perr.Detail)
		}
		if p.ID != g.ID || forged == g.Full || keys.Hash(forged) == keys.Hash(g.Full) {
			t.Errorf("forged %q from %q: want the same id and another secret", forged, g.Full)
		}
	}
	if _, err := sameIDOtherSecret("not-a-key"); err == nil {
		t.Error("a string that is not a key was accepted")
	}
}

func TestPct(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	cases := []struct {
		desc   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second (nearest rank)", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of twenty is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 99, 20 * time.Millisecond},
		{"p99 of two hundred is the 198th", func() []time.Duration {
			v := make([]int, 200)
			for i := range v {
				v[i] = i + 1
			}
			return ms(v...)
		}(), 99, 198 * time.Millisecond},
	}
	for _, tc := range cases {
		if got := pct(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: pct = %v, want %v", tc.desc, got, tc.want)
		}
	}
}

func TestProcStatus(t *testing.T) {
	st, err := procStatus(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st["VmRSS"] <= 0 || st["VmHWM"] < st["VmRSS"] {
		t.Errorf("VmRSS %d, VmHWM %d", st["VmRSS"], st["VmHWM"])
	}
}

func TestValidIdent(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"gatehouse_scale", true}, {"g1", true}, {"", false}, {"1g", false}, {"Scale", false},
		{"a;drop database test", false}, {"a-b", false},
	}
	for _, tc := range cases {
		if got := validIdent(tc.in); got != tc.want {
			t.Errorf("validIdent(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestRunSmall runs the whole bench at a small scale against the
// machine's PostgreSQL: a real binary, both nodes, every check. The
// timing targets are loosened: this checks the bench, not the machine.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gatehouse and starts three nodes")
	}
	base := pgtest.Require(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	c := config{pg: base, db: "gatehouse_scale_test_" + hex.EncodeToString(rnd[:]), keys: 3000, consumers: 20,
		adminKeys: 30, adminConc: 2, scaleAdminKeys: 3, revocations: 3, settle: 100 * time.Millisecond,
		startTarget: time.Minute, rssTargetMB: 1000, propagationTarget: 10 * time.Second, batch: 700,
		readyTimeout: time.Minute, deadline: 5 * time.Minute}
	if err := run(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var left int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, c.db).Scan(&left); err != nil || left != 0 {
		t.Errorf("database %s left behind (%d, %v)", c.db, left, err)
	}
}
