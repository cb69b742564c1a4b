package admin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// Per-consumer allowed models and budgets (§11, issue 8).
//
// A consumer's allowed models are a small object of their own
// (domain.AIAccess, at /consumers/{id}/models) rather than a field of the
// consumer: the consumer schema and its endpoints stay as they are, the
// allow-list has its own audit trail, and "no list" keeps its meaning of
// "every model" (ai.CallContext.AllowedModels semantics). Tenant-admins
// manage their own consumers' lists.
//
// Budgets limit money per UTC day or month, requests per minute and tokens
// per minute, for a consumer, a credential (API key or other) or a whole
// tenant. Tenant-admins manage the budgets of their tenant's consumers and
// credentials and read their tenant's own budget; only gateway admins set
// or change a tenant's budget (a tenant must not lift its own cap).

// accessRequest sets a consumer's allowed models.
type accessRequest struct {
	// Models are model names or prefixes ending in "*" ("gpt-4o*"); "*"
	// alone allows every model.
	Models []string `json:"models"`
}

// accessView is a consumer's allow-list; Restricted is false (and Models
// empty) when the consumer may use every model.
type accessView struct {
	ConsumerID string     `json:"consumer"`
	Models     []string   `json:"models"`
	Restricted bool       `json:"restricted"`
	CreatedAt  *time.Time `json:"created_at,omitempty"`
	UpdatedAt  *time.Time `json:"updated_at,omitempty"`
}

func viewAccess(a domain.AIAccess) accessView {
	return accessView{ConsumerID: a.ConsumerID, Models: a.Models, Restricted: true, CreatedAt: &a.CreatedAt, UpdatedAt: &a.UpdatedAt}
}

const maxAllowedModels = 256

// buildAccess validates an allow-list; exact names must be models of the
// catalogue (a typo would silently lock the consumer out).
func (rc *reqCtx) buildAccess(tx store.Tx, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, invalid("models is required: at least one model name or \"prefix*\"; to allow every model, delete the list (DELETE %s/consumers/{id}/models)", basePath)
	}
	if len(in) > maxAllowedModels {
		return nil, invalid("models has %d entries; at most %d", len(in), maxAllowedModels)
	}
	at, err := aiTx(tx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(in))
	for i, m := range in {
		prefix, wild := strings.CutSuffix(m, "*")
		switch {
		case m == "*":
		case wild:
			if !modelNameRE.MatchString(prefix) {
				return nil, invalid("models[%d] %q: a pattern is a model name prefix followed by '*', e.g. \"gpt-4o*\"", i, m)
			}
		default:
			if !modelNameRE.MatchString(m) {
				return nil, invalid("models[%d] %q is not a model name", i, m)
			}
			if _, err := at.GetModel(rc.ctx, m); errors.Is(err, store.ErrNotFound) {
				return nil, invalid("models[%d] %q is not a model of the catalogue (gatehouse model list); use \"%s*\" for models yet to come", i, m, m)
			} else if err != nil {
				return nil, err
			}
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (a *API) listAccess(rc *reqCtx) (any, error) {
	s, err := rc.aiStore()
	if err != nil {
		return nil, err
	}
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{Page: p, TenantID: rc.scope()}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	if ref := rc.query("consumer"); ref != "" {
		if f.ConsumerID, err = rc.consumerID("consumer", ref); err != nil {
			return nil, err
		}
		if err := rc.view(func(tx store.Tx) error { _, err := rc.loadConsumer(tx, f.ConsumerID); return err }); err != nil {
			return nil, err
		}
	}
	items, next, err := s.ListAIAccess(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]accessView, len(items))
	for i, v := range items {
		out[i] = viewAccess(v)
	}
	return list(out, next), nil
}

func (a *API) getAccess(rc *reqCtx) (any, error) {
	id, err := rc.consumerID("consumer", rc.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	out := accessView{ConsumerID: id, Models: []string{}}
	err = rc.view(func(tx store.Tx) error {
		if _, err := rc.loadConsumer(tx, id); err != nil {
			return err
		}
		at, err := aiTx(tx)
		if err != nil {
			return err
		}
		acc, err := at.GetAIAccess(rc.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err == nil {
			out = viewAccess(acc)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *API) setAccess(rc *reqCtx) (any, error) {
	var req accessRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	id, err := rc.consumerID("consumer", rc.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	var out accessView
	err = rc.commit(func(tx store.Tx) (change, error) {
		c, err := rc.loadConsumer(tx, id)
		if err != nil {
			return change{}, err
		}
		models, err := rc.buildAccess(tx, req.Models)
		if err != nil {
			return change{}, err
		}
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		next := domain.AIAccess{ConsumerID: c.ID, Models: models, CreatedAt: rc.now, UpdatedAt: rc.now}
		var before any
		cur, err := at.GetAIAccess(rc.ctx, c.ID)
		switch {
		case err == nil:
			if slices.Equal(cur.Models, models) {
				out = viewAccess(cur)
				return change{}, errNoChange
			}
			next.CreatedAt, before = cur.CreatedAt, viewAccess(cur)
		case !errors.Is(err, store.ErrNotFound):
			return change{}, err
		}
		if err := at.PutAIAccess(rc.ctx, next); err != nil {
			return change{}, err
		}
		out = viewAccess(next)
		return change{Resource: "model_access", ResourceID: c.ID, TenantID: c.TenantID, Before: before, After: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *API) clearAccess(rc *reqCtx) (any, error) {
	id, err := rc.consumerID("consumer", rc.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		c, err := rc.loadConsumer(tx, id)
		if err != nil {
			return change{}, err
		}
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		cur, err := at.GetAIAccess(rc.ctx, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			return change{}, notFound("consumer %s has no model allow-list: it may already use every model", c.Name)
		}
		if err != nil {
			return change{}, err
		}
		if err := at.DeleteAIAccess(rc.ctx, c.ID); err != nil {
			return change{}, err
		}
		return change{Resource: "model_access", ResourceID: c.ID, TenantID: c.TenantID, Before: viewAccess(cur)}, nil
	})
	return nil, err
}

// --- budgets ---

// budgetRequest creates a budget, or (PATCH) holds the limits to change
// (scope and scope_id cannot change).
type budgetRequest struct {
	// Scope is consumer, credential or tenant.
	Scope string `json:"scope"`
	// ScopeID names what the budget counts: a consumer (id, name or
	// tenant-slug/name), a credential (API key id or credential id) or a
	// tenant (id or slug).
	ScopeID string `json:"scope_id"`
	// Amount is the money allowed per period, decimal ("25.00").
	Amount decimalText `json:"amount,omitempty"`
	// Period is day or month (UTC calendar), required with amount.
	Period string `json:"period,omitempty"`
	// RPM and TPM limit requests and tokens per minute.
	RPM int64 `json:"rpm,omitempty"`
	TPM int64 `json:"tpm,omitempty"`
}

const maxPerMinute = 1_000_000_000_000

var budgetScopes = []string{domain.BudgetScopeConsumer, domain.BudgetScopeCredential, domain.BudgetScopeTenant}

// buildLimits validates a budget's limits into b.
func buildLimits(req budgetRequest, b *domain.Budget) error {
	b.Amount, b.Period, b.RPM, b.TPM = 0, req.Period, req.RPM, req.TPM
	if req.Amount != "" {
		m, err := parseAmount("amount", req.Amount)
		if err != nil {
			return err
		}
		b.Amount = m
	}
	switch {
	case b.Amount > 0 && b.Period == "":
		return invalid("period is required with amount: \"day\" or \"month\" (UTC calendar)")
	case b.Amount > 0:
		if err := oneOf("period", b.Period, domain.BudgetPeriodDay, domain.BudgetPeriodMonth); err != nil {
			return err
		}
	case b.Period != "":
		return invalid("period %q is for amount, which is not set (or \"0\")", b.Period)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"rpm", b.RPM}, {"tpm", b.TPM}} {
		if f.v < 0 || f.v > maxPerMinute {
			return invalid("%s %d must be from 0 (no limit) to %d per minute", f.name, f.v, int64(maxPerMinute))
		}
	}
	if b.Amount == 0 && b.RPM == 0 && b.TPM == 0 {
		return invalid("a budget needs a limit: amount (with period), rpm or tpm")
	}
	return nil
}

// budgetScope resolves a budget's scope reference (outside any
// transaction: consumer names are searched) to the object's id.
func (rc *reqCtx) budgetScopeID(scope, ref string) (string, error) {
	if scope == "" {
		return "", invalid("scope is required: %s", strings.Join(budgetScopes, ", "))
	}
	if err := oneOf("scope", scope, budgetScopes...); err != nil {
		return "", err
	}
	if ref == "" {
		return "", invalid("scope_id is required: the %s the budget counts", scope)
	}
	if scope == domain.BudgetScopeConsumer {
		return rc.consumerID("scope_id", ref)
	}
	return ref, nil
}

// budgetTenant checks the scoped object inside tx and returns its id and
// tenant; the admin must reach the tenant, and only unbound admins change
// a tenant's own budget.
func (rc *reqCtx) budgetTenant(tx store.Tx, scope, ref string, write bool) (string, string, error) {
	switch scope {
	case domain.BudgetScopeConsumer:
		c, err := rc.loadConsumer(tx, ref)
		return c.ID, c.TenantID, err
	case domain.BudgetScopeCredential:
		owner := ""
		id := ref
		if k, err := tx.GetKey(rc.ctx, ref); err == nil {
			owner = k.ConsumerID
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", "", err
		} else if c, err := tx.GetCredential(rc.ctx, ref); err == nil {
			owner = c.ConsumerID
		} else if errors.Is(err, store.ErrNotFound) {
			return "", "", notFound("credential %q not found: give an API key id or a credential id (gatehouse key list, gatehouse credential list)", ref)
		} else {
			return "", "", err
		}
		c, err := tx.GetConsumer(rc.ctx, owner)
		if err != nil {
			return "", "", err
		}
		return id, c.TenantID, rc.reach("credential", id, ref, c.TenantID)
	}
	t, err := rc.loadTenant(tx, ref)
	if err != nil {
		return "", "", err
	}
	if write && rc.admin.Role != domain.RoleAdmin {
		return "", "", &deniedError{Action: rc.ep.Action, Resource: "budget", ResourceID: rc.r.PathValue("id"),
			Detail: fmt.Sprintf("a tenant's own budget is set by a gateway admin; %s may set budgets of tenant %s's consumers and credentials", rc.admin.Name, t.Slug)}
	}
	return t.ID, t.ID, nil
}

// loadBudget reads a budget inside tx and checks reach (and, for a write
// on a tenant's own budget, the admin role).
func (rc *reqCtx) loadBudget(tx store.Tx, id string, write bool) (domain.Budget, error) {
	at, err := aiTx(tx)
	if err != nil {
		return domain.Budget{}, err
	}
	b, err := at.GetBudget(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return b, notFound("budget %q not found; list them with gatehouse budget list", id)
	}
	if err != nil {
		return b, err
	}
	if err := rc.reach("budget", b.ID, b.ID, b.TenantID); err != nil {
		return b, err
	}
	if write && b.Scope == domain.BudgetScopeTenant && rc.admin.Role != domain.RoleAdmin {
		return b, &deniedError{Action: rc.ep.Action, Resource: "budget", ResourceID: b.ID,
			Detail: fmt.Sprintf("budget %s is tenant %s's own: only a gateway admin changes it", b.ID, rc.scopeSlug)}
	}
	return b, nil
}

func (a *API) listBudgets(rc *reqCtx) (any, error) {
	s, err := rc.aiStore()
	if err != nil {
		return nil, err
	}
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{Page: p, TenantID: rc.scope()}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	if ref := rc.query("consumer"); ref != "" {
		if f.ScopeID, err = rc.consumerID("consumer", ref); err != nil {
			return nil, err
		}
	}
	if ref := rc.query("scope_id"); ref != "" {
		if f.ScopeID != "" {
			return nil, invalid("give consumer or scope_id, not both")
		}
		f.ScopeID = ref
	}
	items, next, err := s.ListBudgets(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

func (a *API) getBudget(rc *reqCtx) (any, error) {
	var b domain.Budget
	if err := rc.view(func(tx store.Tx) (err error) { b, err = rc.loadBudget(tx, rc.r.PathValue("id"), false); return err }); err != nil {
		return nil, err
	}
	return b, nil
}

func (a *API) createBudget(rc *reqCtx) (any, error) {
	var req budgetRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	ref, err := rc.budgetScopeID(req.Scope, req.ScopeID)
	if err != nil {
		return nil, err
	}
	b := domain.Budget{Scope: req.Scope, CreatedAt: rc.now, UpdatedAt: rc.now}
	if err := buildLimits(req, &b); err != nil {
		return nil, err
	}
	if b.ID, err = newID(prefixBudget); err != nil {
		return nil, internal(err, "could not generate an id")
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		id, tenantID, err := rc.budgetTenant(tx, b.Scope, ref, true)
		if err != nil {
			return change{}, err
		}
		b.ScopeID, b.TenantID = id, tenantID
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.PutBudget(rc.ctx, b); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return change{}, conflict("%s %s already has a budget with period %q: change it (gatehouse budget list --scope-id %s) instead of adding another",
					b.Scope, b.ScopeID, b.Period, b.ScopeID)
			}
			return change{}, err
		}
		return change{Resource: "budget", ResourceID: b.ID, TenantID: b.TenantID, After: b}, nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (a *API) updateBudget(rc *reqCtx) (any, error) {
	var cur domain.Budget
	if err := rc.view(func(tx store.Tx) (err error) { cur, err = rc.loadBudget(tx, rc.r.PathValue("id"), true); return err }); err != nil {
		return nil, err
	}
	req := budgetRequest{Scope: cur.Scope, ScopeID: cur.ScopeID, Period: cur.Period, RPM: cur.RPM, TPM: cur.TPM}
	if cur.Amount > 0 {
		req.Amount = decimalText(cur.Amount.String())
	}
	present, err := rc.decodePatch(&req)
	if err != nil {
		return nil, err
	}
	if req.Scope != cur.Scope || req.ScopeID != cur.ScopeID {
		return nil, invalid("a budget's scope and scope_id cannot change: create a budget for the other %s and delete this one", cur.Scope)
	}
	if _, ok := present["period"]; !ok && (req.Amount == "" || req.Amount == "0") {
		req.Period = "" // removing the amount removes its period
	}
	next := cur
	if err := buildLimits(req, &next); err != nil {
		return nil, err
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		b, err := rc.loadBudget(tx, cur.ID, true)
		if err != nil {
			return change{}, err
		}
		next.UpdatedAt = rc.now
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.PutBudget(rc.ctx, next); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return change{}, conflict("%s %s already has another budget with period %q", next.Scope, next.ScopeID, next.Period)
			}
			return change{}, err
		}
		return change{Resource: "budget", ResourceID: b.ID, TenantID: b.TenantID, Before: b, After: next}, nil
	})
	if err != nil {
		return nil, err
	}
	return next, nil
}

func (a *API) deleteBudget(rc *reqCtx) (any, error) {
	err := rc.commit(func(tx store.Tx) (change, error) {
		b, err := rc.loadBudget(tx, rc.r.PathValue("id"), true)
		if err != nil {
			return change{}, err
		}
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.DeleteBudget(rc.ctx, b.ID); err != nil {
			return change{}, err
		}
		return change{Resource: "budget", ResourceID: b.ID, TenantID: b.TenantID, Before: b}, nil
	})
	return nil, err
}
