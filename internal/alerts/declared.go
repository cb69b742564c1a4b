package alerts

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// DeclaredActor names gatehouse.yaml in the audit log.
const DeclaredActor = "gatehouse.yaml"

// DeclaredID is the stable id of a rule declared in gatehouse.yaml: derived
// from its tenant and name, so restarts update the same row.
func DeclaredID(tenantID, name string) string {
	sum := sha256.Sum256([]byte("alert-rule\x00" + tenantID + "\x00" + name))
	s := new(big.Int).SetBytes(sum[:]).Text(62)
	for len(s) < 16 {
		s = "0" + s
	}
	return "alr_" + s[:16]
}

// SyncDeclared makes the stored declared rules equal rules (from
// gatehouse.yaml): new ones are inserted, changed ones updated, and
// declared ones no longer in the file deleted, in one transaction with one
// audit entry ("alert_rule.sync", actor gatehouse.yaml) — or no
// transaction at all when nothing changed, so a restart does not move the
// version. A rule's tenant may be given by id or slug. Rules created
// through the admin API are left alone. It returns how many rules it
// inserted, updated or deleted.
func SyncDeclared(ctx context.Context, st store.Store, rules []domain.AlertRule, now time.Time) (int, error) {
	an, ok := st.(store.Analytics)
	if !ok {
		return 0, fmt.Errorf("alerts: the %T store does not implement store.Analytics", st)
	}
	// Resolve tenants and validate before touching anything.
	want := make(map[string]domain.AlertRule, len(rules))
	err := st.View(ctx, func(tx store.Tx) error {
		for i, r := range rules {
			if r.TenantID != "" {
				t, err := tx.GetTenant(ctx, r.TenantID)
				if err != nil {
					return fmt.Errorf("alert rule %d (%q): tenant %q: %w", i+1, r.Name, r.TenantID, err)
				}
				r.TenantID = t.ID
			}
			if err := Normalize(&r); err != nil {
				return fmt.Errorf("alert rule %d (%q): %w", i+1, r.Name, err)
			}
			r.ID, r.Declared = DeclaredID(r.TenantID, r.Name), true
			if _, dup := want[r.ID]; dup {
				return fmt.Errorf("alert rule %d: %q is declared twice for the same tenant", i+1, r.Name)
			}
			want[r.ID] = r
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("alerts: declared rules: %w", err)
	}
	stored, err := an.ListAlertRules(ctx)
	if err != nil {
		return 0, fmt.Errorf("alerts: declared rules: %w", err)
	}
	now = now.UTC().Truncate(time.Microsecond)
	var puts []domain.AlertRule
	var dels []string
	have := map[string]domain.AlertRule{}
	for _, r := range stored {
		if !r.Declared {
			continue
		}
		have[r.ID] = r
		if _, ok := want[r.ID]; !ok {
			dels = append(dels, r.ID)
		}
	}
	for id, r := range want {
		cur, ok := have[id]
		r.CreatedAt, r.UpdatedAt = now, now
		if ok {
			r.CreatedAt, r.UpdatedAt = cur.CreatedAt, cur.UpdatedAt
			if r == cur {
				continue
			}
			r.UpdatedAt = now
		}
		puts = append(puts, r)
	}
	if len(puts) == 0 && len(dels) == 0 {
		return 0, nil
	}
	after, err := json.Marshal(map[string]any{"upserted": puts, "deleted": dels})
	if err != nil {
		return 0, fmt.Errorf("alerts: declared rules: %w", err)
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		rt, ok := tx.(store.AlertRuleTx)
		if !ok {
			return fmt.Errorf("the %T transaction does not implement store.AlertRuleTx", tx)
		}
		for _, r := range puts {
			if err := rt.PutAlertRule(ctx, r); err != nil {
				return err
			}
		}
		for _, id := range dels {
			if err := rt.DeleteAlertRule(ctx, id); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, domain.AuditEntry{At: now, Actor: DeclaredActor, Action: "alert_rule.sync",
			Resource: "alert_rule", After: after})
	})
	if err != nil {
		return 0, fmt.Errorf("alerts: declared rules: %w", err)
	}
	return len(puts) + len(dels), nil
}
