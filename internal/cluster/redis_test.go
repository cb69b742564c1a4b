package cluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// redisURL returns the machine's Redis; the test fails in CI when it does
// not answer (the cluster tests need the real one) and skips elsewhere.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	c, err := OpenRedis(u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := Ping(context.Background(), c, time.Second); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis at %s: %v (CI must provide it: .ci/run starts it)", u, err)
		}
		t.Skipf("Redis at %s: %v", u, err)
	}
	return u
}

func TestNoncesSharedAcrossClients(t *testing.T) {
	u := redisURL(t)
	prefix := fmt.Sprintf("gatehouse-test:%d:", time.Now().UnixNano())
	a, _ := OpenRedis(u)
	b, _ := OpenRedis(u)
	defer a.Close()
	defer b.Close()
	na, nb := &Nonces{Client: a, Prefix: prefix}, &Nonces{Client: b, Prefix: prefix}
	ctx := context.Background()
	t.Cleanup(func() {
		keys, _ := a.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			a.Del(ctx, keys...)
		}
	})
	cases := []struct {
		desc       string
		n          *Nonces
		key, nonce string
		wantSeen   bool
	}{
		{"first use on node A", na, "k1", "n1", false},
		{"replay on node B", nb, "k1", "n1", true},
		{"same nonce, other key", nb, "k2", "n1", false},
		{"replay on node A again", na, "k1", "n1", true},
	}
	for _, tc := range cases {
		seen, err := tc.n.Seen(ctx, tc.key, tc.nonce, time.Minute)
		if err != nil || seen != tc.wantSeen {
			t.Fatalf("%s: seen=%v err=%v", tc.desc, seen, err)
		}
	}
}

func TestNoncesRedisDownIsAnError(t *testing.T) {
	c, _ := OpenRedis("redis://127.0.0.1:1/0")
	defer c.Close()
	if _, err := (&Nonces{Client: c}).Seen(context.Background(), "k", "n", time.Minute); err == nil {
		t.Fatal("a nonce cache that cannot answer must say so")
	}
}
