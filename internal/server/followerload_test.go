package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/config"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
)

// A change another node committed costs this node's snapshot one round
// trip to PostgreSQL, not two: the change feed's apply (applyChange) loads
// without reading the store's version first — the follower calls it only
// when it already knows the version moved (or to resync regardless) —
// while Reload, which the admin API calls after each of its own changes,
// keeps the read that spares a second load when that change's own
// notification comes back. Round trips are counted by a relay between the
// node and PostgreSQL (pgtest.Relay.Turns), never timed. The version is
// moved by hand (no notification), and each count is the median of seven
// tries: a background query of the node's landing in one try (the
// follower's check every second, which would also load the change first)
// moves that try only (the counts of every try are in the failure).
func TestFollowerApplyLoadsInOneRoundTrip(t *testing.T) {
	url := pgtest.Schema(t)
	relay := pgtest.NewRelay(t, pgtest.Target(t))
	h := newHarnessWith(t, Options{Getenv: func(k string) string {
		if k == "GATEHOUSE_MASTER_KEY" {
			return "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		}
		return ""
	}}, func(c *config.Config) {
		// One pooled connection, so every load runs where the previous
		// one prepared its statements (a first load on a connection
		// prepares them in a round trip of its own).
		c.Database = pgtest.WithHost(t, url, relay.Addr()) + "&pool_max_conns=1"
	})
	ctx := t.Context()
	other, err := pgx.Connect(ctx, url) // another node's change, straight to the store
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close(ctx) })

	var tries []string
	turns := func(desc string, load func() error) int64 {
		t.Helper()
		if err := load(); err != nil { // statements prepared
			t.Fatalf("%s: %v", desc, err)
		}
		var n []int64
		for range 7 {
			// The version moves past this node's snapshot, as after a
			// change another node committed.
			if _, err := other.Exec(ctx, `UPDATE meta SET value = value + 1 WHERE key = 'version'`); err != nil {
				t.Fatal(err)
			}
			before := relay.Turns()
			if err := load(); err != nil {
				t.Fatalf("%s: %v", desc, err)
			}
			n = append(n, relay.Turns()-before)
		}
		tries = append(tries, fmt.Sprintf("%s %v", desc, n))
		slices.Sort(n)
		return n[len(n)/2]
	}
	reload := turns("Reload", func() error { return h.srv.Reload(ctx) })
	apply := turns("snapshot of the feed's apply", func() error { return h.srv.loadSnapshot(ctx, false) })
	if reload != 2 || apply != 1 {
		t.Errorf("round trips: Reload %d (want 2: the version, then the load), the feed's apply %d (want 1: the load); tries: %s",
			reload, apply, strings.Join(tries, "; "))
	}
}

// TestChangeFeedDoesNotWaitForAlertRules: the change feed applies one
// change at a time, so what its apply waits for delays the next change
// (a revocation). It publishes the new snapshot and leaves the alert
// rules to their own goroutine: held here, the apply still returns, the
// rules another node stored are in force once the reload runs, and changes
// applied while one reload is held cost one more reload, not one each.
func TestChangeFeedDoesNotWaitForAlertRules(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	reload := h.srv.reloadAlerts
	h.srv.reloadAlerts = func(ctx context.Context) error {
		entered <- struct{}{}
		<-release
		return reload(ctx)
	}
	go h.srv.followAlerts(ctx)

	// Another node's change: an alert rule, straight into the store.
	if err := h.srv.store.Update(ctx, func(tx store.Tx) error {
		return tx.(store.AlertRuleTx).PutAlertRule(ctx, domain.AlertRule{ID: "alr_other_node", Name: "other node's",
			Kind: domain.AlertThreshold, Threshold: 5, Window: domain.Duration(time.Minute), By: "consumer"})
	}); err != nil {
		t.Fatal(err)
	}
	apply := func() {
		t.Helper()
		done := make(chan error, 1)
		go func() { _, err := h.srv.applyChange(ctx); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the change feed's apply waits for the alert rules' reload")
		}
	}
	apply()
	select {
	case <-entered: // the reload started, and is held
	case <-time.After(10 * time.Second):
		t.Fatal("no alert-rule reload after a change")
	}
	apply()
	apply()
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for h.srv.alerts.Stats().Rules != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the other node's rule is not in force: %+v", h.srv.alerts.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a third reload would have started by now
	if n := 1 + len(entered); n != 2 {
		t.Errorf("%d reloads for three changes applied during one: want 2 (the held one, then one for both)", n)
	}
}
