package admin

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// Prompt templates (§11): a tenant's named template with declared, typed
// variables, bound to a model alias; a route of type "prompt" serves one
// (route field "prompt"). Tenant-admins manage their tenant's prompts.
// Syntax and rendering are domain.Prompt's: {{name}} placeholders, \{{ for
// a literal "{{"; every placeholder must be declared and every declared
// variable used, so a template is checked whole when it is saved.

// promptRequest creates a prompt, or (PATCH) holds the fields to change
// (the tenant cannot change).
type promptRequest struct {
	// Tenant is an id or slug; a tenant-bound admin's own by default.
	Tenant   string `json:"tenant,omitempty"`
	Name     string `json:"name"`
	Template string `json:"template"`
	// Variables are {"name","type"} (type string, number, integer or
	// boolean; default string) or bare names (strings).
	Variables []domain.PromptVariable `json:"variables,omitempty"`
	// Model is the model alias (or id) the rendered prompt is sent to.
	Model string `json:"model"`
}

const (
	maxTemplateBytes = 64 << 10
	maxPromptVars    = 64
)

var varTypes = []string{domain.VarString, domain.VarNumber, domain.VarInteger, domain.VarBoolean}

// buildPrompt validates everything but the tenant and the model's
// existence.
func buildPrompt(req promptRequest) (domain.Prompt, error) {
	p := domain.Prompt{Name: req.Name, Template: req.Template, Model: req.Model, Variables: []domain.PromptVariable{}}
	if err := checkName("prompt", p.Name); err != nil {
		return p, err
	}
	switch {
	case strings.TrimSpace(p.Template) == "":
		return p, invalid("template is required: the text sent to the model, with {{variable}} placeholders")
	case !textOK(p.Template, maxTemplateBytes):
		return p, invalid("template must be valid UTF-8 of at most %d bytes", maxTemplateBytes)
	}
	used, err := domain.TemplateVariables(p.Template)
	if err != nil {
		return p, invalid("%v", err)
	}
	if len(req.Variables) > maxPromptVars {
		return p, invalid("variables has %d entries; at most %d", len(req.Variables), maxPromptVars)
	}
	for i, v := range req.Variables {
		if !domain.ValidVariableName(v.Name) {
			return p, invalid("variables[%d] %q is not a variable name: a letter or '_', then letters, digits or '_' (at most 64)", i, v.Name)
		}
		if v.Type == "" {
			v.Type = domain.VarString
		}
		if err := oneOf(fmt.Sprintf("variables[%d].type", i), v.Type, varTypes...); err != nil {
			return p, err
		}
		if slices.ContainsFunc(p.Variables, func(o domain.PromptVariable) bool { return o.Name == v.Name }) {
			return p, invalid("variables[%d] %q is declared twice", i, v.Name)
		}
		if !slices.Contains(used, v.Name) {
			return p, invalid("variable %q is declared but the template never uses it: add {{%s}} to the template or remove it", v.Name, v.Name)
		}
		p.Variables = append(p.Variables, v)
	}
	for _, u := range used {
		if !slices.ContainsFunc(p.Variables, func(o domain.PromptVariable) bool { return o.Name == u }) {
			return p, invalid("the template uses {{%s}}, which variables does not declare: add {\"name\":%q,\"type\":\"string\"}", u, u)
		}
	}
	if p.Model == "" {
		return p, invalid("model is required: the model alias the prompt is sent to (gatehouse model list)")
	}
	return p, nil
}

// promptID resolves a prompt reference outside any transaction: an id,
// "tenant-slug/name", or a name unique among the tenants the admin
// reaches (preferring tenant prefer when several match).
func (rc *reqCtx) promptID(ref, prefer string) (string, error) {
	if ref == "" {
		return "", invalid("prompt is required: a prompt id, name, or tenant-slug/name (gatehouse prompt list)")
	}
	if strings.HasPrefix(ref, prefixPrompt) {
		return ref, nil
	}
	s, err := rc.aiStore()
	if err != nil {
		return "", err
	}
	f := store.ListFilter{Name: ref, TenantID: rc.scope(), Page: store.Page{Limit: maxLimit}}
	if tref, name, ok := strings.Cut(ref, "/"); ok {
		if err := rc.view(func(tx store.Tx) error {
			t, err := rc.loadTenant(tx, tref)
			f.TenantID = t.ID
			return err
		}); err != nil {
			return "", err
		}
		f.Name = name
	}
	items, _, err := s.ListPrompts(rc.ctx, f)
	if err != nil {
		return "", storeError(err)
	}
	if i := slices.IndexFunc(items, func(p domain.Prompt) bool { return p.TenantID == prefer }); prefer != "" && i >= 0 {
		return items[i].ID, nil
	}
	switch len(items) {
	case 0:
		return "", notFound("prompt %q not found; list them with gatehouse prompt list", ref)
	case 1:
		return items[0].ID, nil
	}
	var refs []string
	for _, p := range items {
		refs = append(refs, rc.tenantSlug(p.TenantID)+"/"+p.Name)
	}
	slices.Sort(refs)
	return "", &apiError{Code: CodeAmbiguous,
		Detail: fmt.Sprintf("prompt name %q exists in %d tenants; refer to it as %s, or by id", ref, len(items), strings.Join(refs, " or ")),
		Extra:  map[string]any{"candidates": refs}}
}

// loadPrompt reads a prompt by id inside tx and checks reach.
func (rc *reqCtx) loadPrompt(tx store.Tx, id string) (domain.Prompt, error) {
	at, err := aiTx(tx)
	if err != nil {
		return domain.Prompt{}, err
	}
	p, err := at.GetPrompt(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return p, notFound("prompt %q not found; list them with gatehouse prompt list", id)
	}
	if err != nil {
		return p, err
	}
	return p, rc.reach("prompt", p.ID, id, p.TenantID)
}

// promptModel resolves the prompt's model (alias or id) to its alias.
func (rc *reqCtx) promptModel(tx store.Tx, p *domain.Prompt) error {
	m, err := rc.loadModel(tx, p.Model)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == CodeNotFound {
			return invalid("model %q is not a model of the catalogue (gatehouse model list)", p.Model)
		}
		return err
	}
	p.Model = m.Name
	return nil
}

func (a *API) listPrompts(rc *reqCtx) (any, error) {
	s, err := rc.aiStore()
	if err != nil {
		return nil, err
	}
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{Page: p, TenantID: rc.scope(), Name: rc.query("name")}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	items, next, err := s.ListPrompts(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

func (a *API) getPrompt(rc *reqCtx) (any, error) {
	id, err := rc.promptID(rc.r.PathValue("id"), "")
	if err != nil {
		return nil, err
	}
	var p domain.Prompt
	if err := rc.view(func(tx store.Tx) (err error) { p, err = rc.loadPrompt(tx, id); return err }); err != nil {
		return nil, err
	}
	return p, nil
}

func (a *API) createPrompt(rc *reqCtx) (any, error) {
	var req promptRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	tref := req.Tenant
	if tref == "" {
		if tref = rc.scope(); tref == "" {
			return nil, invalid("tenant is required: the id or slug of the tenant whose routes will serve the prompt")
		}
	}
	p, err := buildPrompt(req)
	if err != nil {
		return nil, err
	}
	if p.ID, err = newID(prefixPrompt); err != nil {
		return nil, internal(err, "could not generate an id")
	}
	p.CreatedAt, p.UpdatedAt = rc.now, rc.now
	err = rc.commit(func(tx store.Tx) (change, error) {
		t, err := rc.loadTenant(tx, tref)
		if err != nil {
			return change{}, err
		}
		p.TenantID = t.ID
		if err := rc.promptModel(tx, &p); err != nil {
			return change{}, err
		}
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.PutPrompt(rc.ctx, p); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return change{}, conflict("prompt name %q is already taken in tenant %s; pick another", p.Name, t.Slug)
			}
			return change{}, err
		}
		return change{Resource: "prompt", ResourceID: p.ID, TenantID: p.TenantID, After: p}, nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (a *API) updatePrompt(rc *reqCtx) (any, error) {
	id, err := rc.promptID(rc.r.PathValue("id"), "")
	if err != nil {
		return nil, err
	}
	var cur domain.Prompt
	if err := rc.view(func(tx store.Tx) (err error) { cur, err = rc.loadPrompt(tx, id); return err }); err != nil {
		return nil, err
	}
	req := promptRequest{Tenant: cur.TenantID, Name: cur.Name, Template: cur.Template, Variables: slices.Clone(cur.Variables), Model: cur.Model}
	if _, err := rc.decodePatch(&req); err != nil {
		return nil, err
	}
	if req.Tenant != cur.TenantID {
		return nil, invalid("a prompt's tenant cannot change: create it in the other tenant instead")
	}
	next, err := buildPrompt(req)
	if err != nil {
		return nil, err
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		p, err := rc.loadPrompt(tx, cur.ID)
		if err != nil {
			return change{}, err
		}
		if !p.UpdatedAt.Equal(cur.UpdatedAt) {
			return change{}, conflict("prompt %s changed while this request was being prepared; send it again", p.Name)
		}
		if err := rc.promptModel(tx, &next); err != nil {
			return change{}, err
		}
		next.ID, next.TenantID, next.CreatedAt, next.UpdatedAt = p.ID, p.TenantID, p.CreatedAt, rc.now
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.PutPrompt(rc.ctx, next); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return change{}, conflict("prompt name %q is already taken in this tenant; pick another", next.Name)
			}
			return change{}, err
		}
		return change{Resource: "prompt", ResourceID: p.ID, TenantID: p.TenantID, Before: p, After: next}, nil
	})
	if err != nil {
		return nil, err
	}
	return next, nil
}

func (a *API) deletePrompt(rc *reqCtx) (any, error) {
	id, err := rc.promptID(rc.r.PathValue("id"), "")
	if err != nil {
		return nil, err
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		p, err := rc.loadPrompt(tx, id)
		if err != nil {
			return change{}, err
		}
		at, err := aiTx(tx)
		if err != nil {
			return change{}, err
		}
		if err := at.DeletePrompt(rc.ctx, p.ID); err != nil {
			return change{}, phrasedStoreConflict(err)
		}
		return change{Resource: "prompt", ResourceID: p.ID, TenantID: p.TenantID, Before: p}, nil
	})
	return nil, err
}

// routePromptID resolves a prompt route's "prompt" reference before its
// transaction, preferring the service's tenant for a bare name.
func (rc *reqCtx) routePromptID(ref, serviceRef string) (string, error) {
	var tenantID string
	if serviceRef != "" {
		err := rc.view(func(tx store.Tx) error {
			s, err := tx.GetService(rc.ctx, serviceRef)
			tenantID = s.TenantID
			if errors.Is(err, store.ErrNotFound) {
				return nil // createRoute names the missing service itself
			}
			return err
		})
		if err != nil {
			return "", err
		}
	}
	return rc.promptID(ref, tenantID)
}

// checkRoutePrompt checks inside tx that a prompt route's prompt exists
// and belongs to the route's service's tenant.
func (rc *reqCtx) checkRoutePrompt(tx store.Tx, promptID string, svc domain.Service) error {
	p, err := rc.loadPrompt(tx, promptID)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == CodeNotFound {
			return invalid("prompt %q not found: a route of type \"prompt\" serves an existing prompt (gatehouse prompt list)", promptID)
		}
		return err
	}
	if p.TenantID != svc.TenantID {
		return invalid("prompt %s belongs to tenant %s and service %s to tenant %s: a route serves its own tenant's prompts",
			p.Name, rc.tenantSlugIn(tx, p.TenantID), svc.Name, rc.tenantSlugIn(tx, svc.TenantID))
	}
	return nil
}

// tenantSlugIn names a tenant inside a transaction (tenantSlug would
// open a second one).
func (rc *reqCtx) tenantSlugIn(tx store.Tx, id string) string {
	if t, err := tx.GetTenant(rc.ctx, id); err == nil {
		return t.Slug
	}
	return id
}
