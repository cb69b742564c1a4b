package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// The AI gateway's catalogue (§11, Appendix A): providers and models.
//
// Roles. Providers are the gateway's accounts with AI vendors: only
// unbound admins write them, and only unbound admins and viewers read
// them (a tenant-bound admin is refused: which vendors and accounts the
// gateway pays for is not a tenant's business). Models are the catalogue
// every tenant's consumers call: every role reads them, only admins write.
//
// Provider keys are write-only: sealed under the master key
// (Config.Secrets) on the way in, never returned (an answer shows how many
// there are and the last four characters of each long one), never logged,
// and audited as that same view.
//
// Prices are decimal text per 1M tokens, stored as integer micro-units
// (domain.Micros), never floating point. A model created without a price
// takes the price of its first target model found in Config.Prices (the
// gateway's configured table) or in the shipped defaults
// (domain.DefaultPrice, dated domain.DefaultPricesAsOf); the stored price
// says which in "source". Targets are tried in order, each in the
// configured table and then the shipped one. Without any, the price is
// required.

// decimalText is a decimal amount as sent: a JSON string ("0.15") or a
// plain number literal (0.15), kept as text and parsed exactly later so an
// error can name its field.
type decimalText string

func (d *decimalText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = decimalText(s)
		return nil
	}
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errors.New("an amount must be a decimal string such as \"0.15\"")
	}
	*d = decimalText(b)
	return nil
}

// parseAmount parses an amount field exactly (see domain.ParseMicros).
func parseAmount(field string, d decimalText) (domain.Micros, error) {
	m, err := domain.ParseMicros(string(d))
	if err != nil {
		return 0, invalid("%s: %v", field, err)
	}
	return m, nil
}

// aiStore is the store's AI part, or a 500 saying the store lacks it.
func (rc *reqCtx) aiStore() (store.AIStore, error) {
	s, ok := rc.api.cfg.Store.(store.AIStore)
	if !ok {
		return nil, internal(fmt.Errorf("admin: %T does not implement store.AIStore", rc.api.cfg.Store),
			"this gateway's store does not support the AI gateway's objects yet")
	}
	return s, nil
}

// aiTx is the AI part of tx.
func aiTx(tx store.Tx) (store.AITx, error) {
	t, ok := tx.(store.AITx)
	if !ok {
		return nil, internal(fmt.Errorf("admin: %T does not implement store.AITx", tx),
			"this gateway's store does not support the AI gateway's objects yet")
	}
	return t, nil
}

// gatewayWide refuses tenant-bound admins and viewers: the object is the
// gateway's, not a tenant's.
func (rc *reqCtx) gatewayWide(what string) error {
	if rc.scope() == "" {
		return nil
	}
	return &deniedError{Action: rc.ep.Action, Resource: rc.ep.Resource, ResourceID: rc.r.PathValue("id"),
		Detail: fmt.Sprintf("%s are the gateway's, not a tenant's: this %s token (%s) is bound to tenant %s", what, rc.admin.Role, rc.admin.Name, rc.scopeSlug)}
}

// --- providers ---

// providerRequest creates a provider, or (PATCH) holds the fields to
// change. APIKeys are write-only; on PATCH, a present api_keys replaces
// every key.
type providerRequest struct {
	Name string `json:"name"`
	// Type is openai (any OpenAI-compatible server), anthropic, gemini or
	// azure-openai.
	Type string `json:"type"`
	// BaseURL defaults to the type's public endpoint; azure-openai needs
	// its resource URL (https://<resource>.openai.azure.com).
	BaseURL string `json:"base_url,omitempty"`
	// APIKeys (write-only, at least one) are balanced round robin.
	APIKeys    []string `json:"api_keys,omitempty"`
	APIVersion string   `json:"api_version,omitempty"`
	// Deployments maps a model to an azure-openai deployment name.
	Deployments map[string]string `json:"deployments,omitempty"`
}

// providerView is a provider as the API shows it: of its keys only the
// count and last four characters.
type providerView struct {
	domain.Provider
	KeyCount int `json:"key_count"`
}

func viewProvider(p domain.Provider) providerView {
	if p.Keys == nil {
		p.Keys = []domain.ProviderKey{}
	}
	return providerView{Provider: p, KeyCount: len(p.Keys)}
}

const (
	maxProviderKeys   = 16
	maxProviderKeyLen = 4096
	maxDeployments    = 256
)

var (
	// providerKeyRE: a key travels in one header; printable ASCII without
	// spaces keeps it from ever splitting or injecting one.
	providerKeyRE = regexp.MustCompile(`^[!-~]+$`)
	apiVersionRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	deploymentRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// upstreamModelRE: a provider's model name ("gpt-4o-mini",
	// "llama3:8b", "meta-llama/Llama-3.1-8B-Instruct").
	upstreamModelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,255}$`)
	// modelNameRE: an alias clients send as "model"; no '/' (it is a path
	// segment here) and no '*' (allow-lists use it as a wildcard).
	modelNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
)

// buildProvider validates req into a provider; keys are returned as
// plaintext still to seal (nil: keep the stored ones, on PATCH).
func buildProvider(req providerRequest, keysGiven bool) (domain.Provider, []string, error) {
	p := domain.Provider{Name: req.Name, Type: req.Type, BaseURL: strings.TrimSpace(req.BaseURL), APIVersion: req.APIVersion}
	if err := checkName("provider", p.Name); err != nil {
		return p, nil, err
	}
	if p.Type == "" {
		return p, nil, invalid("type is required: one of %s", strings.Join(domain.ProviderTypes(), ", "))
	}
	if err := oneOf("type", p.Type, domain.ProviderTypes()...); err != nil {
		return p, nil, err
	}
	if p.BaseURL != "" {
		if err := checkTargetURL("base_url", p.BaseURL); err != nil {
			return p, nil, err
		}
	} else if p.Type == domain.ProviderAzure {
		return p, nil, invalid("base_url is required for azure-openai: the resource's endpoint, e.g. \"https://<resource>.openai.azure.com\"")
	}
	if p.APIVersion != "" {
		if p.Type != domain.ProviderAzure && p.Type != domain.ProviderAnthropic {
			return p, nil, invalid("api_version is for azure-openai (the api-version parameter) and anthropic (the anthropic-version header), not %s", p.Type)
		}
		if !apiVersionRE.MatchString(p.APIVersion) {
			return p, nil, invalid("api_version %q must be 1-64 letters, digits, '.', '_' or '-', e.g. \"2024-10-21\"", p.APIVersion)
		}
	}
	if len(req.Deployments) > 0 {
		if p.Type != domain.ProviderAzure {
			return p, nil, invalid("deployments are for azure-openai providers, not %s", p.Type)
		}
		if len(req.Deployments) > maxDeployments {
			return p, nil, invalid("deployments has %d entries; at most %d", len(req.Deployments), maxDeployments)
		}
		p.Deployments = make(map[string]string, len(req.Deployments))
		for model, dep := range req.Deployments {
			if !upstreamModelRE.MatchString(model) {
				return p, nil, invalid("deployments key %q is not a model name (letters, digits and ._:/@+-)", model)
			}
			if !deploymentRE.MatchString(dep) {
				return p, nil, invalid("deployments[%q] %q must be a deployment name: 1-64 letters, digits, '.', '_' or '-'", model, dep)
			}
			p.Deployments[model] = dep
		}
	}
	if !keysGiven {
		return p, nil, nil
	}
	switch n := len(req.APIKeys); {
	case n == 0:
		return p, nil, invalid("api_keys is required: at least one key of the %s account (several are balanced); a local server that needs none takes any placeholder", p.Type)
	case n > maxProviderKeys:
		return p, nil, invalid("api_keys has %d keys; at most %d", n, maxProviderKeys)
	}
	for i, k := range req.APIKeys {
		// Messages name the position, never the key.
		switch {
		case k == "":
			return p, nil, invalid("api_keys[%d] is empty", i)
		case len(k) > maxProviderKeyLen:
			return p, nil, invalid("api_keys[%d] is longer than %d bytes", i, maxProviderKeyLen)
		case !providerKeyRE.MatchString(k):
			return p, nil, invalid("api_keys[%d] must be printable ASCII without spaces or line breaks (it is sent in a header): check for a pasted newline", i)
		}
		if j := slices.Index(req.APIKeys[:i], k); j >= 0 {
			return p, nil, invalid("api_keys[%d] repeats api_keys[%d]", i, j)
		}
	}
	return p, req.APIKeys, nil
}

// sealKeys seals provider keys under the master key.
func (rc *reqCtx) sealKeys(keys []string) ([]domain.ProviderKey, error) {
	out := make([]domain.ProviderKey, len(keys))
	for i, k := range keys {
		sealed, err := rc.seal(fmt.Sprintf("api_keys[%d]", i), k)
		if err != nil {
			return nil, err
		}
		out[i] = domain.ProviderKey{Sealed: sealed, Last4: domain.KeyLast4(k)}
	}
	return out, nil
}

// loadProvider resolves an id or name inside tx.
func (rc *reqCtx) loadProvider(tx store.Tx, ref string) (domain.Provider, error) {
	at, err := aiTx(tx)
	if err != nil {
		return domain.Provider{}, err
	}
	if ref == "" {
		return domain.Provider{}, invalid("provider is required: a provider id or name (gatehouse provider list)")
	}
	p, err := at.GetProvider(rc.ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return p, notFound("provider %q not found (looked up as id and as name); list them with gatehouse provider list", ref)
	}
	return p, err
}

func (a *API) listProviders(rc *reqCtx) (any, error) {
	if err := rc.gatewayWide("providers"); err != nil {
		return nil, err
	}
	s, err := rc.aiStore()
	if err != nil {
		return nil, err
	}
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	items, next, err := s.ListProviders(rc.ctx, store.ListFilter{Page: p, Name: rc.query("name")})
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]providerView, len(items))
	for i, v := range items {
		out[i] = viewProvider(v)
	}
	return list(out, next), nil
}

func (a *API) getProvider(rc *reqCtx) (any, error) {
	if err := rc.gatewayWide("providers"); err != nil {
		return nil, err
	}
	var p domain.Provider
	if err := rc.view(func(tx store.Tx) (err error) { p, err = rc.loadProvider(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	return viewProvider(p), nil
}

func (a *API) createProvider(rc *reqCtx) (any, error) {
	var req providerRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	p, keys, err := buildProvider(req, true)
	if err != nil {
		return nil, err
	}
	if p.Keys, err = rc.sealKeys(keys); err != nil {
		return nil, err
	}
	if p.ID, err = newID(prefixProvider); err != nil {
		return nil, internal(err, "could not generate an id")
	}
	p.CreatedAt, p.UpdatedAt = rc.now, rc.now
	err = rc.commit(func(tx store.Tx) (change, error) {
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.PutProvider(rc.ctx, p); err != nil {
			return change{}, phrasedConflict(err)
		}
		return change{Resource: "provider", ResourceID: p.ID, After: viewProvider(p)}, nil
	})
	if err != nil {
		return nil, err
	}
	return viewProvider(p), nil
}

func (a *API) updateProvider(rc *reqCtx) (any, error) {
	var cur domain.Provider
	if err := rc.view(func(tx store.Tx) (err error) { cur, err = rc.loadProvider(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	if cur.Declared {
		return nil, declared("provider", cur.Name)
	}
	req := providerRequest{Name: cur.Name, Type: cur.Type, BaseURL: cur.BaseURL, APIVersion: cur.APIVersion, Deployments: cur.Deployments}
	present, err := rc.decodePatch(&req)
	if err != nil {
		return nil, err
	}
	_, keysGiven := present["api_keys"]
	next, keys, err := buildProvider(req, keysGiven)
	if err != nil {
		return nil, err
	}
	if keysGiven {
		if next.Keys, err = rc.sealKeys(keys); err != nil {
			return nil, err
		}
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		p, err := rc.loadProvider(tx, cur.ID)
		if err != nil {
			return change{}, err
		}
		if !p.UpdatedAt.Equal(cur.UpdatedAt) {
			return change{}, conflict("provider %s changed while this request was being prepared; send it again", p.Name)
		}
		if !keysGiven {
			next.Keys = p.Keys
		}
		next.ID, next.Declared, next.CreatedAt, next.UpdatedAt = p.ID, p.Declared, p.CreatedAt, rc.now
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.PutProvider(rc.ctx, next); err != nil {
			return change{}, phrasedConflict(err)
		}
		return change{Resource: "provider", ResourceID: p.ID, Before: viewProvider(p), After: viewProvider(next)}, nil
	})
	if err != nil {
		return nil, err
	}
	return viewProvider(next), nil
}

func (a *API) deleteProvider(rc *reqCtx) (any, error) {
	err := rc.commit(func(tx store.Tx) (change, error) {
		p, err := rc.loadProvider(tx, rc.r.PathValue("id"))
		if err != nil {
			return change{}, err
		}
		if p.Declared {
			return change{}, declared("provider", p.Name)
		}
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.DeleteProvider(rc.ctx, p.ID); err != nil {
			return change{}, phrasedStoreConflict(err)
		}
		return change{Resource: "provider", ResourceID: p.ID, Before: viewProvider(p)}, nil
	})
	return nil, err
}

// phrasedStoreConflict passes on a store conflict that is a full sentence
// with its fix (a delete refused while something uses the object).
func phrasedStoreConflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return &apiError{Code: CodeConflict, Detail: err.Error(), Err: err}
	}
	return err
}

// --- models ---

// modelRequest creates a model, or (PATCH) holds the fields to change (the
// name cannot change: clients send it).
type modelRequest struct {
	// Name is the alias clients send as "model".
	Name string `json:"name"`
	// Targets are tried in order: fallback on 429, 5xx and timeouts.
	Targets []modelTargetInput `json:"targets"`
	// Price per 1M tokens; absent: the configured or shipped default of
	// the first target model that has one.
	Price           *priceInput `json:"price,omitempty"`
	MaxOutputTokens int64       `json:"max_output_tokens,omitempty"`
}

type modelTargetInput struct {
	// Provider is a provider id or name.
	Provider string `json:"provider"`
	// Model is the provider's own model name.
	Model string `json:"model"`
}

// priceInput is a price as sent: decimal text per 1M tokens (at most six
// decimal places).
type priceInput struct {
	InputPer1M decimalText `json:"input_per_1m"`
	// CachedInputPer1M defaults to the input price.
	CachedInputPer1M decimalText `json:"cached_input_per_1m,omitempty"`
	OutputPer1M      decimalText `json:"output_per_1m"`
	// CacheWritePer1M (Anthropic cache writes) defaults to the input price.
	CacheWritePer1M decimalText `json:"cache_write_per_1m,omitempty"`
}

// modelView is a model with its targets' provider names.
type modelView struct {
	domain.Model
	Targets []targetView `json:"targets"`
}

type targetView struct {
	Provider     string `json:"provider"`
	ProviderName string `json:"provider_name,omitempty"`
	Model        string `json:"model"`
}

func viewModel(m domain.Model, names map[string]string) modelView {
	v := modelView{Model: m, Targets: make([]targetView, len(m.Targets))}
	for i, t := range m.Targets {
		v.Targets[i] = targetView{Provider: t.ProviderID, ProviderName: names[t.ProviderID], Model: t.Model}
	}
	return v
}

const (
	maxModelTargets    = 16
	maxOutputTokensCap = 10_000_000
)

func buildPrice(in priceInput) (domain.Price, error) {
	var p domain.Price
	var err error
	if in.InputPer1M == "" || in.OutputPer1M == "" {
		return p, invalid("price needs input_per_1m and output_per_1m (decimal per 1M tokens, e.g. \"0.15\"; \"0\" for a free model)")
	}
	if p.InputPer1M, err = parseAmount("price.input_per_1m", in.InputPer1M); err != nil {
		return p, err
	}
	if p.OutputPer1M, err = parseAmount("price.output_per_1m", in.OutputPer1M); err != nil {
		return p, err
	}
	p.CachedInputPer1M = p.InputPer1M
	if in.CachedInputPer1M != "" {
		if p.CachedInputPer1M, err = parseAmount("price.cached_input_per_1m", in.CachedInputPer1M); err != nil {
			return p, err
		}
	}
	if in.CacheWritePer1M != "" {
		if p.CacheWritePer1M, err = parseAmount("price.cache_write_per_1m", in.CacheWritePer1M); err != nil {
			return p, err
		}
	}
	return p, nil
}

func priceToInput(p domain.Price) *priceInput {
	in := &priceInput{InputPer1M: decimalText(p.InputPer1M.String()), CachedInputPer1M: decimalText(p.CachedInputPer1M.String()),
		OutputPer1M: decimalText(p.OutputPer1M.String())}
	if p.CacheWritePer1M != 0 {
		in.CacheWritePer1M = decimalText(p.CacheWritePer1M.String())
	}
	return in
}

// defaultPrice finds the price of the first target model that has one
// (the first target serves most calls): its configured price, else its
// shipped default. A configured price without a cached-input price
// charges cached tokens at the input price.
func (a *API) defaultPrice(targets []domain.ModelTarget) (domain.Price, bool) {
	for _, t := range targets {
		if p, ok := a.cfg.Prices[t.Model]; ok {
			p.Source = "config"
			if p.CachedInputPer1M == 0 {
				p.CachedInputPer1M = p.InputPer1M
			}
			return p, true
		}
		if p, ok := domain.DefaultPrice(t.Model); ok {
			return p, true
		}
	}
	return domain.Price{}, false
}

// checkModelName validates an alias.
func checkModelName(s string) error {
	switch {
	case s == "":
		return invalid("name is required: the alias clients send as \"model\", e.g. \"gpt-4o-mini\" or \"chat-default\"")
	case !modelNameRE.MatchString(s):
		return invalid("model name %q must be 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", s)
	case idLikeRE.MatchString(s):
		return invalid("model name %q starts like a generated id (%s); pick a name without that prefix", s, s[:4])
	}
	return nil
}

// buildModel validates req into a model; targets keep the provider
// references as given (resolved inside the transaction).
func (a *API) buildModel(req modelRequest) (domain.Model, error) {
	m := domain.Model{Name: req.Name, MaxOutputTokens: req.MaxOutputTokens}
	if err := checkModelName(m.Name); err != nil {
		return m, err
	}
	switch n := len(req.Targets); {
	case n == 0:
		return m, invalid("targets is required: at least one {\"provider\",\"model\"}, tried in order (fallback on 429, 5xx and timeouts)")
	case n > maxModelTargets:
		return m, invalid("targets has %d entries; at most %d", n, maxModelTargets)
	}
	for i, t := range req.Targets {
		if t.Provider == "" {
			return m, invalid("targets[%d].provider is required: a provider id or name (gatehouse provider list)", i)
		}
		if !upstreamModelRE.MatchString(t.Model) {
			return m, invalid("targets[%d].model %q must be the provider's model name: 1-256 letters, digits and ._:/@+-, e.g. \"gpt-4o-mini\"", i, t.Model)
		}
		m.Targets = append(m.Targets, domain.ModelTarget{ProviderID: t.Provider, Model: t.Model})
	}
	if m.MaxOutputTokens < 0 || m.MaxOutputTokens > maxOutputTokensCap {
		return m, invalid("max_output_tokens %d must be from 0 (the gateway default) to %d", m.MaxOutputTokens, maxOutputTokensCap)
	}
	if req.Price != nil {
		p, err := buildPrice(*req.Price)
		if err != nil {
			return m, err
		}
		m.Price = p
		return m, nil
	}
	p, ok := a.defaultPrice(m.Targets)
	if !ok {
		names := make([]string, len(m.Targets))
		for i, t := range m.Targets {
			names[i] = t.Model
		}
		return m, invalid("price is required: no configured or shipped default price is known for %s; give "+
			"{\"input_per_1m\",\"cached_input_per_1m\",\"output_per_1m\"} in decimal per 1M tokens (\"0\" for a free local model)",
			strings.Join(names, ", "))
	}
	m.Price = p
	return m, nil
}

// resolveTargets replaces the targets' provider references (id or name)
// by ids inside tx, and returns the provider names by id for the view.
func (rc *reqCtx) resolveTargets(tx store.Tx, m *domain.Model) (map[string]string, error) {
	names := map[string]string{}
	for i, t := range m.Targets {
		p, err := rc.loadProvider(tx, t.ProviderID)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Code == CodeNotFound {
				return nil, invalid("targets[%d].provider %q is not a provider (gatehouse provider list)", i, t.ProviderID)
			}
			return nil, err
		}
		m.Targets[i].ProviderID = p.ID
		names[p.ID] = p.Name
	}
	return names, nil
}

// providerNames maps provider ids to names for model views.
func (rc *reqCtx) providerNames(tx store.Tx, models ...domain.Model) (map[string]string, error) {
	at, err := aiTx(tx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, m := range models {
		for _, t := range m.Targets {
			if _, ok := names[t.ProviderID]; ok {
				continue
			}
			p, err := at.GetProvider(rc.ctx, t.ProviderID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			names[t.ProviderID] = p.Name
		}
	}
	return names, nil
}

// loadModel resolves an id or name inside tx.
func (rc *reqCtx) loadModel(tx store.Tx, ref string) (domain.Model, error) {
	at, err := aiTx(tx)
	if err != nil {
		return domain.Model{}, err
	}
	if ref == "" {
		return domain.Model{}, invalid("model is required: a model id or name (gatehouse model list)")
	}
	m, err := at.GetModel(rc.ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return m, notFound("model %q not found (looked up as id and as name); list them with gatehouse model list", ref)
	}
	return m, err
}

func (a *API) listModels(rc *reqCtx) (any, error) {
	s, err := rc.aiStore()
	if err != nil {
		return nil, err
	}
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	items, next, err := s.ListModels(rc.ctx, store.ListFilter{Page: p, Name: rc.query("name")})
	if err != nil {
		return nil, storeError(err)
	}
	var names map[string]string
	if err := rc.view(func(tx store.Tx) (err error) { names, err = rc.providerNames(tx, items...); return err }); err != nil {
		return nil, err
	}
	out := make([]modelView, len(items))
	for i, m := range items {
		out[i] = viewModel(m, names)
	}
	return list(out, next), nil
}

func (a *API) getModel(rc *reqCtx) (any, error) {
	var out modelView
	err := rc.view(func(tx store.Tx) error {
		m, err := rc.loadModel(tx, rc.r.PathValue("id"))
		if err != nil {
			return err
		}
		names, err := rc.providerNames(tx, m)
		out = viewModel(m, names)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *API) createModel(rc *reqCtx) (any, error) {
	var req modelRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	m, err := a.buildModel(req)
	if err != nil {
		return nil, err
	}
	if m.ID, err = newID(prefixModel); err != nil {
		return nil, internal(err, "could not generate an id")
	}
	m.CreatedAt, m.UpdatedAt = rc.now, rc.now
	var out modelView
	err = rc.commit(func(tx store.Tx) (change, error) {
		names, err := rc.resolveTargets(tx, &m)
		if err != nil {
			return change{}, err
		}
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.PutModel(rc.ctx, m); err != nil {
			return change{}, phrasedConflict(err)
		}
		out = viewModel(m, names)
		return change{Resource: "model", ResourceID: m.ID, After: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *API) updateModel(rc *reqCtx) (any, error) {
	var cur domain.Model
	if err := rc.view(func(tx store.Tx) (err error) { cur, err = rc.loadModel(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	req := modelRequest{Name: cur.Name, Price: priceToInput(cur.Price), MaxOutputTokens: cur.MaxOutputTokens}
	for _, t := range cur.Targets {
		req.Targets = append(req.Targets, modelTargetInput{Provider: t.ProviderID, Model: t.Model})
	}
	present, err := rc.decodePatch(&req)
	if err != nil {
		return nil, err
	}
	if req.Name != cur.Name {
		return nil, invalid("a model's name cannot change: clients send it as \"model\"; create model %q and delete %q instead", req.Name, cur.Name)
	}
	if raw, ok := present["price"]; ok && string(bytes.TrimSpace(raw)) == "null" {
		req.Price = nil // null: back to the default price
	}
	next, err := a.buildModel(req)
	if err != nil {
		return nil, err
	}
	if _, ok := present["price"]; !ok {
		next.Price = cur.Price // unchanged, its source included
	}
	var out modelView
	err = rc.commit(func(tx store.Tx) (change, error) {
		m, err := rc.loadModel(tx, cur.ID)
		if err != nil {
			return change{}, err
		}
		if !m.UpdatedAt.Equal(cur.UpdatedAt) {
			return change{}, conflict("model %s changed while this request was being prepared; send it again", m.Name)
		}
		names, err := rc.resolveTargets(tx, &next)
		if err != nil {
			return change{}, err
		}
		before, err := rc.providerNames(tx, m)
		if err != nil {
			return change{}, err
		}
		next.ID, next.CreatedAt, next.UpdatedAt = m.ID, m.CreatedAt, rc.now
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.PutModel(rc.ctx, next); err != nil {
			return change{}, phrasedConflict(err)
		}
		out = viewModel(next, names)
		return change{Resource: "model", ResourceID: m.ID, Before: viewModel(m, before), After: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *API) deleteModel(rc *reqCtx) (any, error) {
	err := rc.commit(func(tx store.Tx) (change, error) {
		m, err := rc.loadModel(tx, rc.r.PathValue("id"))
		if err != nil {
			return change{}, err
		}
		names, err := rc.providerNames(tx, m)
		if err != nil {
			return change{}, err
		}
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.DeleteModel(rc.ctx, m.ID); err != nil {
			return change{}, phrasedStoreConflict(err)
		}
		return change{Resource: "model", ResourceID: m.ID, Before: viewModel(m, names)}, nil
	})
	return nil, err
}

// textOK reports whether s is valid UTF-8 of at most limit bytes.
func textOK(s string, limit int) bool { return len(s) <= limit && utf8.ValidString(s) }
