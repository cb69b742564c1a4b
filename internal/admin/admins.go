package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

func (a *API) listAudit(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{TenantID: rc.scope()}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	action, resource, resourceID, actor := rc.query("action"), rc.query("resource"), rc.query("resource_id"), rc.query("actor")
	var keep func(domain.AuditEntry) (bool, error)
	if action != "" || resource != "" || resourceID != "" || actor != "" {
		keep = func(e domain.AuditEntry) (bool, error) {
			switch {
			case action != "" && e.Action != action && !(strings.HasSuffix(action, ".") && strings.HasPrefix(e.Action, action)):
				return false, nil
			case resource != "" && e.Resource != resource:
				return false, nil
			case resourceID != "" && e.ResourceID != resourceID:
				return false, nil
			case actor != "" && e.Actor != actor && !strings.HasPrefix(e.Actor, actor+" (") && !strings.HasSuffix(e.Actor, "("+actor+")"):
				return false, nil
			}
			return true, nil
		}
	}
	items, next, err := collect(p, func(p store.Page) ([]domain.AuditEntry, string, error) {
		f.Page = p
		return a.cfg.Store.ListAudit(rc.ctx, f)
	}, keep)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

type adminRequest struct {
	Name string `json:"name"`
	// Role is admin, tenant-admin or viewer.
	Role string `json:"role"`
	// Tenant (id or slug) binds the admin to one tenant: required for a
	// tenant-admin, optional for a viewer, refused for an admin.
	Tenant string `json:"tenant,omitempty"`
}

// adminCreated is the one answer that carries an admin's token.
type adminCreated struct {
	domain.Admin
	// Token is the admin's bearer token, shown only in this answer.
	Token string `json:"token"`
}

func (a *API) listAdmins(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	s := rc.scope()
	var keep func(domain.Admin) (bool, error)
	if s != "" {
		keep = func(x domain.Admin) (bool, error) { return x.TenantID == s, nil }
	}
	items, next, err := collect(p, func(p store.Page) ([]domain.Admin, string, error) {
		return a.cfg.Store.ListAdmins(rc.ctx, store.ListFilter{Page: p, TenantID: s})
	}, keep)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

// loadAdmin reads an admin and checks a tenant-bound reader may see it.
func (rc *reqCtx) loadAdmin(tx store.Tx, id string) (domain.Admin, error) {
	x, err := tx.GetAdmin(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return x, notFound("admin %q not found; list them with gatehouse admin list", id)
	}
	if err != nil {
		return x, err
	}
	if s := rc.scope(); s != "" && x.TenantID != s {
		return x, rc.reach("admin", x.ID, x.ID, x.TenantID)
	}
	return x, nil
}

func (a *API) getAdmin(rc *reqCtx) (any, error) {
	var x domain.Admin
	err := rc.view(func(tx store.Tx) (err error) { x, err = rc.loadAdmin(tx, rc.r.PathValue("id")); return err })
	if err != nil {
		return nil, err
	}
	return x, nil
}

func (a *API) createAdmin(rc *reqCtx) (any, error) {
	var req adminRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	if err := checkName("admin", req.Name); err != nil {
		return nil, err
	}
	if req.Role == "" {
		return nil, invalid("role is required: admin, tenant-admin or viewer")
	}
	if err := oneOf("role", req.Role, domain.RoleAdmin, domain.RoleTenantAdmin, domain.RoleViewer); err != nil {
		return nil, err
	}
	switch {
	case req.Role == domain.RoleTenantAdmin && req.Tenant == "":
		return nil, invalid("tenant is required for a tenant-admin: the id or slug of the tenant it administers")
	case req.Role == domain.RoleAdmin && req.Tenant != "":
		return nil, invalid("an admin reaches every tenant and takes no tenant; for one tenant use role tenant-admin (or viewer)")
	}
	id, err := newID(prefixAdmin)
	if err != nil {
		return nil, internal(err, "could not generate an id")
	}
	token, hash, err := newToken()
	if err != nil {
		return nil, internal(err, "could not generate a token")
	}
	x := domain.Admin{ID: id, Name: req.Name, TokenHash: hash, Role: req.Role, CreatedAt: rc.now}
	err = rc.commit(func(tx store.Tx) (change, error) {
		if req.Tenant != "" {
			t, err := rc.loadTenant(tx, req.Tenant)
			if err != nil {
				return change{}, err
			}
			x.TenantID = t.ID
		}
		if err := tx.PutAdmin(rc.ctx, x); err != nil {
			return change{}, err
		}
		return change{Resource: "admin", ResourceID: x.ID, TenantID: x.TenantID, After: x}, nil
	})
	if err != nil {
		return nil, err
	}
	return adminCreated{Admin: x, Token: token}, nil
}

func (a *API) deleteAdmin(rc *reqCtx) (any, error) {
	id := rc.r.PathValue("id")
	var x domain.Admin
	if err := rc.view(func(tx store.Tx) (err error) { x, err = rc.loadAdmin(tx, id); return err }); err != nil {
		return nil, err
	}
	if x.Role == domain.RoleAdmin {
		all, _, err := collect(store.Page{Limit: maxLimit}, func(p store.Page) ([]domain.Admin, string, error) {
			return a.cfg.Store.ListAdmins(rc.ctx, store.ListFilter{Page: p})
		}, func(y domain.Admin) (bool, error) { return y.Role == domain.RoleAdmin, nil })
		if err != nil {
			return nil, storeError(err)
		}
		if len(all) <= 1 {
			return nil, conflict("admin %s is the last admin with role admin; create another admin first, or nobody could manage the gateway", x.Name)
		}
	}
	err := rc.commit(func(tx store.Tx) (change, error) {
		if err := tx.DeleteAdmin(rc.ctx, x.ID); err != nil {
			return change{}, err
		}
		return change{Resource: "admin", ResourceID: x.ID, TenantID: x.TenantID, Before: x}, nil
	})
	return nil, err
}

// statusView documents GET /status; Config.Status's members are added.
type statusView struct {
	Version      string    `json:"version"`
	Environment  string    `json:"environment"`
	StoreVersion int64     `json:"store_version"`
	Time         time.Time `json:"time"`
}

func (a *API) status(rc *reqCtx) (any, error) {
	// The store's version, or why there is none: an outage is when status
	// is needed most, so the rest still answers from this node's memory.
	var storeVersion any
	v, err := a.cfg.Store.Version(rc.ctx)
	if err != nil {
		a.cfg.Logger.Warn("admin status: the store did not answer", "err", err)
		storeVersion = nil
	} else {
		storeVersion = v
	}
	out := map[string]any{}
	if a.cfg.Status != nil {
		extra := a.cfg.Status(rc.ctx)
		b, err := json.Marshal(extra)
		if err != nil {
			return nil, internal(err, "encoding the runtime status failed")
		}
		var obj map[string]any
		if json.Unmarshal(b, &obj) == nil && obj != nil {
			out = obj
		} else if extra != nil {
			out["runtime"] = json.RawMessage(b)
		}
	}
	out["version"] = a.cfg.Version
	out["environment"] = a.cfg.Environment
	out["store_version"] = storeVersion
	if err != nil {
		out["store"] = "unreachable: " + err.Error()
	}
	out["time"] = rc.now
	return out, nil
}

// Bootstrap makes sure the gateway has an admin, at startup:
//
//   - with no admin at all, it stores one admin (role admin, named
//     "bootstrap") with the hash of envToken (GATEHOUSE_ADMIN_TOKEN) if set,
//     or of a new token, which it returns so the caller prints it once;
//   - with admins already there and envToken set, it adds envToken as one
//     more admin (named "env-token") unless an admin already has its hash,
//     so the token in the environment always works (delete it by removing
//     the variable and the admin).
//
// Only hashes are stored; each addition is audited (actor "gatehouse").
// envToken must be at least 16 characters without whitespace. generated is
// "" unless a new token was made.
func Bootstrap(ctx context.Context, s store.Store, envToken string) (generated string, err error) {
	if envToken != "" {
		if len(envToken) < 16 || strings.ContainsFunc(envToken, func(r rune) bool { return r <= ' ' || r == '"' || r == '\'' }) {
			return "", fmt.Errorf("admin bootstrap: GATEHOUSE_ADMIN_TOKEN must be at least 16 characters without spaces or quotes (generate one with: openssl rand -base64 32)")
		}
	}
	existing, _, err := s.ListAdmins(ctx, store.ListFilter{Page: store.Page{Limit: 1}})
	if err != nil {
		return "", fmt.Errorf("admin bootstrap: list admins: %w", err)
	}
	name := "bootstrap"
	token := envToken
	if len(existing) > 0 {
		if envToken == "" {
			return "", nil
		}
		_, err := s.AdminByTokenHash(ctx, hashToken(envToken))
		if err == nil {
			return "", nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("admin bootstrap: look up token: %w", err)
		}
		name = "env-token"
	}
	if token == "" {
		if token, _, err = newToken(); err != nil {
			return "", fmt.Errorf("admin bootstrap: %w", err)
		}
		generated = token
	}
	id, err := newID(prefixAdmin)
	if err != nil {
		return "", fmt.Errorf("admin bootstrap: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	x := domain.Admin{ID: id, Name: name, TokenHash: hashToken(token), Role: domain.RoleAdmin, CreatedAt: now}
	after, err := maskedJSON(x)
	if err != nil {
		return "", fmt.Errorf("admin bootstrap: %w", err)
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutAdmin(ctx, x); err != nil {
			return err
		}
		return tx.Audit(ctx, domain.AuditEntry{At: now, Actor: "gatehouse", Action: "admin.bootstrap", Resource: "admin", ResourceID: x.ID, After: after})
	})
	if err != nil {
		return "", fmt.Errorf("admin bootstrap: store admin: %w", err)
	}
	return generated, nil
}
