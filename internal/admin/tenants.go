package admin

import (
	"errors"
	"fmt"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

type tenantRequest struct {
	Slug string `json:"slug"`
	// Name is the display name; default: the slug.
	Name string `json:"name,omitempty"`
}

func (a *API) listTenants(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	var keep func(domain.Tenant) (bool, error)
	if s := rc.scope(); s != "" {
		keep = func(t domain.Tenant) (bool, error) { return t.ID == s, nil }
	}
	items, next, err := collect(p, func(p store.Page) ([]domain.Tenant, string, error) {
		return a.cfg.Store.ListTenants(rc.ctx, store.ListFilter{Page: p})
	}, keep)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

func (a *API) createTenant(rc *reqCtx) (any, error) {
	var req tenantRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	if err := checkSlug(req.Slug); err != nil {
		return nil, err
	}
	if req.Name == "" {
		req.Name = req.Slug
	}
	if len(req.Name) > 200 {
		return nil, invalid("name is %d bytes long; tenant names are limited to 200", len(req.Name))
	}
	id, err := newID(prefixTenant)
	if err != nil {
		return nil, internal(err, "could not generate an id")
	}
	t := domain.Tenant{ID: id, Slug: req.Slug, Name: req.Name, Status: domain.StatusActive, CreatedAt: rc.now, UpdatedAt: rc.now}
	err = rc.commit(func(tx store.Tx) (change, error) {
		if _, err := tx.GetTenant(rc.ctx, req.Slug); err == nil {
			return change{}, conflict("tenant slug %q is already taken; pick another or use the existing one (gatehouse tenant get %s)", req.Slug, req.Slug)
		} else if !errors.Is(err, store.ErrNotFound) {
			return change{}, err
		}
		if err := tx.PutTenant(rc.ctx, t); err != nil {
			return change{}, err
		}
		return change{Resource: "tenant", ResourceID: t.ID, TenantID: t.ID, After: t}, nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// tenantNotFound is the 404 for a tenant reference.
func tenantNotFound(ref string) error {
	return notFound("tenant %q not found (looked up as id and as slug); list them with gatehouse tenant list", ref)
}

// loadTenant resolves an id or slug inside tx and checks the admin may
// reach it.
func (rc *reqCtx) loadTenant(tx store.Tx, ref string) (domain.Tenant, error) {
	t, err := tx.GetTenant(rc.ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return t, tenantNotFound(ref)
	}
	if err != nil {
		return t, err
	}
	if err := rc.reach("tenant", t.ID, ref, t.ID); err != nil {
		return t, err
	}
	return t, nil
}

func (a *API) getTenant(rc *reqCtx) (any, error) {
	var t domain.Tenant
	err := rc.view(func(tx store.Tx) (err error) {
		t, err = rc.loadTenant(tx, rc.r.PathValue("id"))
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// tenantStatus suspends or resumes a tenant. Doing it twice is not an
// error and writes nothing. The cascade to every key under the tenant is
// the snapshot's: the gateway checks the tenant's status on each request.
func (a *API) tenantStatus(to string) func(*reqCtx) (any, error) {
	return func(rc *reqCtx) (any, error) {
		var out domain.Tenant
		err := rc.commit(func(tx store.Tx) (change, error) {
			t, err := rc.loadTenant(tx, rc.r.PathValue("id"))
			if err != nil {
				return change{}, err
			}
			out = t
			if t.Status == to {
				return change{}, errNoChange
			}
			if t.Status != domain.StatusActive && t.Status != domain.StatusSuspended {
				return change{}, conflict("tenant %s is %s; only active or suspended tenants can be suspended or resumed", t.Slug, t.Status)
			}
			before := t
			t.Status = to
			t.UpdatedAt = rc.now
			t.SuspendedAt = nil
			if to == domain.StatusSuspended {
				at := rc.now
				t.SuspendedAt = &at
			}
			if err := tx.PutTenant(rc.ctx, t); err != nil {
				return change{}, fmt.Errorf("put tenant: %w", err)
			}
			out = t
			return change{Resource: "tenant", ResourceID: t.ID, TenantID: t.ID, Before: before, After: t}, nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}
