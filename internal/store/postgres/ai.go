package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// The AI gateway's objects (migration 00008): store.AITx on tx and
// store.AIStore on Store, with the embedded store's semantics and messages.

var (
	_ store.AITx    = (*tx)(nil)
	_ store.AIStore = (*Store)(nil)
)

// Computed once from the column lists; never changed.
var (
	providerUpsert = upsertSQL("ai_providers", providerCols)
	modelUpsert    = upsertSQL("ai_models", modelCols)
	accessUpsert   = upsertOnSQL("ai_access", accessCols, "consumer_id")
	budgetUpsert   = upsertSQL("ai_budgets", budgetCols)
	promptUpsert   = upsertSQL("ai_prompts", promptCols)
)

// --- providers ---

const providerCols = `id, name, provider_type, base_url, api_keys, api_key_last4, api_version, deployments, declared,
	created_at, updated_at`

func scanProvider(r rowScanner) (domain.Provider, error) {
	var (
		p                   domain.Provider
		keys, last4, deps   string
		created, updated    int64
		sealed, last4Values []string
	)
	if err := r.Scan(&p.ID, &p.Name, &p.Type, &p.BaseURL, &keys, &last4, &p.APIVersion, &deps, &p.Declared,
		&created, &updated); err != nil {
		return p, err
	}
	if err := decAll(keys, &sealed, last4, &last4Values, deps, &p.Deployments); err != nil {
		return p, fmt.Errorf("provider %q: %w", p.ID, err)
	}
	if len(sealed) != len(last4Values) {
		return p, fmt.Errorf("provider %q: %d keys but %d last4 values", p.ID, len(sealed), len(last4Values))
	}
	if sealed != nil {
		p.Keys = make([]domain.ProviderKey, len(sealed))
		for i := range sealed {
			p.Keys[i] = domain.ProviderKey{Sealed: sealed[i], Last4: last4Values[i]}
		}
	}
	p.CreatedAt, p.UpdatedAt = fromTm(created), fromTm(updated)
	return p, nil
}

// GetProvider finds a provider by id or, failing that, by name.
func (t *tx) GetProvider(ctx context.Context, idOrName string) (domain.Provider, error) {
	return getOne(ctx, t, scanProvider, func() error { return notFound("provider %q not found", idOrName) },
		`SELECT `+providerCols+` FROM ai_providers WHERE id = $1 OR name = $1
		 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1`, idOrName)
}

// PutProvider inserts or replaces a provider.
func (t *tx) PutProvider(ctx context.Context, p domain.Provider) error {
	if t.readOnly {
		return readOnly("put provider")
	}
	if err := requireID("provider", p.ID); err != nil {
		return err
	}
	var sealed, last4 []string
	if p.Keys != nil {
		sealed, last4 = make([]string, len(p.Keys)), make([]string, len(p.Keys))
		for i, k := range p.Keys {
			sealed[i], last4[i] = k.Sealed, k.Last4
		}
	}
	keys, l4, deps, err := enc3(sealed, last4, p.Deployments)
	if err != nil {
		return err
	}
	return t.put(ctx, "provider", p.ID, func(c string) error {
		if c == "ai_providers_name" {
			return conflict("provider name %q is taken", p.Name)
		}
		return otherUnique("provider", c)
	}, providerUpsert, p.ID, p.Name, p.Type, p.BaseURL, keys, l4, p.APIVersion, deps, p.Declared, tm(p.CreatedAt), tm(p.UpdatedAt))
}

// DeleteProvider removes a provider that no model targets.
func (t *tx) DeleteProvider(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete provider")
	}
	names, err := t.strs(ctx, `SELECT DISTINCT m.name FROM ai_model_targets mt JOIN ai_models m ON m.id = mt.model_id
		WHERE mt.provider_id = $1 ORDER BY m.name`, id)
	if err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete provider %q", id), err)
	}
	if len(names) > 0 {
		return conflict("provider %q is still a target of model(s) %s: change or delete them first", id, strings.Join(names, ", "))
	}
	return t.deleteByID(ctx, "ai_providers", "provider", id)
}

// --- models ---

const modelCols = `id, name, price_input, price_cached_input, price_output, price_cache_write, price_source,
	max_output_tokens, created_at, updated_at`

// modelTargetCols are ai_model_targets' columns (a model's targets are
// written and read with the model).
const modelTargetCols = `model_id, seq, provider_id, model`

func scanModel(r rowScanner) (domain.Model, error) {
	var (
		m                      domain.Model
		in, cached, out, write int64
		created, updated       int64
	)
	if err := r.Scan(&m.ID, &m.Name, &in, &cached, &out, &write, &m.Price.Source, &m.MaxOutputTokens,
		&created, &updated); err != nil {
		return m, err
	}
	m.Price.InputPer1M, m.Price.CachedInputPer1M = domain.Micros(in), domain.Micros(cached)
	m.Price.OutputPer1M, m.Price.CacheWritePer1M = domain.Micros(out), domain.Micros(write)
	m.CreatedAt, m.UpdatedAt = fromTm(created), fromTm(updated)
	return m, nil
}

// withTargets fills the targets of models (in their order) with one query.
func withTargets(ctx context.Context, q querier, models []domain.Model) error {
	ids := make([]string, len(models))
	for i := range models {
		ids[i] = models[i].ID
	}
	var all []modelTarget
	if len(ids) > 0 {
		var err error
		all, err = queryAll(ctx, q, scanModelTarget,
			`SELECT `+targetReadCols+` FROM ai_model_targets WHERE model_id = ANY($1) ORDER BY model_id, seq`, ids)
		if err != nil {
			return err
		}
	}
	attachTargets(models, all)
	return nil
}

// modelTarget is a row of ai_model_targets: one target of a model.
type modelTarget struct {
	model string
	t     domain.ModelTarget
}

// targetReadCols are the columns a model's target is read from (seq
// gives the order only).
const targetReadCols = `model_id, provider_id, model`

func scanModelTarget(r rowScanner) (modelTarget, error) {
	var v modelTarget
	return v, r.Scan(&v.model, &v.t.ProviderID, &v.t.Model)
}

// attachTargets sets every model's Targets (empty, not nil, for none)
// from targets in fallback order; targets of other models are ignored.
func attachTargets(models []domain.Model, targets []modelTarget) {
	at := make(map[string]int, len(models))
	for i := range models {
		at[models[i].ID] = i
		models[i].Targets = []domain.ModelTarget{}
	}
	for _, v := range targets {
		if i, ok := at[v.model]; ok {
			models[i].Targets = append(models[i].Targets, v.t)
		}
	}
}

// GetModel finds a model by id or, failing that, by name.
func (t *tx) GetModel(ctx context.Context, idOrName string) (domain.Model, error) {
	m, err := getOne(ctx, t, scanModel, func() error { return notFound("model %q not found", idOrName) },
		`SELECT `+modelCols+` FROM ai_models WHERE id = $1 OR name = $1
		 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1`, idOrName)
	if err != nil {
		return m, err
	}
	ms := []domain.Model{m}
	if err := withTargets(ctx, t.q, ms); err != nil {
		return m, wrapErr(ctx, "model targets", t.note(err))
	}
	return ms[0], nil
}

// PutModel inserts or replaces a model and its targets.
func (t *tx) PutModel(ctx context.Context, m domain.Model) error {
	if t.readOnly {
		return readOnly("put model")
	}
	if err := requireID("model", m.ID); err != nil {
		return err
	}
	for _, tg := range m.Targets {
		if err := t.requireParent(ctx, "ai_providers", "provider", tg.ProviderID); err != nil {
			return err
		}
	}
	p := m.Price
	if err := t.put(ctx, "model", m.ID, func(c string) error {
		if c == "ai_models_name" {
			return conflict("model name %q is taken", m.Name)
		}
		return otherUnique("model", c)
	}, modelUpsert, m.ID, m.Name, int64(p.InputPer1M), int64(p.CachedInputPer1M), int64(p.OutputPer1M), int64(p.CacheWritePer1M),
		p.Source, m.MaxOutputTokens, tm(m.CreatedAt), tm(m.UpdatedAt)); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM ai_model_targets WHERE model_id = $1`, m.ID); err != nil {
		return wrapErr(ctx, fmt.Sprintf("put model %q: targets", m.ID), err)
	}
	for i, tg := range m.Targets {
		if _, err := t.exec(ctx, `INSERT INTO ai_model_targets (`+modelTargetCols+`) VALUES ($1, $2, $3, $4)`,
			m.ID, i, tg.ProviderID, tg.Model); err != nil {
			return wrapErr(ctx, fmt.Sprintf("put model %q: target %d", m.ID, i), err)
		}
	}
	return nil
}

// DeleteModel removes a model that no prompt names, with its targets.
func (t *tx) DeleteModel(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete model")
	}
	if t.failed != nil {
		return t.aborted()
	}
	var name string
	err := t.q.QueryRow(ctx, `SELECT name FROM ai_models WHERE id = $1`, id).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("model %q not found", id)
	}
	if err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete model %q", id), t.note(err))
	}
	prompts, err := t.strs(ctx, `SELECT id FROM ai_prompts WHERE model = $1 ORDER BY id`, name)
	if err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete model %q", id), err)
	}
	if len(prompts) > 0 {
		return conflict("model %q is still used by prompt(s) %s: change or delete them first", name, strings.Join(prompts, ", "))
	}
	if _, err := t.exec(ctx, `DELETE FROM ai_model_targets WHERE model_id = $1`, id); err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete model %q: targets", id), err)
	}
	return t.deleteByID(ctx, "ai_models", "model", id)
}

// --- per-consumer allowed models ---

const accessCols = `consumer_id, models, created_at, updated_at`

func scanAccess(r rowScanner) (domain.AIAccess, error) {
	var (
		a                domain.AIAccess
		models           string
		created, updated int64
	)
	if err := r.Scan(&a.ConsumerID, &models, &created, &updated); err != nil {
		return a, err
	}
	if err := dec(models, &a.Models); err != nil {
		return a, fmt.Errorf("ai access of %q: %w", a.ConsumerID, err)
	}
	a.CreatedAt, a.UpdatedAt = fromTm(created), fromTm(updated)
	return a, nil
}

// GetAIAccess finds a consumer's allow-list.
func (t *tx) GetAIAccess(ctx context.Context, consumerID string) (domain.AIAccess, error) {
	return getOne(ctx, t, scanAccess, func() error { return notFound("consumer %q has no model allow-list", consumerID) },
		`SELECT `+accessCols+` FROM ai_access WHERE consumer_id = $1`, consumerID)
}

// PutAIAccess inserts or replaces a consumer's allow-list.
func (t *tx) PutAIAccess(ctx context.Context, a domain.AIAccess) error {
	if t.readOnly {
		return readOnly("put ai access")
	}
	if err := requireID("consumer", a.ConsumerID); err != nil {
		return err
	}
	if err := t.requireParent(ctx, "consumers", "consumer", a.ConsumerID); err != nil {
		return err
	}
	models, err := enc(a.Models)
	if err != nil {
		return err
	}
	return t.put(ctx, "ai access of consumer", a.ConsumerID, func(c string) error { return otherUnique("ai access", c) },
		accessUpsert, a.ConsumerID, models, tm(a.CreatedAt), tm(a.UpdatedAt))
}

// DeleteAIAccess removes a consumer's allow-list.
func (t *tx) DeleteAIAccess(ctx context.Context, consumerID string) error {
	if t.readOnly {
		return readOnly("delete ai access")
	}
	tag, err := t.exec(ctx, `DELETE FROM ai_access WHERE consumer_id = $1`, consumerID)
	if err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete ai access of %q", consumerID), err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("consumer %q has no model allow-list", consumerID)
	}
	return nil
}

// --- budgets ---

const budgetCols = `id, tenant_id, scope, scope_id, amount_micros, budget_period, rpm, tpm, created_at, updated_at`

func scanBudget(r rowScanner) (domain.Budget, error) {
	var (
		b                        domain.Budget
		amount, created, updated int64
	)
	if err := r.Scan(&b.ID, &b.TenantID, &b.Scope, &b.ScopeID, &amount, &b.Period, &b.RPM, &b.TPM, &created, &updated); err != nil {
		return b, err
	}
	b.Amount, b.CreatedAt, b.UpdatedAt = domain.Micros(amount), fromTm(created), fromTm(updated)
	return b, nil
}

// GetBudget finds a budget by id.
func (t *tx) GetBudget(ctx context.Context, id string) (domain.Budget, error) {
	return getOne(ctx, t, scanBudget, func() error { return notFound("budget %q not found", id) },
		`SELECT `+budgetCols+` FROM ai_budgets WHERE id = $1`, id)
}

// PutBudget inserts or replaces a budget; its tenant must exist.
func (t *tx) PutBudget(ctx context.Context, b domain.Budget) error {
	if t.readOnly {
		return readOnly("put budget")
	}
	if err := requireID("budget", b.ID); err != nil {
		return err
	}
	if err := t.requireParent(ctx, "tenants", "tenant", b.TenantID); err != nil {
		return err
	}
	return t.put(ctx, "budget", b.ID, func(c string) error {
		if c == "ai_budgets_scope" {
			return conflict("a budget of %s %q with period %q already exists", b.Scope, b.ScopeID, b.Period)
		}
		return otherUnique("budget", c)
	}, budgetUpsert, b.ID, b.TenantID, b.Scope, b.ScopeID, int64(b.Amount), b.Period, b.RPM, b.TPM, tm(b.CreatedAt), tm(b.UpdatedAt))
}

// DeleteBudget removes a budget.
func (t *tx) DeleteBudget(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete budget")
	}
	return t.deleteByID(ctx, "ai_budgets", "budget", id)
}

// --- prompts ---

const promptCols = `id, tenant_id, name, template, variables, model, created_at, updated_at`

func scanPrompt(r rowScanner) (domain.Prompt, error) {
	var (
		p                domain.Prompt
		vars             string
		created, updated int64
	)
	if err := r.Scan(&p.ID, &p.TenantID, &p.Name, &p.Template, &vars, &p.Model, &created, &updated); err != nil {
		return p, err
	}
	if err := dec(vars, &p.Variables); err != nil {
		return p, fmt.Errorf("prompt %q: %w", p.ID, err)
	}
	p.CreatedAt, p.UpdatedAt = fromTm(created), fromTm(updated)
	return p, nil
}

// GetPrompt finds a prompt by id.
func (t *tx) GetPrompt(ctx context.Context, id string) (domain.Prompt, error) {
	return getOne(ctx, t, scanPrompt, func() error { return notFound("prompt %q not found", id) },
		`SELECT `+promptCols+` FROM ai_prompts WHERE id = $1`, id)
}

// PutPrompt inserts or replaces a prompt; its tenant must exist.
func (t *tx) PutPrompt(ctx context.Context, p domain.Prompt) error {
	if t.readOnly {
		return readOnly("put prompt")
	}
	if err := requireID("prompt", p.ID); err != nil {
		return err
	}
	if err := t.requireParent(ctx, "tenants", "tenant", p.TenantID); err != nil {
		return err
	}
	vars, err := enc(p.Variables)
	if err != nil {
		return err
	}
	return t.put(ctx, "prompt", p.ID, func(c string) error {
		if c == "ai_prompts_tenant_name" {
			return conflict("prompt name %q is taken in tenant %q", p.Name, p.TenantID)
		}
		return otherUnique("prompt", c)
	}, promptUpsert, p.ID, p.TenantID, p.Name, p.Template, vars, p.Model, tm(p.CreatedAt), tm(p.UpdatedAt))
}

// DeletePrompt removes a prompt that no route binds.
func (t *tx) DeletePrompt(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete prompt")
	}
	routes, err := t.strs(ctx, `SELECT id FROM routes WHERE prompt_id = $1 ORDER BY id`, id)
	if err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete prompt %q", id), err)
	}
	if len(routes) > 0 {
		return conflict("prompt %q is still served by route(s) %s: change or delete them first", id, strings.Join(routes, ", "))
	}
	return t.deleteByID(ctx, "ai_prompts", "prompt", id)
}

// --- lists and Load ---

// ListProviders lists providers in id order, filtered by name.
func (s *Store) ListProviders(ctx context.Context, f store.ListFilter) ([]domain.Provider, string, error) {
	var w filter
	w.eq("name", f.Name)
	return listByID(ctx, s, providerCols, "ai_providers", w, f.Page, scanProvider,
		func(p domain.Provider) string { return p.ID })
}

// ListModels lists models in id order, with their targets, filtered by
// name.
func (s *Store) ListModels(ctx context.Context, f store.ListFilter) ([]domain.Model, string, error) {
	var w filter
	w.eq("name", f.Name)
	items, next, err := listByID(ctx, s, modelCols, "ai_models", w, f.Page, scanModel,
		func(m domain.Model) string { return m.ID })
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	if err := withTargets(ctx, s.pool, items); err != nil {
		return nil, "", wrapErr(ctx, "list models: targets", err)
	}
	return items, next, nil
}

// ListAIAccess lists allow-lists in consumer id order, filtered by
// consumer and the consumer's tenant. The cursor is the last consumer id.
func (s *Store) ListAIAccess(ctx context.Context, f store.ListFilter) ([]domain.AIAccess, string, error) {
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	var w filter
	w.eq("consumer_id", f.ConsumerID)
	if f.TenantID != "" {
		w.where = append(w.where, "consumer_id IN (SELECT id FROM consumers WHERE tenant_id = "+w.arg(f.TenantID)+")")
	}
	if f.After != "" {
		w.where = append(w.where, "consumer_id > "+w.arg(f.After))
	}
	limit := pageLimit(f.Limit)
	items, err := queryAll(ctx, s.pool, scanAccess, `SELECT `+accessCols+` FROM ai_access`+whereClause(w.where)+
		` ORDER BY consumer_id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", wrapErr(ctx, "list ai access", err)
	}
	if len(items) > limit {
		items = items[:limit]
		return items, items[limit-1].ConsumerID, nil
	}
	return items, "", nil
}

// ListBudgets lists budgets in id order, filtered by tenant and scope id.
func (s *Store) ListBudgets(ctx context.Context, f store.ListFilter) ([]domain.Budget, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("scope_id", f.ScopeID)
	return listByID(ctx, s, budgetCols, "ai_budgets", w, f.Page, scanBudget,
		func(b domain.Budget) string { return b.ID })
}

// ListPrompts lists prompts in id order, filtered by tenant and name.
func (s *Store) ListPrompts(ctx context.Context, f store.ListFilter) ([]domain.Prompt, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("name", f.Name)
	return listByID(ctx, s, promptCols, "ai_prompts", w, f.Page, scanPrompt,
		func(p domain.Prompt) string { return p.ID })
}

// The statements of loadAI, in the order it reads them. The models'
// targets are read whole rather than for the ids the models query
// returned (withTargets), so that no statement of the load depends on
// another's result and Load can send them all at once; in the load's
// snapshot the two are the same rows, every target belonging to a model
// (ai_model_targets.model_id references ai_models).
const (
	providerLoad    = `SELECT ` + providerCols + ` FROM ai_providers ORDER BY id`
	modelLoad       = `SELECT ` + modelCols + ` FROM ai_models ORDER BY id`
	modelTargetLoad = `SELECT ` + targetReadCols + ` FROM ai_model_targets ORDER BY model_id, seq`
	aiAccessLoad    = `SELECT ` + accessCols + ` FROM ai_access ORDER BY consumer_id`
	budgetLoad      = `SELECT ` + budgetCols + ` FROM ai_budgets ORDER BY id`
	promptLoad      = `SELECT ` + promptCols + ` FROM ai_prompts ORDER BY id`
)

// aiLoads are loadAI's statements, for Load to queue.
var aiLoads = []string{providerLoad, modelLoad, modelTargetLoad, aiAccessLoad, budgetLoad, promptLoad}

// loadAI reads the AI objects for Load.
func loadAI(ctx context.Context, q querier, d *store.Data) error {
	var err error
	if d.Providers, err = queryAll(ctx, q, scanProvider, providerLoad); err != nil {
		return wrapErr(ctx, "load providers", err)
	}
	if d.Models, err = queryAll(ctx, q, scanModel, modelLoad); err != nil {
		return wrapErr(ctx, "load models", err)
	}
	targets, err := queryAll(ctx, q, scanModelTarget, modelTargetLoad)
	if err != nil {
		return wrapErr(ctx, "load models", err)
	}
	attachTargets(d.Models, targets)
	if d.AIAccess, err = queryAll(ctx, q, scanAccess, aiAccessLoad); err != nil {
		return wrapErr(ctx, "load ai access", err)
	}
	if d.Budgets, err = queryAll(ctx, q, scanBudget, budgetLoad); err != nil {
		return wrapErr(ctx, "load budgets", err)
	}
	if d.Prompts, err = queryAll(ctx, q, scanPrompt, promptLoad); err != nil {
		return wrapErr(ctx, "load prompts", err)
	}
	return nil
}

// strs runs a query of one text column inside the transaction.
func (t *tx) strs(ctx context.Context, query string, args ...any) ([]string, error) {
	if t.failed != nil {
		return nil, t.aborted()
	}
	out, err := queryAll(ctx, t.q, func(r rowScanner) (string, error) {
		var s string
		return s, r.Scan(&s)
	}, query, args...)
	return out, t.note(err)
}
