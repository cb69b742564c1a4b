package admin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/store"
)

// keyRequest creates a key (Appendix A).
type keyRequest struct {
	// Consumer is an id, a name, or tenant-slug/name.
	Consumer string `json:"consumer"`
	// Environment is "live" or "test"; default: the gateway's.
	Environment string `json:"environment,omitempty"`
	Name        string `json:"name,omitempty"`
	// Scopes must be a subset of the consumer's; absent means all of the
	// consumer's scopes, [] means none.
	Scopes *[]string `json:"scopes,omitempty"`
	// ExpiresAt (RFC 3339) or ExpiresIn (e.g. "90d", "720h"); neither
	// means the key does not expire.
	ExpiresAt string   `json:"expires_at,omitempty"`
	ExpiresIn string   `json:"expires_in,omitempty"`
	IPAllow   []string `json:"ip_allow,omitempty"`
}

// keyImportRequest imports a key issued by another system.
type keyImportRequest struct {
	keyRequest
	// Key is the key itself; only its SHA-256 is stored.
	Key string `json:"key"`
}

type revokeRequest struct {
	// Reason is required; the caller presenting the key is told it.
	Reason string `json:"reason"`
}

type rotateRequest struct {
	// Grace is how long the old key keeps working (default 24h; "0s" ends
	// it at once; days such as "7d" are accepted).
	Grace string `json:"grace,omitempty"`
	// ExpiresAt or ExpiresIn set the successor's expiry; by default it gets
	// the old key's lifetime again, counted from now.
	ExpiresAt string `json:"expires_at,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"`
}

// Key statuses shown by the admin API (derived, not stored).
const (
	keyActive  = "active"
	keyExpired = "expired"
	keyRevoked = "revoked"
	keyGrace   = "rotating" // rotated, within its grace period
	keyRotated = "rotated"  // rotated, grace over
)

// keyView is a key as the admin API shows it: never the key or its hash
// (domain.APIKey does not serialise the hash).
type keyView struct {
	domain.APIKey
	// Status is derived at read time: active, expired, revoked, rotating
	// (rotated, within grace) or rotated.
	Status string `json:"status"`
}

// keyCreated is the one answer that carries the key itself.
type keyCreated struct {
	keyView
	// Key is the full key, shown only in this answer.
	Key string `json:"key"`
}

func viewKey(k domain.APIKey, now time.Time) keyView {
	s := keyActive
	switch {
	case k.RevokedAt != nil:
		s = keyRevoked
	case k.Successor != "" && (k.GraceUntil == nil || !now.Before(*k.GraceUntil)):
		s = keyRotated
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		s = keyExpired
	case k.Successor != "":
		s = keyGrace
	}
	return keyView{APIKey: k, Status: s}
}

func (a *API) listKeys(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{TenantID: rc.scope()}
	var keep func(domain.APIKey) (bool, error)
	if ref := rc.query("consumer"); ref != "" {
		id, err := rc.consumerID("consumer", ref)
		if err != nil {
			return nil, err
		}
		if err := rc.view(func(tx store.Tx) error { _, err := rc.loadConsumer(tx, id); return err }); err != nil {
			return nil, err
		}
		f.ConsumerID = id
	} else if s := rc.scope(); s != "" {
		// The store filters keys by consumer; the tenant is one hop away.
		tenantOf := map[string]string{}
		keep = func(k domain.APIKey) (bool, error) {
			t, ok := tenantOf[k.ConsumerID]
			if !ok {
				err := a.cfg.Store.View(rc.ctx, func(tx store.Tx) error {
					c, err := tx.GetConsumer(rc.ctx, k.ConsumerID)
					t = c.TenantID
					return err
				})
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return false, err
				}
				tenantOf[k.ConsumerID] = t
			}
			return t == s, nil
		}
	}
	items, next, err := collect(p, func(p store.Page) ([]domain.APIKey, string, error) {
		f.Page = p
		return a.cfg.Store.ListKeys(rc.ctx, f)
	}, keep)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]keyView, len(items))
	for i, k := range items {
		out[i] = viewKey(k, rc.now)
	}
	return list(out, next), nil
}

// loadKey reads a key and its consumer inside tx and checks the admin may
// reach the consumer's tenant.
func (rc *reqCtx) loadKey(tx store.Tx, id string) (domain.APIKey, domain.Consumer, error) {
	k, err := tx.GetKey(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return k, domain.Consumer{}, notFound("key %q not found: use the key's id (the 12 characters after gk_<env>_), not the key; list them with gatehouse key list", id)
	}
	if err != nil {
		return k, domain.Consumer{}, err
	}
	c, err := tx.GetConsumer(rc.ctx, k.ConsumerID)
	if err != nil {
		return k, c, fmt.Errorf("consumer %s of key %s: %w", k.ConsumerID, k.ID, err)
	}
	return k, c, rc.reach("key", k.ID, k.ID, c.TenantID)
}

func (a *API) getKey(rc *reqCtx) (any, error) {
	id := rc.r.PathValue("id") // a whole key never gets here (keyInPath)
	var k domain.APIKey
	err := rc.view(func(tx store.Tx) (err error) {
		k, _, err = rc.loadKey(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return viewKey(k, rc.now), nil
}

// keyFields validates what a create or import request sets on a key for
// consumer c: environment, name, scopes within the consumer's, expiry and
// IP allow-list.
func (rc *reqCtx) keyFields(req keyRequest, c domain.Consumer) (domain.APIKey, error) {
	var k domain.APIKey
	env := req.Environment
	if env == "" {
		env = rc.api.cfg.Environment
	}
	if err := oneOf("environment", env, domain.EnvLive, domain.EnvTest); err != nil {
		return k, err
	}
	if len(req.Name) > 100 || strings.ContainsFunc(req.Name, unicode.IsControl) {
		return k, invalid("name must be at most 100 characters without control characters")
	}
	scopes, err := grantedScopes(req.Scopes, c)
	if err != nil {
		return k, err
	}
	exp, err := parseExpiry(req.ExpiresAt, req.ExpiresIn, rc.now)
	if err != nil {
		return k, err
	}
	ips, err := checkIPAllow("ip_allow", req.IPAllow)
	if err != nil {
		return k, err
	}
	return domain.APIKey{ConsumerID: c.ID, Name: req.Name, Environment: env, Scopes: scopes, IPAllow: ips, ExpiresAt: exp, CreatedAt: rc.now}, nil
}

// grantedScopes validates a credential's requested scopes against its
// consumer's grants: absent means all of the consumer's, [] none, and a
// scope the consumer lacks is refused naming it (issue 5 §3).
func grantedScopes(req *[]string, c domain.Consumer) ([]string, error) {
	scopes := slices.Clone(c.Scopes)
	if req != nil {
		s, err := checkScopes("scopes", *req)
		if err != nil {
			return nil, err
		}
		var extra []string
		for _, x := range s {
			if !slices.Contains(c.Scopes, x) {
				extra = append(extra, x)
			}
		}
		if len(extra) > 0 {
			has := "no scopes"
			if len(c.Scopes) > 0 {
				has = "only " + strings.Join(c.Scopes, ", ")
			}
			return nil, invalid("scopes %s are not granted to consumer %s (it has %s): grant them to the consumer first (PATCH %s/consumers/%s) or leave them out",
				strings.Join(extra, ", "), c.Name, has, basePath, c.ID)
		}
		scopes = s
	}
	if scopes == nil {
		scopes = []string{}
	}
	return scopes, nil
}

// keyOwner loads the consumer a new key is for; deleted consumers get none.
func (rc *reqCtx) keyOwner(tx store.Tx, id string) (domain.Consumer, error) {
	c, err := rc.loadConsumer(tx, id)
	if err != nil {
		return c, err
	}
	if c.Status == domain.StatusDeleted {
		return c, conflict("consumer %s was deleted: its keys answer consumer.deleted and it gets no new ones; create a new consumer", c.Name)
	}
	return c, nil
}

func (a *API) createKey(rc *reqCtx) (any, error) {
	var req keyRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	cid, err := rc.consumerID("consumer", req.Consumer)
	if err != nil {
		return nil, err
	}
	var out keyCreated
	err = rc.commit(func(tx store.Tx) (change, error) {
		c, err := rc.keyOwner(tx, cid)
		if err != nil {
			return change{}, err
		}
		k, err := rc.keyFields(req, c)
		if err != nil {
			return change{}, err
		}
		g, err := keys.Generate(k.Environment)
		if err != nil {
			return change{}, internal(err, "could not generate a key")
		}
		k.ID, k.Hash, k.Last4 = g.ID, keys.Hash(g.Full), keys.Last4(g.Full)
		if err := tx.PutKey(rc.ctx, k); err != nil {
			return change{}, err
		}
		out = keyCreated{keyView: viewKey(k, rc.now), Key: g.Full}
		return change{Resource: "key", ResourceID: k.ID, TenantID: c.TenantID, After: out.keyView}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// importKey stores a key issued elsewhere, by hash only. A string that is
// a well-formed Gatehouse key keeps its own id and environment and gets
// the full offline diagnosis; any other string is an opaque imported key
// with a generated id, found by hash alone.
func (a *API) importKey(rc *reqCtx) (any, error) {
	var req keyImportRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	full := req.Key
	if full == "" {
		return nil, invalid("key is required: the key string issued by the other system (only its SHA-256 is stored)")
	}
	var parsed keys.Parsed
	gk := keys.HasPrefix(full)
	if gk {
		p, perr := keys.Parse(full, "")
		if perr != nil {
			return nil, invalid("key looks like a Gatehouse key (gk_…) but is not a valid one: %s", perr.Detail)
		}
		parsed = p
		if req.Environment != "" && req.Environment != p.Env {
			return nil, invalid("environment %q does not match the key, which is a %s key (gk_%s_…); leave environment out", req.Environment, p.Env, p.Env)
		}
		req.Environment = p.Env
	} else {
		if n := len(full); n < 16 || n > 512 {
			return nil, invalid("key is %d characters long; imported keys must have 16-512 characters", n)
		}
		if i := strings.IndexFunc(full, func(r rune) bool { return r <= ' ' || r == '"' || r == '\'' || r > '~' }); i >= 0 {
			return nil, invalid("key has a space, quote, control or non-ASCII character at position %d (counting from 1); send the key exactly as the other system issued it", i+1)
		}
	}
	cid, err := rc.consumerID("consumer", req.Consumer)
	if err != nil {
		return nil, err
	}
	var out keyView
	err = rc.commit(func(tx store.Tx) (change, error) {
		c, err := rc.keyOwner(tx, cid)
		if err != nil {
			return change{}, err
		}
		k, err := rc.keyFields(req.keyRequest, c)
		if err != nil {
			return change{}, err
		}
		if gk {
			k.ID = parsed.ID
			if _, err := tx.GetKey(rc.ctx, k.ID); err == nil {
				return change{}, conflict("a key with id %s is already stored; it cannot be imported twice", k.ID)
			} else if !errors.Is(err, store.ErrNotFound) {
				return change{}, err
			}
		} else {
			if k.ID, err = keys.NewID(); err != nil {
				return change{}, internal(err, "could not generate an id")
			}
			k.Imported = true
		}
		k.Hash, k.Last4 = keys.Hash(full), keys.Last4(full)
		if err := tx.PutKey(rc.ctx, k); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return change{}, conflict("this key is already stored (imported before, or issued here); nothing was changed")
			}
			return change{}, err
		}
		out = viewKey(k, rc.now)
		return change{Resource: "key", ResourceID: k.ID, TenantID: c.TenantID, After: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// revokeReason checks a revocation's reason, which the holder of the
// credential is told: required, one line, bounded.
func revokeReason(req revokeRequest, what, holder string) (string, error) {
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		return "", invalid("reason is required: say why %s is revoked, e.g. {\"reason\":\"compromised\"}; %s is told it", what, holder)
	}
	if len(reason) > maxReasonLength || strings.ContainsFunc(reason, unicode.IsControl) {
		return "", invalid("reason must be at most %d characters on one line", maxReasonLength)
	}
	return reason, nil
}

func (a *API) revokeKey(rc *reqCtx) (any, error) {
	var req revokeRequest
	if err := rc.decode(&req, true); err != nil {
		return nil, err
	}
	reason, err := revokeReason(req, "the key", "the key's holder")
	if err != nil {
		return nil, err
	}
	var out keyView
	err = rc.commit(func(tx store.Tx) (change, error) {
		k, c, err := rc.loadKey(tx, rc.r.PathValue("id"))
		if err != nil {
			return change{}, err
		}
		if k.RevokedAt != nil {
			return change{}, conflict("key %s was already revoked at %s (%s)", k.ID, k.RevokedAt.Format(time.RFC3339), k.RevokedReason)
		}
		before := k
		at := rc.now
		k.RevokedAt, k.RevokedReason = &at, reason
		if err := tx.PutKey(rc.ctx, k); err != nil {
			return change{}, err
		}
		out = viewKey(k, rc.now)
		return change{Resource: "key", ResourceID: k.ID, TenantID: c.TenantID, Before: viewKey(before, rc.now), After: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// maxGrace bounds a rotation's grace period: a year-long overlap is a
// second key, not a rotation.
const maxGrace = 365 * 24 * time.Hour

func (a *API) rotateKey(rc *reqCtx) (any, error) {
	var req rotateRequest
	if err := rc.decode(&req, true); err != nil {
		return nil, err
	}
	grace := a.cfg.DefaultGrace
	if req.Grace != "" {
		g, err := parseDuration(req.Grace)
		if err != nil {
			return nil, invalid("grace %v", err)
		}
		if g < 0 || g > maxGrace {
			return nil, invalid("grace %q must be between 0s and 365d", req.Grace)
		}
		grace = g
	}
	exp, err := parseExpiry(req.ExpiresAt, req.ExpiresIn, rc.now)
	if err != nil {
		return nil, err
	}
	var out keyCreated
	err = rc.commit(func(tx store.Tx) (change, error) {
		old, c, err := rc.loadKey(tx, rc.r.PathValue("id"))
		if err != nil {
			return change{}, err
		}
		switch {
		case old.RevokedAt != nil:
			return change{}, conflict("key %s was revoked at %s; a revoked key cannot be rotated: create a new key", old.ID, old.RevokedAt.Format(time.RFC3339))
		case old.Successor != "":
			return change{}, conflict("key %s was already rotated to %s; rotate %s instead", old.ID, old.Successor, old.Successor)
		case old.ExpiresAt != nil && !rc.now.Before(*old.ExpiresAt):
			return change{}, conflict("key %s expired at %s; an expired key cannot be rotated: create a new key", old.ID, old.ExpiresAt.Format(time.RFC3339))
		case c.Status == domain.StatusDeleted:
			return change{}, conflict("consumer %s was deleted; its keys cannot be rotated", c.Name)
		}
		succ := domain.APIKey{ConsumerID: old.ConsumerID, Name: old.Name, Environment: old.Environment,
			Scopes: old.Scopes, IPAllow: old.IPAllow, ExpiresAt: exp, Predecessor: old.ID, CreatedAt: rc.now}
		if succ.Scopes == nil {
			succ.Scopes = []string{}
		}
		if exp == nil && old.ExpiresAt != nil {
			t := rc.now.Add(old.ExpiresAt.Sub(old.CreatedAt))
			succ.ExpiresAt = &t
		}
		env := old.Environment
		if env != domain.EnvLive && env != domain.EnvTest {
			env = a.cfg.Environment
		}
		g, err := keys.Generate(env)
		if err != nil {
			return change{}, internal(err, "could not generate a key")
		}
		succ.ID, succ.Environment, succ.Hash, succ.Last4 = g.ID, env, keys.Hash(g.Full), keys.Last4(g.Full)
		before := old
		until := rc.now.Add(grace)
		old.Successor, old.GraceUntil = succ.ID, &until
		if err := tx.PutKey(rc.ctx, succ); err != nil {
			return change{}, err
		}
		if err := tx.PutKey(rc.ctx, old); err != nil {
			return change{}, err
		}
		out = keyCreated{keyView: viewKey(succ, rc.now), Key: g.Full}
		return change{Resource: "key", ResourceID: old.ID, TenantID: c.TenantID, Before: viewKey(before, rc.now),
			After: map[string]any{"rotated": viewKey(old, rc.now), "successor": out.keyView}}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
