package admin

import (
	"errors"
	"fmt"
	"strings"

	"gatehouse/internal/alerts"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// prefixAlertRule starts the id of an alert rule created through the API
// (declared ones have ids from alerts.DeclaredID).
const prefixAlertRule = "alr_"

// alertRuleRequest creates an alert rule (see domain.AlertRule; the
// engine's defaults fill what is left out).
type alertRuleRequest struct {
	Name string `json:"name"`
	// Tenant (id or slug) limits the rule to that tenant's calls and
	// credentials; tenant-bound admins' rules are always their tenant's.
	// Empty (admins only): the whole gateway.
	Tenant string `json:"tenant,omitempty"`
	// Kind: threshold, key_expiring, rotated_key_used or new_ip.
	Kind string `json:"kind"`
	// Reason (threshold): a code (jwt.expired), a family ending in "."
	// (jwt.), or empty for every call answered 400 or more.
	Reason string `json:"reason,omitempty"`
	// By (threshold): consumer (default), tenant, route or credential.
	By string `json:"by,omitempty"`
	// Threshold (threshold): fires when the count within Window exceeds it.
	Threshold int64           `json:"threshold,omitempty"`
	Window    domain.Duration `json:"window,omitempty"`
	// Consumer (id, name or tenant-slug/name) and Route (id) narrow the
	// rule.
	Consumer string `json:"consumer,omitempty"`
	Route    string `json:"route,omitempty"`
	// Within (key_expiring): the horizon, default 7 days.
	Within domain.Duration `json:"within,omitempty"`
	// Cooldown: least time between two alerts of the rule for one subject
	// (default 10m; 24h for key_expiring).
	Cooldown domain.Duration `json:"cooldown,omitempty"`
}

var pAlertRuleQuery = []param{{Name: "tenant", Type: "string", Description: "tenant id or slug (tenant-bound admins: always their own)"}}

var pAlertsQuery = withPage(
	param{Name: "since", Type: "string", Description: "RFC 3339 time, or a duration before now (1h, 7d)"},
	param{Name: "rule", Type: "string", Description: "alert rule id"},
	param{Name: "tenant", Type: "string", Description: "tenant id or slug (tenant-bound admins: always their own)"},
)

// ruleTx is the alert-rule side of a transaction.
func ruleTx(tx store.Tx) (store.AlertRuleTx, error) {
	rt, ok := tx.(store.AlertRuleTx)
	if !ok {
		return nil, internal(fmt.Errorf("%T does not implement store.AlertRuleTx", tx), "this gateway's store keeps no alert rules")
	}
	return rt, nil
}

// tenantFilter is the tenant a read is narrowed to: the admin's own, or
// the ?tenant= given (checked for reach), or "" for every tenant.
func (rc *reqCtx) tenantFilter() (string, error) {
	id := rc.scope()
	if ref := rc.query("tenant"); ref != "" {
		err := rc.view(func(tx store.Tx) error {
			t, err := rc.loadTenant(tx, ref)
			id = t.ID
			return err
		})
		if err != nil {
			return "", err
		}
	}
	return id, nil
}

func (a *API) listAlertRules(rc *reqCtx) (any, error) {
	an, err := rc.analyticsStore()
	if err != nil {
		return nil, err
	}
	tenant, err := rc.tenantFilter()
	if err != nil {
		return nil, err
	}
	rules, err := an.ListAlertRules(rc.ctx)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]domain.AlertRule, 0, len(rules))
	for _, r := range rules {
		// A tenant-bound admin sees its tenant's rules only (gateway-wide
		// rules belong to the operator).
		if tenant == "" || r.TenantID == tenant {
			out = append(out, r)
		}
	}
	return list(out, ""), nil
}

// loadAlertRule reads a rule inside tx and checks reach: a gateway-wide
// rule is reachable by unbound admins only.
func (rc *reqCtx) loadAlertRule(tx store.Tx, id string) (domain.AlertRule, error) {
	rt, err := ruleTx(tx)
	if err != nil {
		return domain.AlertRule{}, err
	}
	r, err := rt.GetAlertRule(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return r, notFound("alert rule %q not found; list them with gatehouse alert rules", id)
	}
	if err != nil {
		return r, err
	}
	if s := rc.scope(); s != "" && r.TenantID != s {
		if r.TenantID == "" {
			return r, &deniedError{Action: rc.ep.Action, Resource: "alert_rule", ResourceID: r.ID,
				Detail: fmt.Sprintf("alert rule %q watches the whole gateway: only an unbound admin reaches it", id)}
		}
		return r, rc.reach("alert_rule", r.ID, id, r.TenantID)
	}
	return r, nil
}

func (a *API) getAlertRule(rc *reqCtx) (any, error) {
	var r domain.AlertRule
	err := rc.view(func(tx store.Tx) (err error) {
		r, err = rc.loadAlertRule(tx, rc.r.PathValue("id"))
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (a *API) createAlertRule(rc *reqCtx) (any, error) {
	var req alertRuleRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	r := domain.AlertRule{Name: req.Name, Kind: req.Kind, Reason: req.Reason, By: req.By, Threshold: req.Threshold,
		Window: req.Window, RouteID: strings.TrimSpace(req.Route), Within: req.Within, Cooldown: req.Cooldown}
	if err := alerts.Normalize(&r); err != nil {
		if alerts.IsRuleError(err) {
			return nil, invalid("%s", err.Error())
		}
		return nil, err
	}
	r.TenantID = rc.scope()
	if req.Tenant != "" {
		err := rc.view(func(tx store.Tx) error {
			t, err := rc.loadTenant(tx, req.Tenant)
			r.TenantID = t.ID
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if req.Consumer != "" {
		id, err := rc.consumerID("consumer", req.Consumer)
		if err != nil {
			return nil, err
		}
		r.ConsumerID = id
	}
	id, err := newID(prefixAlertRule)
	if err != nil {
		return nil, internal(err, "could not generate an id")
	}
	r.ID, r.CreatedAt, r.UpdatedAt = id, rc.now, rc.now
	err = rc.commit(func(tx store.Tx) (change, error) {
		rt, err := ruleTx(tx)
		if err != nil {
			return change{}, err
		}
		if r.ConsumerID != "" {
			c, err := rc.loadConsumer(tx, r.ConsumerID)
			if err != nil {
				return change{}, err
			}
			if r.TenantID != "" && c.TenantID != r.TenantID {
				return change{}, invalid("consumer %q belongs to another tenant than the rule's", req.Consumer)
			}
		}
		if r.RouteID != "" {
			if _, _, err := rc.loadRoute(tx, r.RouteID); err != nil {
				return change{}, err
			}
		}
		if err := rt.PutAlertRule(rc.ctx, r); err != nil {
			return change{}, phrasedConflict(err)
		}
		return change{Resource: "alert_rule", ResourceID: r.ID, TenantID: r.TenantID, After: r}, nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	return r, nil
}

func (a *API) deleteAlertRule(rc *reqCtx) (any, error) {
	err := rc.commit(func(tx store.Tx) (change, error) {
		r, err := rc.loadAlertRule(tx, rc.r.PathValue("id"))
		if err != nil {
			return change{}, err
		}
		if r.Declared {
			return change{}, declared("alert rule", r.Name)
		}
		rt, err := ruleTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := rt.DeleteAlertRule(rc.ctx, r.ID); err != nil {
			return change{}, err
		}
		return change{Resource: "alert_rule", ResourceID: r.ID, TenantID: r.TenantID, Before: r}, nil
	})
	return nil, err
}

// listAlerts lists fired alerts, newest first.
func (a *API) listAlerts(rc *reqCtx) (any, error) {
	an, err := rc.analyticsStore()
	if err != nil {
		return nil, err
	}
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.AlertFilter{Page: p, RuleID: rc.query("rule")}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	if s := rc.query("since"); s != "" {
		if f.Since, err = parseInstant("since", s, rc.now); err != nil {
			return nil, err
		}
	}
	items, next, err := an.ListAlerts(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}
