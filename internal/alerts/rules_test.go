package alerts

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

func TestNormalize(t *testing.T) {
	d := func(v time.Duration) domain.Duration { return domain.Duration(v) }
	cases := []struct {
		desc    string
		in      domain.AlertRule
		wantErr string // substring; "" = valid
		check   func(r domain.AlertRule) bool
	}{
		{"threshold defaults: by consumer, 1m window, 10m cooldown",
			domain.AlertRule{Name: " jwt ", Kind: domain.AlertThreshold, Reason: "jwt.expired", Threshold: 10}, "",
			func(r domain.AlertRule) bool {
				return r.Name == "jwt" && r.By == domain.AlertByConsumer && r.Window == d(time.Minute) && r.Cooldown == d(10*time.Minute)
			}},
		{"key_expiring defaults: within 7 days, cooldown 24h", domain.AlertRule{Name: "x", Kind: domain.AlertKeyExpiring}, "",
			func(r domain.AlertRule) bool { return r.Within == d(7*24*time.Hour) && r.Cooldown == d(24*time.Hour) }},
		{"a family prefix is a reason", domain.AlertRule{Name: "x", Kind: domain.AlertThreshold, Reason: "sig.", Threshold: 1}, "", nil},
		{"no reason means every rejection", domain.AlertRule{Name: "x", Kind: domain.AlertThreshold, Threshold: 1}, "", nil},
		{"new_ip with a consumer and cooldown", domain.AlertRule{Name: "x", Kind: domain.AlertNewIP, ConsumerID: "con_1", Cooldown: d(time.Hour)}, "",
			func(r domain.AlertRule) bool { return r.Cooldown == d(time.Hour) }},
		{"name required", domain.AlertRule{Kind: domain.AlertNewIP}, "name is required", nil},
		{"name without control characters", domain.AlertRule{Name: "a\nb", Kind: domain.AlertNewIP}, "control characters", nil},
		{"name length", domain.AlertRule{Name: strings.Repeat("n", 101), Kind: domain.AlertNewIP}, "at most 100", nil},
		{"kind required", domain.AlertRule{Name: "x"}, "kind is required", nil},
		{"unknown kind", domain.AlertRule{Name: "x", Kind: "spike"}, `kind "spike"`, nil},
		{"unknown reason code", domain.AlertRule{Name: "x", Kind: domain.AlertThreshold, Reason: "jwt.expird", Threshold: 1}, "not a reason code", nil},
		{"unknown family", domain.AlertRule{Name: "x", Kind: domain.AlertThreshold, Reason: "oauth.", Threshold: 1}, "no reason code starts with it", nil},
		{"threshold needed", domain.AlertRule{Name: "x", Kind: domain.AlertThreshold}, "threshold must be 1 or more", nil},
		{"bad by", domain.AlertRule{Name: "x", Kind: domain.AlertThreshold, Threshold: 1, By: "ip"}, `by "ip"`, nil},
		{"window bounds", domain.AlertRule{Name: "x", Kind: domain.AlertThreshold, Threshold: 1, Window: d(48 * time.Hour)}, "window 48h0m0s", nil},
		{"cooldown bounds", domain.AlertRule{Name: "x", Kind: domain.AlertNewIP, Cooldown: d(time.Millisecond)}, "at least 1s", nil},
		{"within bounds", domain.AlertRule{Name: "x", Kind: domain.AlertKeyExpiring, Within: d(time.Minute)}, "within 1m0s", nil},
		{"threshold fields refused on other kinds", domain.AlertRule{Name: "x", Kind: domain.AlertNewIP, Reason: "jwt.expired"}, "reason applies to threshold rules only", nil},
		{"within refused on threshold", domain.AlertRule{Name: "x", Kind: domain.AlertThreshold, Threshold: 1, Within: d(time.Hour)}, "within applies", nil},
		{"route refused on key_expiring", domain.AlertRule{Name: "x", Kind: domain.AlertKeyExpiring, RouteID: "rte_1"}, "route does not apply", nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := tc.in
			err := Normalize(&r)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Normalize: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !IsRuleError(err)):
				t.Fatalf("Normalize error %v, want a RuleError naming %q", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(r) {
				t.Errorf("normalized rule %+v", r)
			}
		})
	}
}

func TestSyncDeclared(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.PutTenant(ctx, domain.Tenant{ID: "ten_1", Slug: "acme", Name: "Acme", Status: domain.StatusActive, CreatedAt: t0, UpdatedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	api := putRules(t, st, domain.AlertRule{ID: "alr_api", Name: "from the API", Kind: domain.AlertNewIP})[0]
	declared := []domain.AlertRule{
		{Name: "jwt storm", Kind: domain.AlertThreshold, Reason: "jwt.expired", Threshold: 10},
		{Name: "expiring", TenantID: "acme", Kind: domain.AlertKeyExpiring},
	}
	list := func() map[string]domain.AlertRule {
		rs, err := st.ListAlertRules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]domain.AlertRule{}
		for _, r := range rs {
			m[r.Name] = r
		}
		return m
	}
	version := func() int64 {
		v, err := st.Version(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	steps := []struct {
		desc        string
		rules       []domain.AlertRule
		wantChanged int
		wantNames   []string
	}{
		{"first sync inserts both", declared, 2, []string{"expiring", "from the API", "jwt storm"}},
		{"the same file again changes nothing (no version bump)", declared, 0, []string{"expiring", "from the API", "jwt storm"}},
		{"a changed threshold is updated", []domain.AlertRule{{Name: "jwt storm", Kind: domain.AlertThreshold, Reason: "jwt.expired", Threshold: 20}, declared[1]},
			1, []string{"expiring", "from the API", "jwt storm"}},
		{"a rule removed from the file is deleted; the API's rule stays", declared[1:], 1, []string{"expiring", "from the API"}},
	}
	for _, s := range steps {
		v := version()
		n, err := SyncDeclared(ctx, st, s.rules, t0)
		if err != nil {
			t.Fatalf("%s: %v", s.desc, err)
		}
		if n != s.wantChanged {
			t.Errorf("%s: %d changes, want %d", s.desc, n, s.wantChanged)
		}
		if bumped := version() != v; bumped != (s.wantChanged > 0) {
			t.Errorf("%s: version moved %v", s.desc, bumped)
		}
		m := list()
		var names []string
		for name := range m {
			names = append(names, name)
		}
		if len(names) != len(s.wantNames) {
			t.Errorf("%s: rules %v, want %v", s.desc, names, s.wantNames)
		}
		for _, name := range s.wantNames {
			if _, ok := m[name]; !ok {
				t.Errorf("%s: rule %q missing", s.desc, name)
			}
		}
	}
	m := list()
	if r := m["expiring"]; !r.Declared || r.TenantID != "ten_1" || r.ID != DeclaredID("ten_1", "expiring") {
		t.Errorf("declared rule %+v: want Declared, tenant resolved from its slug, a stable id", r)
	}
	if r := m["from the API"]; r != api {
		t.Errorf("the API's rule changed: %+v", r)
	}
	audit, _, err := st.ListAudit(ctx, store.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	syncs := 0
	for _, a := range audit {
		if a.Action == "alert_rule.sync" && a.Actor == DeclaredActor {
			syncs++
		}
	}
	if syncs != 3 {
		t.Errorf("%d sync audit entries, want 3 (one per changing sync)", syncs)
	}
	for _, bad := range [][]domain.AlertRule{
		{{Name: "x", TenantID: "nope", Kind: domain.AlertNewIP}},
		{{Name: "x", Kind: domain.AlertThreshold}},
		{{Name: "x", Kind: domain.AlertNewIP}, {Name: "x", Kind: domain.AlertNewIP}},
	} {
		if _, err := SyncDeclared(ctx, st, bad, t0); err == nil {
			t.Errorf("SyncDeclared(%+v) accepted", bad)
		}
	}
}
