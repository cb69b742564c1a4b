package alerts

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
	"gatehouse/internal/webhook"
)

// firedSubjects observes cs, waits for delivery and returns the subjects
// of the alerts stored by this rule, oldest first.
func firedSubjects(t *testing.T, st store.Store, e *Engine, ruleID string, cs []domain.Call) []string {
	t.Helper()
	e.Observe(cs)
	flush(t, e)
	var out []string
	for _, a := range storedAlerts(t, st, store.AlertFilter{RuleID: ruleID}) {
		out = append(out, a.Subject)
	}
	slices.Reverse(out)
	return out
}

func TestThresholdRules(t *testing.T) {
	mixed := func() []domain.Call {
		cs := calls(6, t0, "con_a", "jwt.expired", 401)
		cs = append(cs, calls(6, t0.Add(time.Second), "con_a", "jwt.unknown_kid", 401)...)
		cs = append(cs, calls(3, t0.Add(2*time.Second), "con_b", "jwt.expired", 401)...)
		cs = append(cs, calls(4, t0.Add(3*time.Second), "con_c", "", 502)...)
		cs = append(cs, calls(20, t0.Add(4*time.Second), "con_c", "", 200)...)
		for i := range cs {
			if cs[i].ConsumerID == "con_c" {
				cs[i].TenantID, cs[i].RouteID = "ten_2", "rte_2"
			}
		}
		return cs
	}
	cases := []struct {
		desc  string
		rule  domain.AlertRule
		calls []domain.Call
		want  []string
	}{
		{"an exact code per consumer: 6 of jwt.expired is not more than 10",
			domain.AlertRule{Reason: "jwt.expired", Threshold: 10}, mixed(), nil},
		{"a family prefix counts every jwt.* code: 12 for con_a",
			domain.AlertRule{Reason: "jwt.", Threshold: 10}, mixed(), []string{"consumer con_a"}},
		{"no reason counts every call answered 400 or more, per tenant: ten_1 has 15",
			domain.AlertRule{By: domain.AlertByTenant, Threshold: 14}, mixed(), []string{"tenant ten_1"}},
		{"per route: rte_1 has 15 rejections, rte_2 4 upstream errors",
			domain.AlertRule{By: domain.AlertByRoute, Threshold: 3}, mixed(), []string{"route rte_1", "route rte_2"}},
		{"per credential", domain.AlertRule{By: domain.AlertByCredential, Reason: "jwt.unknown_kid", Threshold: 5}, mixed(),
			[]string{"credential cred_con_a"}},
		{"a tenant's rule sees only its tenant's calls",
			domain.AlertRule{TenantID: "ten_2", Threshold: 3}, mixed(), []string{"consumer con_c"}},
		{"a rule narrowed to a consumer",
			domain.AlertRule{ConsumerID: "con_b", Reason: "jwt.", Threshold: 2}, mixed(), []string{"consumer con_b"}},
		{"11 calls spread over 2 minutes never make 11 within 1 minute",
			domain.AlertRule{Reason: "jwt.expired", Threshold: 10}, spread(11, 12*time.Second), nil},
		{"11 calls within 50 seconds do",
			domain.AlertRule{Reason: "jwt.expired", Threshold: 10}, spread(11, 5*time.Second), []string{"consumer con_a"}},
		{"a late record older than the window is not counted",
			domain.AlertRule{Reason: "jwt.expired", Threshold: 10},
			append(calls(10, t0.Add(5*time.Minute), "con_a", "jwt.expired", 401), calls(1, t0, "con_a", "jwt.expired", 401)...), nil},
		{"unidentified callers have no consumer to count per",
			domain.AlertRule{Reason: "key.unknown", Threshold: 1}, calls(5, t0, "", "key.unknown", 401), nil},
	}
	for i, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			st := openStore(t)
			r := tc.rule
			r.ID, r.Name, r.Kind = fmt.Sprintf("alr_%d", i), "rule", domain.AlertThreshold
			putRules(t, st, r)
			e := newEngine(t, st, clock.NewFake(t0), nil)
			got := firedSubjects(t, st, e, r.ID, tc.calls)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("fired for %v, want %v", got, tc.want)
			}
		})
	}
}

// spread builds n jwt.expired calls of con_a, every gap.
func spread(n int, gap time.Duration) []domain.Call {
	var out []domain.Call
	for i := range n {
		out = append(out, calls(1, t0.Add(time.Duration(i)*gap), "con_a", "jwt.expired", 401)...)
	}
	return out
}

func TestNewIP(t *testing.T) {
	st := openStore(t)
	clk := clock.NewFake(t0)
	putRules(t, st, domain.AlertRule{ID: "alr_ip", Name: "new ip", Kind: domain.AlertNewIP, Cooldown: domain.Duration(time.Minute)})
	e := newEngine(t, st, clk, func(o *Options) { o.MaxIPs = 2 })
	use := func(cred, ip, code string) []domain.Call {
		c := calls(1, clk.Now(), "con_a", code, 200)
		c[0].CredentialID, c[0].ClientIP = cred, ip
		if code != "" {
			c[0].Status = 401
		}
		return c
	}
	steps := []struct {
		desc    string
		advance time.Duration
		call    []domain.Call
		fires   bool
	}{
		{"a credential's first use is its baseline", 0, use("k1", "192.0.2.1", ""), false},
		{"the same address again", 0, use("k1", "192.0.2.1", ""), false},
		{"another credential's first use", 0, use("k2", "192.0.2.9", ""), false},
		{"a rejection before the credential proved itself says nothing", 0, use("k1", "192.0.2.66", "key.revoked"), false},
		{"a new address fires", 0, use("k1", "192.0.2.2", ""), true},
		{"a rejection after proof (scope) still shows the credential in use", 2 * time.Minute, use("k1", "192.0.2.3", "scope.insufficient"), true},
		{"a third address within the cooldown is held back", 0, use("k1", "192.0.2.4", ""), false},
		{"an address still remembered is not new", 2 * time.Minute, use("k1", "192.0.2.4", ""), false},
		{"with 2 addresses kept, the oldest was forgotten and is new again", 0, use("k1", "192.0.2.1", ""), true},
	}
	fired := 0
	for _, s := range steps {
		clk.Advance(s.advance)
		e.Observe(s.call)
		flush(t, e)
		n := len(storedAlerts(t, st, store.AlertFilter{}))
		if got := n > fired; got != s.fires {
			t.Errorf("%s: fired %v, want %v", s.desc, got, s.fires)
		}
		fired = n
	}
	a := storedAlerts(t, st, store.AlertFilter{})[0]
	if a.ClientIP != "192.0.2.1" || a.CredentialID != "k1" || a.Kind != domain.AlertNewIP || a.TenantID != "ten_1" {
		t.Errorf("last alert %+v", a)
	}
}

func TestRotatedKeyUsed(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	clk := clock.NewFake(t0)
	grace := t0.Add(time.Hour)
	// A real snapshot built from the store, as the gateway has one.
	err := st.Update(ctx, func(tx store.Tx) error {
		old := domain.APIKey{ID: "oldKey000001", ConsumerID: "con_a", Environment: domain.EnvLive, Hash: strings.Repeat("a", 64), Last4: "aaaa",
			Scopes: []string{}, Successor: "newKey000001", GraceUntil: &grace, CreatedAt: t0}
		succ := domain.APIKey{ID: "newKey000001", ConsumerID: "con_a", Environment: domain.EnvLive, Hash: strings.Repeat("b", 64), Last4: "bbbb",
			Scopes: []string{}, Predecessor: "oldKey000001", CreatedAt: t0}
		return errJoin(
			tx.PutTenant(ctx, domain.Tenant{ID: "ten_1", Slug: "acme", Name: "Acme", Status: domain.StatusActive, CreatedAt: t0, UpdatedAt: t0}),
			tx.PutConsumer(ctx, domain.Consumer{ID: "con_a", TenantID: "ten_1", Name: "shop", Status: domain.StatusActive, Scopes: []string{}, CreatedAt: t0, UpdatedAt: t0}),
			tx.PutKey(ctx, old), tx.PutKey(ctx, succ))
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Build(data, snapshot.Options{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	var h snapshot.Holder
	h.Store(snap)
	putRules(t, st, domain.AlertRule{ID: "alr_rot", Name: "rotated", Kind: domain.AlertRotatedKeyUsed})
	e := newEngine(t, st, clk, func(o *Options) { o.Keys = SnapshotKeys(&h) })
	use := func(key string, at time.Time, code string) []domain.Call {
		c := calls(1, at, "con_a", code, 200)
		c[0].CredentialID, c[0].CredentialType = key, domain.AuthAPIKey
		if code != "" {
			c[0].Status = 401
		}
		return c
	}
	cases := []struct {
		desc  string
		call  []domain.Call
		fires bool
	}{
		{"the successor in use: nothing to say", use("newKey000001", t0, ""), false},
		{"after grace the old key is rejected (key.rotated): not a use", use("oldKey000001", grace.Add(time.Minute), "key.rotated"), false},
		{"the old key within grace fires", use("oldKey000001", t0.Add(time.Minute), ""), true},
		{"again within the cooldown: held back", use("oldKey000001", t0.Add(2*time.Minute), ""), false},
		{"a key the snapshot does not know", use("unknownKey01", t0, ""), false},
	}
	fired := 0
	for _, tc := range cases {
		e.Observe(tc.call)
		flush(t, e)
		n := len(storedAlerts(t, st, store.AlertFilter{}))
		if got := n > fired; got != tc.fires {
			t.Errorf("%s: fired %v, want %v", tc.desc, got, tc.fires)
		}
		fired = n
	}
	a := storedAlerts(t, st, store.AlertFilter{})[0]
	if a.Successor != "newKey000001" || a.GraceUntil == nil || !a.GraceUntil.Equal(grace) || a.CredentialID != "oldKey000001" {
		t.Errorf("alert %+v", a)
	}
}

func errJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestKeyExpiring(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	clk := clock.NewFake(t0)
	in := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	day := 24 * time.Hour
	key := func(id, consumer string, exp *time.Time) domain.APIKey {
		return domain.APIKey{ID: id, ConsumerID: consumer, Environment: domain.EnvLive, Hash: fmt.Sprintf("%x", sha256.Sum256([]byte(id))), Last4: "abcd",
			Scopes: []string{}, ExpiresAt: exp, CreatedAt: t0}
	}
	soon, later, revoked, expired, rotated := key("keySoon00001", "con_a", in(3*day)), key("keyLater0001", "con_a", in(30*day)),
		key("keyRevoked01", "con_a", in(2*day)), key("keyExpired01", "con_a", in(-day)), key("keyRotated01", "con_a", in(day))
	revoked.RevokedAt, rotated.Successor, rotated.GraceUntil = in(-time.Hour), "keySoon00001", in(time.Hour)
	other := key("keyOther0001", "con_b", in(day+6*time.Hour))
	err := st.Update(ctx, func(tx store.Tx) error {
		return errJoin(
			tx.PutTenant(ctx, domain.Tenant{ID: "ten_1", Slug: "acme", Name: "Acme", Status: domain.StatusActive, CreatedAt: t0, UpdatedAt: t0}),
			tx.PutTenant(ctx, domain.Tenant{ID: "ten_2", Slug: "beta", Name: "Beta", Status: domain.StatusActive, CreatedAt: t0, UpdatedAt: t0}),
			tx.PutConsumer(ctx, domain.Consumer{ID: "con_a", TenantID: "ten_1", Name: "shop", Status: domain.StatusActive, Scopes: []string{}, CreatedAt: t0, UpdatedAt: t0}),
			tx.PutConsumer(ctx, domain.Consumer{ID: "con_b", TenantID: "ten_2", Name: "app", Status: domain.StatusActive, Scopes: []string{}, CreatedAt: t0, UpdatedAt: t0}),
			tx.PutKey(ctx, soon), tx.PutKey(ctx, later), tx.PutKey(ctx, revoked), tx.PutKey(ctx, expired), tx.PutKey(ctx, rotated), tx.PutKey(ctx, other),
			tx.PutCredential(ctx, domain.Credential{ID: "crd_basic1", ConsumerID: "con_a", Type: domain.CredentialBasic, Username: "shop",
				PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", Scopes: []string{}, ExpiresAt: in(5 * day), CreatedAt: t0}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	putRules(t, st,
		domain.AlertRule{ID: "alr_exp", Name: "expiring", Kind: domain.AlertKeyExpiring},
		domain.AlertRule{ID: "alr_exp_t2", Name: "expiring beta", TenantID: "ten_2", Kind: domain.AlertKeyExpiring, Within: domain.Duration(12 * time.Hour)})
	e := newEngine(t, st, clk, nil)
	scan := func() (gateway, beta []string) {
		t.Helper()
		if err := e.ScanCredentials(ctx); err != nil {
			t.Fatal(err)
		}
		flush(t, e)
		for _, a := range storedAlerts(t, st, store.AlertFilter{}) {
			if a.RuleID == "alr_exp" {
				gateway = append(gateway, a.CredentialID)
			} else {
				beta = append(beta, a.CredentialID)
			}
		}
		slices.Sort(gateway)
		return gateway, beta
	}
	gw, beta := scan()
	if want := []string{"crd_basic1", "keyOther0001", "keySoon00001"}; !slices.Equal(gw, want) || len(beta) != 0 {
		t.Errorf("first scan: gateway rule fired for %v (want %v), the 12h rule of ten_2 for %v (want none)", gw, want, beta)
	}
	gw2, _ := scan()
	if len(gw2) != len(gw) {
		t.Errorf("a second scan within the 24h cooldown fired again: %v", gw2)
	}
	clk.Advance(day + time.Minute) // keyOther0001 now expires within 12h, and the cooldowns ran out
	gw3, beta3 := scan()
	if len(gw3) != 2*len(gw) || !slices.Equal(beta3, []string{"keyOther0001"}) {
		t.Errorf("after a day: gateway alerts %v, ten_2 alerts %v", gw3, beta3)
	}
	var a domain.Alert
	for _, x := range storedAlerts(t, st, store.AlertFilter{RuleID: "alr_exp_t2"}) {
		a = x
	}
	if a.TenantID != "ten_2" || a.ExpiresAt == nil || !a.ExpiresAt.Equal(*other.ExpiresAt) || a.ConsumerID != "con_b" {
		t.Errorf("alert %+v", a)
	}
}

func TestReloadAndRestart(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	clk := clock.NewFake(t0)
	e := newEngine(t, st, clk, nil)
	if s := e.Stats(); s.Rules != 0 {
		t.Fatalf("rules %d on an empty store", s.Rules)
	}
	e.Observe(calls(20, t0, "con_a", "jwt.expired", 401)) // no rule yet: nothing counted
	putRules(t, st, domain.AlertRule{ID: "alr_1", Name: "jwt", Kind: domain.AlertThreshold, Reason: "jwt.expired", Threshold: 10})
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	e.Observe(calls(10, t0.Add(time.Second), "con_a", "jwt.expired", 401))
	flush(t, e)
	if n := len(storedAlerts(t, st, store.AlertFilter{})); n != 0 {
		t.Fatalf("%d alerts: calls before the rule existed were counted", n)
	}
	// An unrelated rule change keeps alr_1's counters.
	putRules(t, st, domain.AlertRule{ID: "alr_2", Name: "other", Kind: domain.AlertNewIP})
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	e.Observe(calls(1, t0.Add(2*time.Second), "con_a", "jwt.expired", 401))
	flush(t, e)
	if n := len(storedAlerts(t, st, store.AlertFilter{})); n != 1 {
		t.Fatalf("%d alerts after the 11th call across a reload, want 1", n)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A restart within the cooldown does not fire again for the same
	// subject; another subject still fires.
	e2 := newEngine(t, st, clk, nil)
	clk.Advance(time.Minute)
	e2.Observe(calls(11, t0.Add(time.Minute), "con_a", "jwt.expired", 401))
	e2.Observe(calls(11, t0.Add(time.Minute), "con_b", "jwt.expired", 401))
	flush(t, e2)
	got := storedAlerts(t, st, store.AlertFilter{})
	if len(got) != 2 || got[0].Subject != "consumer con_b" {
		t.Errorf("after restart: %d alerts, newest %q; want 2, the new one for con_b", len(got), got[0].Subject)
	}

	// Deleting the rule stops it.
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.(store.AlertRuleTx).DeleteAlertRule(ctx, "alr_1") }); err != nil {
		t.Fatal(err)
	}
	if err := e2.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	e2.Observe(calls(30, clk.Now(), "con_c", "jwt.expired", 401))
	flush(t, e2)
	if n := len(storedAlerts(t, st, store.AlertFilter{})); n != 2 {
		t.Errorf("%d alerts after the rule was deleted, want still 2", n)
	}
	if err := e2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e2.Flush(ctx); err == nil {
		t.Error("Flush after Close succeeded")
	}
}

func TestQueueBoundCountsDrops(t *testing.T) {
	st := openStore(t)
	putRules(t, st, domain.AlertRule{ID: "alr_1", Name: "any", Kind: domain.AlertThreshold, By: domain.AlertByCredential, Threshold: 1})
	blocked := make(chan struct{})
	e := newEngine(t, st, clock.NewFake(t0), func(o *Options) {
		o.QueueSize = 2
		o.Publish = func(context.Context, webhook.Event) { <-blocked }
	})
	var cs []domain.Call
	for i := range 10 {
		c := calls(2, t0, fmt.Sprint("con_", i), "jwt.expired", 401)
		cs = append(cs, c...)
	}
	e.Observe(cs) // 10 alerts: one in delivery (blocked), 2 queued, the rest dropped
	close(blocked)
	flush(t, e)
	s := e.Stats()
	if s.Fired != 10 || s.Dropped < 7 || s.Dropped > 8 {
		t.Errorf("stats %+v: want 10 fired, 7-8 dropped by a 2-slot queue", s)
	}
}

// heldRules is the real store with ListAlertRules held once: the first
// call reads the rules, signals read and waits for release before it
// returns what it read — a reload slowed after its read, as under CPU
// pressure or a slow store round trip.
type heldRules struct {
	*sqlite.Store
	hold          atomic.Bool
	read, release chan struct{}
}

func (h *heldRules) ListAlertRules(ctx context.Context) ([]domain.AlertRule, error) {
	rules, err := h.Store.ListAlertRules(ctx)
	if h.hold.CompareAndSwap(true, false) {
		close(h.read)
		<-h.release
	}
	return rules, err
}

// TestOverlappingReloadsKeepTheNewestRules: a reload that read the rules
// before a change must not publish them after a reload that read the
// change — on a cluster node the change feed's reload and the admin API's
// own overlap, and the rules would go back to the older set until the
// next refresh (10 s).
func TestOverlappingReloadsKeepTheNewestRules(t *testing.T) {
	ctx := t.Context()
	real := openStore(t)
	putRules(t, real, domain.AlertRule{ID: "alr_1", Name: "jwt", Kind: domain.AlertThreshold, Reason: "jwt.expired", Threshold: 10})
	st := &heldRules{Store: real, read: make(chan struct{}), release: make(chan struct{})}
	e := newEngine(t, st, clock.NewFake(t0), nil) // New's own load is not held
	st.hold.Store(true)

	first := make(chan error, 1)
	go func() { first <- e.Reload(ctx) }() // reads alr_1 alone, then is held
	<-st.read
	putRules(t, real, domain.AlertRule{ID: "alr_2", Name: "ip", Kind: domain.AlertNewIP})
	second := make(chan error, 1)
	go func() { second <- e.Reload(ctx) }() // reads alr_1 and alr_2
	// Without serialisation the second reload finishes now, and the held
	// one then publishes its older read; with it, the second waits.
	time.Sleep(100 * time.Millisecond)
	close(st.release)
	for _, c := range []chan error{first, second} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a reload did not return")
		}
	}
	if s := e.Stats(); s.Rules != 2 {
		t.Errorf("%d rules after two overlapping reloads, want 2 (the newer read)", s.Rules)
	}
}

// TestNewExpiringRuleScansAtOnce: a key_expiring rule added while the
// engine runs is checked at once, not at the next hourly scan (a rule
// created through the API fired only after a restart or an hour).
func TestNewExpiringRuleScansAtOnce(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	clk := clock.NewFake(t0)
	exp := t0.Add(48 * time.Hour)
	err := st.Update(ctx, func(tx store.Tx) error {
		return errJoin(
			tx.PutTenant(ctx, domain.Tenant{ID: "ten_1", Slug: "acme", Name: "Acme", Status: domain.StatusActive, CreatedAt: t0, UpdatedAt: t0}),
			tx.PutConsumer(ctx, domain.Consumer{ID: "con_a", TenantID: "ten_1", Name: "shop", Status: domain.StatusActive, Scopes: []string{}, CreatedAt: t0, UpdatedAt: t0}),
			tx.PutKey(ctx, domain.APIKey{ID: "keySoon00001", ConsumerID: "con_a", Environment: domain.EnvLive, Hash: fmt.Sprintf("%x", sha256.Sum256([]byte("k"))),
				Last4: "abcd", Scopes: []string{}, ExpiresAt: &exp, CreatedAt: t0}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, st, clk, func(o *Options) { o.NoBackground = false; o.ScanEvery = time.Hour })
	time.Sleep(100 * time.Millisecond) // the start-up scan: no rule yet
	putRules(t, st, domain.AlertRule{ID: "alr_exp", Name: "expiring", Kind: domain.AlertKeyExpiring})
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := e.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if len(storedAlerts(t, st, store.AlertFilter{RuleID: "alr_exp"})) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a key_expiring rule added while running did not fire within 5 s: the scan waits for the hourly tick")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFamilyRuleNamesTheCode: an alert of a rule on a code family says
// which code crossed the line ("4 key. calls" named none).
func TestFamilyRuleNamesTheCode(t *testing.T) {
	st := openStore(t)
	putRules(t, st, domain.AlertRule{ID: "alr_fam", Name: "jwt storm", Kind: domain.AlertThreshold, Reason: "jwt.", Threshold: 3})
	e := newEngine(t, st, clock.NewFake(t0), nil)
	cs := append(calls(2, t0, "con_a", "jwt.expired", 401), calls(2, t0.Add(time.Second), "con_a", "jwt.unknown_kid", 401)...)
	if got := firedSubjects(t, st, e, "alr_fam", cs); len(got) != 1 {
		t.Fatalf("fired %v, want once", got)
	}
	a := storedAlerts(t, st, store.AlertFilter{RuleID: "alr_fam"})[0]
	if want := "4 calls rejected with a jwt.* code within 1m0s for consumer con_a (threshold 3; the last: jwt.unknown_kid)"; a.Message != want {
		t.Errorf("message %q, want %q", a.Message, want)
	}
}
