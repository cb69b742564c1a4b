package alerts

import (
	"context"
	"testing"
	"time"

	"gatehouse/internal/calllog"
	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/webhook"
)

// TestJWTExpiredStormFiresOncePerCooldown is the acceptance test of issue
// 7: the rule "more than 10 jwt.expired per minute for one consumer",
// records flowing through the real call-log writer into the real SQLite
// store with the engine's Sink, a real webhook.Sender posting to a real
// loopback receiver that verifies every signature and refuses the first
// attempt (so the sender retries), and a fake clock. It fires exactly once
// across the cooldown, and a second time after it.
func TestJWTExpiredStormFiresOncePerCooldown(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	clk := clock.NewFake(t0)
	rcv := newReceiver(t, clk, func(n int) bool { return n == 1 })
	sender, err := webhook.New(webhook.Options{URLs: []string{rcv.srv.URL}, Secret: secret, Clock: clk,
		Sleep: func(context.Context, time.Duration) error { return nil }, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	rules := putRules(t, st, domain.AlertRule{ID: "alr_jwt", Name: "jwt expiry storm", Kind: domain.AlertThreshold,
		Reason: "jwt.expired", By: domain.AlertByConsumer, Threshold: 10, Window: domain.Duration(time.Minute)})
	if rules[0].Cooldown.D() != 10*time.Minute {
		t.Fatalf("default cooldown %s, want 10m", rules[0].Cooldown.D())
	}
	e := newEngine(t, st, clk, func(o *Options) { o.Publish = sender.Publish })
	w := calllog.New(Sink(st, e), calllog.Options{FlushInterval: time.Millisecond, Logger: quiet()})
	defer w.Close(context.Background())
	send := func(cs []domain.Call) {
		t.Helper()
		for i := range cs {
			if !w.Record(&cs[i]) {
				t.Fatal("call log refused a record")
			}
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		flush(t, e)
	}
	published := func() int64 { return sender.Stats().Published }

	steps := []struct {
		desc          string
		advance       time.Duration
		calls         []domain.Call
		wantPublished int64
	}{
		{"10 jwt.expired for con_a, 10 for con_b, 40 other rejections of con_a: at the threshold, not over it", 0,
			append(append(calls(10, t0, "con_a", "jwt.expired", 401), calls(10, t0, "con_b", "jwt.expired", 401)...),
				calls(40, t0, "con_a", "key.revoked", 401)...), 0},
		{"the 11th jwt.expired of con_a within the minute fires", 20 * time.Second,
			calls(1, t0.Add(20*time.Second), "con_a", "jwt.expired", 401), 1},
		{"30 more in the same minute: cooldown, no second alert", 10 * time.Second,
			calls(30, t0.Add(30*time.Second), "con_a", "jwt.expired", 401), 1},
		{"five minutes later a new storm: still within the 10-minute cooldown", 5 * time.Minute,
			calls(15, t0.Add(5*time.Minute+30*time.Second), "con_a", "jwt.expired", 401), 1},
		{"past the cooldown, the next storm fires again", 5 * time.Minute,
			calls(11, t0.Add(10*time.Minute+30*time.Second), "con_a", "jwt.expired", 401), 2},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		send(s.calls)
		if got := published(); got != s.wantPublished {
			t.Fatalf("%s: %d alerts published, want %d", s.desc, got, s.wantPublished)
		}
	}
	// The first alert takes two requests (503, then the retry), the second one.
	rcv.wait(t, 3)
	if err := sender.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := rcv.deliveries()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (a refused attempt, its retry, the second alert)", len(got))
	}
	delivered := map[string]int{}
	for i, d := range got {
		if d.verr != nil {
			t.Errorf("request %d: signature does not verify: %v", i+1, d.verr)
		}
		if d.typ != EventType || d.alert.Kind != domain.AlertThreshold || d.alert.ConsumerID != "con_a" || d.alert.Reason != "jwt.expired" {
			t.Errorf("request %d: event %s, alert %+v", i+1, d.typ, d.alert)
		}
		if d.status == 204 {
			delivered[d.eventID]++
		}
	}
	if got[0].eventID != got[1].eventID || got[1].attempt != "2" || got[0].status != 503 {
		t.Errorf("the refused first attempt was not retried under the same event id: %+v", got[:2])
	}
	if len(delivered) != 2 || got[1].eventID == got[2].eventID {
		t.Errorf("delivered events %v: want two distinct events, each once", delivered)
	}
	first := got[0].alert
	if first.Count != 11 || first.Threshold != 10 || first.Subject != "consumer con_a" || first.TenantID != "ten_1" ||
		!first.FiredAt.Equal(t0.Add(20*time.Second)) || first.Message == "" {
		t.Errorf("first alert %+v", first)
	}
	if second := got[2].alert; !second.FiredAt.Equal(t0.Add(10*time.Minute + 30*time.Second)) {
		t.Errorf("second alert fired at %s", second.FiredAt)
	}
	stored := storedAlerts(t, st, store.AlertFilter{})
	if len(stored) != 2 || stored[0].ID != got[2].eventID || stored[1].ID != got[0].eventID {
		t.Errorf("stored alerts %+v: want the two delivered, newest first", stored)
	}
	s := e.Stats()
	if s.Fired != 2 || s.Suppressed == 0 || s.Dropped != 0 {
		t.Errorf("engine stats %+v", s)
	}
}
