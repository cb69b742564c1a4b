package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// The AI gateway's objects (migration 00008): store.AITx on tx and
// store.AIStore on Store.

var (
	_ store.AITx    = (*tx)(nil)
	_ store.AIStore = (*Store)(nil)
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

func putProvider(ctx context.Context, q querier, p domain.Provider) error {
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
	_, err = q.ExecContext(ctx, `INSERT INTO ai_providers (`+providerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, provider_type = excluded.provider_type,
		base_url = excluded.base_url, api_keys = excluded.api_keys, api_key_last4 = excluded.api_key_last4,
		api_version = excluded.api_version, deployments = excluded.deployments, declared = excluded.declared,
		created_at = excluded.created_at, updated_at = excluded.updated_at`,
		p.ID, p.Name, p.Type, p.BaseURL, keys, l4, p.APIVersion, deps, p.Declared, tm(p.CreatedAt), tm(p.UpdatedAt))
	if isUnique(err) {
		return conflict("provider name %q is taken", p.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put provider %q: %w", p.ID, err)
	}
	return nil
}

// GetProvider finds a provider by id or, failing that, by name.
func (t *tx) GetProvider(ctx context.Context, idOrName string) (domain.Provider, error) {
	return getOne(ctx, t.q, scanProvider, func() error { return notFound("provider %q not found", idOrName) },
		`SELECT `+providerCols+` FROM ai_providers WHERE id = ? OR name = ?
		 ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, idOrName, idOrName, idOrName)
}

// PutProvider inserts or replaces a provider.
func (t *tx) PutProvider(ctx context.Context, p domain.Provider) error {
	if t.readOnly {
		return readOnly("put provider")
	}
	if err := requireID("provider", p.ID); err != nil {
		return err
	}
	return putProvider(ctx, t.q, p)
}

// DeleteProvider removes a provider that no model targets.
func (t *tx) DeleteProvider(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete provider")
	}
	names, err := strs(ctx, t.q, `SELECT DISTINCT m.name FROM ai_model_targets mt JOIN ai_models m ON m.id = mt.model_id
		WHERE mt.provider_id = ? ORDER BY m.name`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete provider %q: %w", id, err)
	}
	if len(names) > 0 {
		return conflict("provider %q is still a target of model(s) %s: change or delete them first", id, strings.Join(names, ", "))
	}
	return deleteByID(ctx, t.q, "ai_providers", "provider", id)
}

// --- models ---

const modelCols = `id, name, price_input, price_cached_input, price_output, price_cache_write, price_source,
	max_output_tokens, created_at, updated_at`

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

// withTargets fills the targets of models (in their order) with one query
// per chunk of ids.
func withTargets(ctx context.Context, q querier, models []domain.Model) error {
	const chunk = 500
	at := make(map[string]int, len(models))
	for i := range models {
		at[models[i].ID] = i
		models[i].Targets = []domain.ModelTarget{}
	}
	for start := 0; start < len(models); start += chunk {
		end := min(start+chunk, len(models))
		args := make([]any, 0, end-start)
		for _, m := range models[start:end] {
			args = append(args, m.ID)
		}
		rows, err := q.QueryContext(ctx, `SELECT model_id, provider_id, model FROM ai_model_targets
			WHERE model_id IN (?`+strings.Repeat(", ?", len(args)-1)+`) ORDER BY model_id, seq`, args...)
		if err != nil {
			return fmt.Errorf("sqlite: model targets: %w", err)
		}
		for rows.Next() {
			var id string
			var t domain.ModelTarget
			if err := rows.Scan(&id, &t.ProviderID, &t.Model); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: model targets: %w", err)
			}
			i := at[id]
			models[i].Targets = append(models[i].Targets, t)
		}
		err = rows.Err()
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sqlite: model targets: %w", err)
		}
	}
	return nil
}

// GetModel finds a model by id or, failing that, by name.
func (t *tx) GetModel(ctx context.Context, idOrName string) (domain.Model, error) {
	m, err := getOne(ctx, t.q, scanModel, func() error { return notFound("model %q not found", idOrName) },
		`SELECT `+modelCols+` FROM ai_models WHERE id = ? OR name = ?
		 ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, idOrName, idOrName, idOrName)
	if err != nil {
		return m, err
	}
	ms := []domain.Model{m}
	if err := withTargets(ctx, t.q, ms); err != nil {
		return m, err
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
		if err := requireParent(ctx, t.q, "ai_providers", "provider", tg.ProviderID); err != nil {
			return err
		}
	}
	p := m.Price
	_, err := t.q.ExecContext(ctx, `INSERT INTO ai_models (`+modelCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, price_input = excluded.price_input,
		price_cached_input = excluded.price_cached_input, price_output = excluded.price_output,
		price_cache_write = excluded.price_cache_write, price_source = excluded.price_source,
		max_output_tokens = excluded.max_output_tokens, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		m.ID, m.Name, int64(p.InputPer1M), int64(p.CachedInputPer1M), int64(p.OutputPer1M), int64(p.CacheWritePer1M), p.Source,
		m.MaxOutputTokens, tm(m.CreatedAt), tm(m.UpdatedAt))
	if isUnique(err) {
		return conflict("model name %q is taken", m.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put model %q: %w", m.ID, err)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM ai_model_targets WHERE model_id = ?`, m.ID); err != nil {
		return fmt.Errorf("sqlite: put model %q: targets: %w", m.ID, err)
	}
	for i, tg := range m.Targets {
		if _, err := t.q.ExecContext(ctx, `INSERT INTO ai_model_targets (model_id, seq, provider_id, model) VALUES (?, ?, ?, ?)`,
			m.ID, i, tg.ProviderID, tg.Model); err != nil {
			return fmt.Errorf("sqlite: put model %q: target %d: %w", m.ID, i, err)
		}
	}
	return nil
}

// DeleteModel removes a model that no prompt names, with its targets.
func (t *tx) DeleteModel(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete model")
	}
	var name string
	err := t.q.QueryRowContext(ctx, `SELECT name FROM ai_models WHERE id = ?`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("model %q not found", id)
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete model %q: %w", id, err)
	}
	prompts, err := strs(ctx, t.q, `SELECT id FROM ai_prompts WHERE model = ? ORDER BY id`, name)
	if err != nil {
		return fmt.Errorf("sqlite: delete model %q: %w", id, err)
	}
	if len(prompts) > 0 {
		return conflict("model %q is still used by prompt(s) %s: change or delete them first", name, strings.Join(prompts, ", "))
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM ai_model_targets WHERE model_id = ?`, id); err != nil {
		return fmt.Errorf("sqlite: delete model %q: targets: %w", id, err)
	}
	return deleteByID(ctx, t.q, "ai_models", "model", id)
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
	return getOne(ctx, t.q, scanAccess, func() error { return notFound("consumer %q has no model allow-list", consumerID) },
		`SELECT `+accessCols+` FROM ai_access WHERE consumer_id = ?`, consumerID)
}

// PutAIAccess inserts or replaces a consumer's allow-list.
func (t *tx) PutAIAccess(ctx context.Context, a domain.AIAccess) error {
	if t.readOnly {
		return readOnly("put ai access")
	}
	if err := requireID("consumer", a.ConsumerID); err != nil {
		return err
	}
	if err := requireParent(ctx, t.q, "consumers", "consumer", a.ConsumerID); err != nil {
		return err
	}
	models, err := enc(a.Models)
	if err != nil {
		return err
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO ai_access (`+accessCols+`) VALUES (?, ?, ?, ?)
		ON CONFLICT (consumer_id) DO UPDATE SET models = excluded.models, created_at = excluded.created_at,
		updated_at = excluded.updated_at`, a.ConsumerID, models, tm(a.CreatedAt), tm(a.UpdatedAt)); err != nil {
		return fmt.Errorf("sqlite: put ai access of %q: %w", a.ConsumerID, err)
	}
	return nil
}

// DeleteAIAccess removes a consumer's allow-list.
func (t *tx) DeleteAIAccess(ctx context.Context, consumerID string) error {
	if t.readOnly {
		return readOnly("delete ai access")
	}
	res, err := t.q.ExecContext(ctx, `DELETE FROM ai_access WHERE consumer_id = ?`, consumerID)
	if err != nil {
		return fmt.Errorf("sqlite: delete ai access of %q: %w", consumerID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete ai access of %q: %w", consumerID, err)
	} else if n == 0 {
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
	return getOne(ctx, t.q, scanBudget, func() error { return notFound("budget %q not found", id) },
		`SELECT `+budgetCols+` FROM ai_budgets WHERE id = ?`, id)
}

// PutBudget inserts or replaces a budget; its tenant must exist.
func (t *tx) PutBudget(ctx context.Context, b domain.Budget) error {
	if t.readOnly {
		return readOnly("put budget")
	}
	if err := requireID("budget", b.ID); err != nil {
		return err
	}
	if err := requireParent(ctx, t.q, "tenants", "tenant", b.TenantID); err != nil {
		return err
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO ai_budgets (`+budgetCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, scope = excluded.scope, scope_id = excluded.scope_id,
		amount_micros = excluded.amount_micros, budget_period = excluded.budget_period, rpm = excluded.rpm, tpm = excluded.tpm,
		created_at = excluded.created_at, updated_at = excluded.updated_at`,
		b.ID, b.TenantID, b.Scope, b.ScopeID, int64(b.Amount), b.Period, b.RPM, b.TPM, tm(b.CreatedAt), tm(b.UpdatedAt))
	if isUnique(err) {
		return conflict("a budget of %s %q with period %q already exists", b.Scope, b.ScopeID, b.Period)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put budget %q: %w", b.ID, err)
	}
	return nil
}

// DeleteBudget removes a budget.
func (t *tx) DeleteBudget(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete budget")
	}
	return deleteByID(ctx, t.q, "ai_budgets", "budget", id)
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
	return getOne(ctx, t.q, scanPrompt, func() error { return notFound("prompt %q not found", id) },
		`SELECT `+promptCols+` FROM ai_prompts WHERE id = ?`, id)
}

// PutPrompt inserts or replaces a prompt; its tenant must exist.
func (t *tx) PutPrompt(ctx context.Context, p domain.Prompt) error {
	if t.readOnly {
		return readOnly("put prompt")
	}
	if err := requireID("prompt", p.ID); err != nil {
		return err
	}
	if err := requireParent(ctx, t.q, "tenants", "tenant", p.TenantID); err != nil {
		return err
	}
	vars, err := enc(p.Variables)
	if err != nil {
		return err
	}
	_, err = t.q.ExecContext(ctx, `INSERT INTO ai_prompts (`+promptCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, name = excluded.name, template = excluded.template,
		variables = excluded.variables, model = excluded.model, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		p.ID, p.TenantID, p.Name, p.Template, vars, p.Model, tm(p.CreatedAt), tm(p.UpdatedAt))
	if isUnique(err) {
		return conflict("prompt name %q is taken in tenant %q", p.Name, p.TenantID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put prompt %q: %w", p.ID, err)
	}
	return nil
}

// DeletePrompt removes a prompt that no route binds.
func (t *tx) DeletePrompt(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete prompt")
	}
	routes, err := strs(ctx, t.q, `SELECT id FROM routes WHERE prompt_id = ? ORDER BY id`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete prompt %q: %w", id, err)
	}
	if len(routes) > 0 {
		return conflict("prompt %q is still served by route(s) %s: change or delete them first", id, strings.Join(routes, ", "))
	}
	return deleteByID(ctx, t.q, "ai_prompts", "prompt", id)
}

// --- lists and Load ---

// ListProviders lists providers in id order, filtered by name.
func (s *Store) ListProviders(ctx context.Context, f store.ListFilter) ([]domain.Provider, string, error) {
	var w filter
	w.eq("name", f.Name)
	return listByID(ctx, s.r, providerCols, "ai_providers", w.where, w.args, f.Page, scanProvider,
		func(p domain.Provider) string { return p.ID })
}

// ListModels lists models in id order, with their targets, filtered by
// name.
func (s *Store) ListModels(ctx context.Context, f store.ListFilter) ([]domain.Model, string, error) {
	var w filter
	w.eq("name", f.Name)
	items, next, err := listByID(ctx, s.r, modelCols, "ai_models", w.where, w.args, f.Page, scanModel,
		func(m domain.Model) string { return m.ID })
	if err != nil {
		return nil, "", err
	}
	if err := withTargets(ctx, s.r, items); err != nil {
		return nil, "", err
	}
	return items, next, nil
}

// ListAIAccess lists allow-lists in consumer id order, filtered by
// consumer and the consumer's tenant. The cursor is the last consumer id.
func (s *Store) ListAIAccess(ctx context.Context, f store.ListFilter) ([]domain.AIAccess, string, error) {
	var w filter
	w.eq("consumer_id", f.ConsumerID)
	if f.TenantID != "" {
		w.where = append(w.where, "consumer_id IN (SELECT id FROM consumers WHERE tenant_id = ?)")
		w.args = append(w.args, f.TenantID)
	}
	if f.After != "" {
		w.where = append(w.where, "consumer_id > ?")
		w.args = append(w.args, f.After)
	}
	limit := pageLimit(f.Limit)
	items, err := queryAll(ctx, s.r, scanAccess, `SELECT `+accessCols+` FROM ai_access`+whereClause(w.where)+
		` ORDER BY consumer_id LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list ai access: %w", err)
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
	return listByID(ctx, s.r, budgetCols, "ai_budgets", w.where, w.args, f.Page, scanBudget,
		func(b domain.Budget) string { return b.ID })
}

// ListPrompts lists prompts in id order, filtered by tenant and name.
func (s *Store) ListPrompts(ctx context.Context, f store.ListFilter) ([]domain.Prompt, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("name", f.Name)
	return listByID(ctx, s.r, promptCols, "ai_prompts", w.where, w.args, f.Page, scanPrompt,
		func(p domain.Prompt) string { return p.ID })
}

// loadAI reads the AI objects for Load.
func loadAI(ctx context.Context, q querier, d *store.Data) error {
	var err error
	if d.Providers, err = queryAll(ctx, q, scanProvider, `SELECT `+providerCols+` FROM ai_providers ORDER BY id`); err != nil {
		return fmt.Errorf("sqlite: load providers: %w", err)
	}
	if d.Models, err = queryAll(ctx, q, scanModel, `SELECT `+modelCols+` FROM ai_models ORDER BY id`); err != nil {
		return fmt.Errorf("sqlite: load models: %w", err)
	}
	if err := withTargets(ctx, q, d.Models); err != nil {
		return fmt.Errorf("sqlite: load models: %w", err)
	}
	if d.AIAccess, err = queryAll(ctx, q, scanAccess, `SELECT `+accessCols+` FROM ai_access ORDER BY consumer_id`); err != nil {
		return fmt.Errorf("sqlite: load ai access: %w", err)
	}
	if d.Budgets, err = queryAll(ctx, q, scanBudget, `SELECT `+budgetCols+` FROM ai_budgets ORDER BY id`); err != nil {
		return fmt.Errorf("sqlite: load budgets: %w", err)
	}
	if d.Prompts, err = queryAll(ctx, q, scanPrompt, `SELECT `+promptCols+` FROM ai_prompts ORDER BY id`); err != nil {
		return fmt.Errorf("sqlite: load prompts: %w", err)
	}
	return nil
}

// strs runs a query of one text column.
func strs(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	return queryAll(ctx, q, func(r rowScanner) (string, error) {
		var s string
		err := r.Scan(&s)
		return s, err
	}, query, args...)
}
