package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
	"gatehouse/internal/store"
)

type consumerRequest struct {
	// Tenant is the tenant's id or slug.
	Tenant  string            `json:"tenant"`
	Name    string            `json:"name"`
	Scopes  []string          `json:"scopes,omitempty"`
	IPAllow []string          `json:"ip_allow,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// consumerPatch holds the fields PATCH may change; a field present in the
// body replaces the stored value, an absent one keeps it.
type consumerPatch struct {
	Name    string            `json:"name,omitempty"`
	Scopes  []string          `json:"scopes,omitempty"`
	IPAllow []string          `json:"ip_allow,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

func (a *API) listConsumers(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{Page: p, Name: rc.query("name"), TenantID: rc.scope()}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	items, next, err := a.cfg.Store.ListConsumers(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

// reasonFilter is a list's "reason" query parameter, which must be a code
// of the catalogue; "" when it is absent.
func (rc *reqCtx) reasonFilter() (string, error) {
	code := rc.query("reason")
	if code == "" {
		return "", nil
	}
	if _, ok := reason.Lookup(code); !ok {
		return "", invalid("reason %q is not a reason code; the codes are listed at %s (e.g. key.revoked, auth.missing)", code, reason.ErrorsPath)
	}
	return code, nil
}

// consumerFilter resolves a list's "consumer" query parameter (see
// consumerID) to the id of a consumer the caller may see; "" when it is
// absent.
func (rc *reqCtx) consumerFilter() (string, error) {
	ref := rc.query("consumer")
	if ref == "" {
		return "", nil
	}
	id, err := rc.consumerID("consumer", ref)
	if err != nil {
		return "", err
	}
	if err := rc.view(func(tx store.Tx) error { _, err := rc.loadConsumer(tx, id); return err }); err != nil {
		return "", err
	}
	return id, nil
}

// consumerID resolves a consumer reference: an id, "tenant-slug/name", or
// a name that must be unambiguous across the tenants the admin reaches.
// It runs outside any write transaction (name search lists the store).
func (rc *reqCtx) consumerID(field, ref string) (string, error) {
	if ref == "" {
		return "", invalid("%s is required: a consumer id, name, or tenant-slug/name", field)
	}
	if tref, name, ok := strings.Cut(ref, "/"); ok {
		var id string
		err := rc.view(func(tx store.Tx) error {
			t, err := rc.loadTenant(tx, tref)
			if err != nil {
				return err
			}
			c, err := tx.GetConsumerByName(rc.ctx, t.ID, name)
			if errors.Is(err, store.ErrNotFound) {
				return notFound("consumer %q not found in tenant %s; list them with gatehouse consumer list --tenant %s", name, t.Slug, t.Slug)
			}
			id = c.ID
			return err
		})
		return id, err
	}
	var id string
	err := rc.view(func(tx store.Tx) error {
		c, err := tx.GetConsumer(rc.ctx, ref)
		if err == nil {
			id = c.ID
			return nil
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil || id != "" {
		return id, err
	}
	// By name, across the tenants this admin reaches.
	items, _, err := rc.api.cfg.Store.ListConsumers(rc.ctx, store.ListFilter{Name: ref, TenantID: rc.scope(), Page: store.Page{Limit: maxLimit}})
	if err != nil {
		return "", storeError(err)
	}
	live := slices.DeleteFunc(slices.Clone(items), func(c domain.Consumer) bool { return c.Status == domain.StatusDeleted })
	if len(live) > 0 {
		items = live
	}
	switch len(items) {
	case 0:
		if rc.scope() != "" {
			return "", notFound("consumer %q not found in tenant %s; list them with gatehouse consumer list --tenant %s", ref, rc.scopeSlug, rc.scopeSlug)
		}
		return "", notFound("consumer %q not found (looked up as id and as name in every tenant); list them with gatehouse consumer list", ref)
	case 1:
		return items[0].ID, nil
	}
	var tenants, refs []string
	for _, c := range items {
		slug := rc.tenantSlug(c.TenantID)
		tenants = append(tenants, slug)
		refs = append(refs, slug+"/"+c.Name)
	}
	slices.Sort(tenants)
	slices.Sort(refs)
	return "", &apiError{Code: CodeAmbiguous,
		Detail: fmt.Sprintf("consumer name %q exists in %d tenants (%s); refer to it as %s, or by id", ref, len(items), strings.Join(tenants, ", "), strings.Join(refs, " or ")),
		Extra:  map[string]any{"candidates": refs}}
}

// tenantSlug names a tenant for a message, falling back to its id.
func (rc *reqCtx) tenantSlug(id string) string {
	slug := id
	_ = rc.api.cfg.Store.View(rc.ctx, func(tx store.Tx) error {
		t, err := tx.GetTenant(rc.ctx, id)
		if err == nil {
			slug = t.Slug
		}
		return nil
	})
	return slug
}

// loadConsumer reads a consumer by id inside tx and checks the admin may
// reach its tenant.
func (rc *reqCtx) loadConsumer(tx store.Tx, id string) (domain.Consumer, error) {
	c, err := tx.GetConsumer(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return c, notFound("consumer %q not found; list them with gatehouse consumer list", id)
	}
	if err != nil {
		return c, err
	}
	return c, rc.reach("consumer", c.ID, c.ID, c.TenantID)
}

func (a *API) createConsumer(rc *reqCtx) (any, error) {
	var req consumerRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	if req.Tenant == "" {
		return nil, invalid("tenant is required: the id or slug of the consumer's tenant (gatehouse tenant list)")
	}
	c, err := buildConsumer(req.Name, req.Scopes, req.IPAllow, req.Labels)
	if err != nil {
		return nil, err
	}
	if c.ID, err = newID(prefixConsumer); err != nil {
		return nil, internal(err, "could not generate an id")
	}
	c.Status, c.CreatedAt, c.UpdatedAt = domain.StatusActive, rc.now, rc.now
	err = rc.commit(func(tx store.Tx) (change, error) {
		t, err := rc.loadTenant(tx, req.Tenant)
		if err != nil {
			return change{}, err
		}
		c.TenantID = t.ID
		if err := rc.checkConsumerName(tx, t, c.Name, ""); err != nil {
			return change{}, err
		}
		if err := tx.PutConsumer(rc.ctx, c); err != nil {
			return change{}, err
		}
		return change{Resource: "consumer", ResourceID: c.ID, TenantID: c.TenantID, After: c}, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// buildConsumer validates the user-settable fields.
func buildConsumer(name string, scopes, ipAllow []string, labels map[string]string) (domain.Consumer, error) {
	if err := checkName("consumer", name); err != nil {
		return domain.Consumer{}, err
	}
	sc, err := checkScopes("scopes", scopes)
	if err != nil {
		return domain.Consumer{}, err
	}
	ips, err := checkIPAllow("ip_allow", ipAllow)
	if err != nil {
		return domain.Consumer{}, err
	}
	if err := checkLabels(labels); err != nil {
		return domain.Consumer{}, err
	}
	return domain.Consumer{Name: name, Scopes: sc, IPAllow: ips, Labels: labels}, nil
}

// checkConsumerName refuses a name another live consumer of t uses.
func (rc *reqCtx) checkConsumerName(tx store.Tx, t domain.Tenant, name, selfID string) error {
	other, err := tx.GetConsumerByName(rc.ctx, t.ID, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case other.ID != selfID && other.Status != domain.StatusDeleted:
		return conflict("consumer %q already exists in tenant %s (id %s); pick another name or use it", name, t.Slug, other.ID)
	}
	return nil
}

func (a *API) getConsumer(rc *reqCtx) (any, error) {
	id, err := rc.consumerID("consumer", rc.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	var c domain.Consumer
	err = rc.view(func(tx store.Tx) (err error) {
		c, err = rc.loadConsumer(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (a *API) updateConsumer(rc *reqCtx) (any, error) {
	id, err := rc.consumerID("consumer", rc.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	var cur domain.Consumer
	if err := rc.view(func(tx store.Tx) (err error) { cur, err = rc.loadConsumer(tx, id); return err }); err != nil {
		return nil, err
	}
	// Clones: decoding onto a slice reuses its array, which cur still needs.
	req := consumerPatch{Name: cur.Name, Scopes: slices.Clone(cur.Scopes), IPAllow: slices.Clone(cur.IPAllow), Labels: maps.Clone(cur.Labels)}
	present, err := rc.decodePatch(&req)
	if err != nil {
		return nil, err
	}
	if raw, ok := present["labels"]; ok {
		// A map decoded onto a map merges; PATCH replaces.
		req.Labels = nil
		_ = json.Unmarshal(raw, &req.Labels)
	}
	next, err := buildConsumer(req.Name, req.Scopes, req.IPAllow, req.Labels)
	if err != nil {
		return nil, err
	}
	if _, ok := present["scopes"]; ok {
		if err := rc.checkScopesKept(cur, next.Scopes); err != nil {
			return nil, err
		}
	}
	var out domain.Consumer
	err = rc.commit(func(tx store.Tx) (change, error) {
		c, err := rc.loadConsumer(tx, id)
		if err != nil {
			return change{}, err
		}
		if c.Status == domain.StatusDeleted {
			return change{}, conflict("consumer %s was deleted; deleted consumers cannot change", c.Name)
		}
		before := c
		if next.Name != c.Name {
			t, err := tx.GetTenant(rc.ctx, c.TenantID)
			if err != nil {
				return change{}, err
			}
			if err := rc.checkConsumerName(tx, t, next.Name, c.ID); err != nil {
				return change{}, err
			}
		}
		c.Name, c.Scopes, c.IPAllow, c.Labels, c.UpdatedAt = next.Name, next.Scopes, next.IPAllow, next.Labels, rc.now
		if err := tx.PutConsumer(rc.ctx, c); err != nil {
			return change{}, err
		}
		out = c
		return change{Resource: "consumer", ResourceID: c.ID, TenantID: c.TenantID, Before: before, After: c}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkScopesKept refuses to take a scope away from a consumer while one of
// its usable keys still holds it: credential scopes stay within the
// consumer's grants (issue 5 §3), so the keys must go first.
func (rc *reqCtx) checkScopesKept(c domain.Consumer, scopes []string) error {
	var removed []string
	for _, s := range c.Scopes {
		if !slices.Contains(scopes, s) {
			removed = append(removed, s)
		}
	}
	if len(removed) == 0 {
		return nil
	}
	ks, _, err := collect(store.Page{Limit: maxLimit}, func(p store.Page) ([]domain.APIKey, string, error) {
		return rc.api.cfg.Store.ListKeys(rc.ctx, store.ListFilter{Page: p, ConsumerID: c.ID})
	}, nil)
	if err != nil {
		return storeError(err)
	}
	var holders []string
	for _, k := range ks {
		if keyUsable(k, rc.now) && slices.ContainsFunc(k.Scopes, func(s string) bool { return slices.Contains(removed, s) }) {
			holders = append(holders, k.ID)
		}
	}
	if len(holders) > 0 {
		return conflict("removing scope(s) %s from consumer %s would leave key(s) %s with scopes beyond its grants; revoke those keys (or rotate them with fewer scopes) first",
			strings.Join(removed, ", "), c.Name, strings.Join(holders, ", "))
	}
	creds, _, err := collect(store.Page{Limit: maxLimit}, func(p store.Page) ([]domain.Credential, string, error) {
		return rc.api.cfg.Store.ListCredentials(rc.ctx, store.ListFilter{Page: p, ConsumerID: c.ID})
	}, nil)
	if err != nil {
		return storeError(err)
	}
	for _, cr := range creds {
		if credentialUsable(cr, rc.now) && slices.ContainsFunc(cr.Scopes, func(s string) bool { return slices.Contains(removed, s) }) {
			holders = append(holders, cr.ID)
		}
	}
	if len(holders) > 0 {
		return conflict("removing scope(s) %s from consumer %s would leave credential(s) %s with scopes beyond its grants; revoke them first",
			strings.Join(removed, ", "), c.Name, strings.Join(holders, ", "))
	}
	return nil
}

// keyUsable reports whether k could still authenticate at now.
func keyUsable(k domain.APIKey, now time.Time) bool {
	switch {
	case k.RevokedAt != nil:
		return false
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return false
	case k.Successor != "" && k.GraceUntil != nil && !now.Before(*k.GraceUntil):
		return false
	}
	return true
}

// consumerStatus suspends or resumes a consumer (a no-op when already so).
func (a *API) consumerStatus(to string) func(*reqCtx) (any, error) {
	return func(rc *reqCtx) (any, error) {
		id, err := rc.consumerID("consumer", rc.r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		var out domain.Consumer
		err = rc.commit(func(tx store.Tx) (change, error) {
			c, err := rc.loadConsumer(tx, id)
			if err != nil {
				return change{}, err
			}
			out = c
			if c.Status == domain.StatusDeleted {
				return change{}, conflict("consumer %s was deleted; a deleted consumer cannot be suspended or resumed: create a new one", c.Name)
			}
			if c.Status == to {
				return change{}, errNoChange
			}
			before := c
			c.Status, c.UpdatedAt, c.SuspendedAt = to, rc.now, nil
			if to == domain.StatusSuspended {
				at := rc.now
				c.SuspendedAt = &at
			}
			if err := tx.PutConsumer(rc.ctx, c); err != nil {
				return change{}, err
			}
			out = c
			return change{Resource: "consumer", ResourceID: c.ID, TenantID: c.TenantID, Before: before, After: c}, nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// deleteConsumer marks the consumer deleted. The row and its keys stay, so
// those keys answer consumer.deleted instead of key.unknown; the name is
// free for a new consumer.
func (a *API) deleteConsumer(rc *reqCtx) (any, error) {
	id, err := rc.consumerID("consumer", rc.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	err = rc.commit(func(tx store.Tx) (change, error) {
		c, err := rc.loadConsumer(tx, id)
		if err != nil {
			return change{}, err
		}
		if c.Status == domain.StatusDeleted {
			return change{}, errNoChange
		}
		before := c
		at := rc.now
		c.Status, c.DeletedAt, c.UpdatedAt = domain.StatusDeleted, &at, rc.now
		if err := tx.PutConsumer(rc.ctx, c); err != nil {
			return change{}, err
		}
		return change{Resource: "consumer", ResourceID: c.ID, TenantID: c.TenantID, Before: before, After: c}, nil
	})
	return nil, err
}

// decodePatch decodes a PATCH body onto dst, which holds the current
// values: a member present in the body replaces the field, an absent one
// leaves it. It returns the members present.
func (rc *reqCtx) decodePatch(dst any) (map[string]json.RawMessage, error) {
	if err := rc.decode(dst, false); err != nil {
		return nil, err
	}
	var present map[string]json.RawMessage
	if err := json.Unmarshal(rc.body, &present); err != nil {
		return nil, decodeError(err)
	}
	return present, nil
}
