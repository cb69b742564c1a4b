package admin

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/identity"
	"gatehouse/internal/store"
)

// identityRotateRequest rotates the gateway's identity-token signing key.
type identityRotateRequest struct {
	// Grace is how long the retired key stays in the JWKS, so tokens it
	// signed keep verifying (default: the gateway's identity.key_grace,
	// 24h). "0s" is for a key that leaked: every old key — retired, next
	// and previous — leaves the JWKS at once and fresh keys are made.
	Grace string `json:"grace,omitempty"`
}

// identityRotation answers a rotation.
type identityRotation struct {
	// Current signs from now on: the next key published since the last
	// rotation (a fresh one after a rotation with grace 0).
	Current identity.KeyView `json:"current"`
	// Next is published from now on and signs from the next rotation.
	Next identity.KeyView `json:"next"`
	// Retired signed until now and stays published until publish_until.
	Retired *identity.KeyView `json:"retired,omitempty"`
	// Deleted lists the kids of keys removed: previous keys past their
	// grace, and with grace 0 every old key.
	Deleted []string `json:"deleted,omitempty"`
}

func (a *API) identityEndpoints() []*endpoint {
	return []*endpoint{
		{Method: http.MethodGet, Path: basePath + "/identity-keys", Action: "identity_key.list", Resource: identity.Resource,
			Summary: "List the keys that sign X-Gatehouse-Identity (public parts only): current, next (published ahead of use), previous within their grace, expired",
			Perm:    permRead, Status: 200, Resp: identity.KeyView{}, List: true, handle: a.listIdentityKeys},
		{Method: http.MethodPost, Path: basePath + "/identity-keys/rotate", Action: identity.ActionRotate, Resource: identity.Resource,
			Summary: "Rotate the identity-token signing key: the pre-published next key signs from now on, the old one stays in the JWKS for the grace period (0s: a leaked key, every old key leaves at once)",
			Perm:    permAdmin, Body: identityRotateRequest{}, BodyOptional: true, Status: 201, Resp: identityRotation{}, handle: a.rotateIdentityKey},
	}
}

// stateRank orders the list: the signing key first.
func stateRank(v identity.KeyView) int {
	switch v.State {
	case domain.IdentityKeyCurrent:
		return 0
	case domain.IdentityKeyNext:
		return 1
	case domain.IdentityKeyPrevious:
		return 2
	}
	return 3
}

func identityKeyTx(tx store.Tx) (store.IdentityKeyTx, error) {
	k, ok := tx.(store.IdentityKeyTx)
	if !ok {
		return nil, internal(fmt.Errorf("admin: %T does not implement store.IdentityKeyTx", tx), "this gateway's store does not hold identity keys")
	}
	return k, nil
}

func (a *API) listIdentityKeys(rc *reqCtx) (any, error) {
	var views []identity.KeyView
	err := rc.view(func(tx store.Tx) error {
		k, err := identityKeyTx(tx)
		if err != nil {
			return err
		}
		keys, err := k.ListIdentityKeys(rc.ctx)
		for _, key := range keys {
			views = append(views, identity.ViewOf(key, rc.now))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(views, func(x, y identity.KeyView) int { return cmp.Compare(stateRank(x), stateRank(y)) })
	return list(views, ""), nil
}

func (a *API) rotateIdentityKey(rc *reqCtx) (any, error) {
	var req identityRotateRequest
	if err := rc.decode(&req, true); err != nil {
		return nil, err
	}
	grace := a.cfg.IdentityKeyGrace
	if grace == 0 {
		grace = defaultGrace
	}
	if req.Grace != "" {
		d, err := parseDuration(req.Grace)
		if err != nil {
			return nil, invalid("grace %v", err)
		}
		if d < 0 || d > identity.MaxGrace {
			return nil, invalid("grace %q must be from 0s (a leaked key: every old key leaves the JWKS at once) to 30d", req.Grace)
		}
		// As identity.key_grace in the config: a rotated-out key must stay
		// published as long as a token it signed can live, or upstreams
		// refuse tokens still in use.
		if d > 0 && d < time.Hour {
			return nil, invalid("grace %q is shorter than the longest token lifetime (1h): tokens the old key signed would fail at upstreams before they expire; use at least 1h, or 0s for a leaked key", req.Grace)
		}
		grace = d
	}
	if a.cfg.Secrets == nil {
		return nil, internal(errors.New("admin: Config.Secrets is nil"),
			"the identity key cannot be rotated: this gateway has no master key to seal the new key with (GATEHOUSE_MASTER_KEY)")
	}
	var out identityRotation
	err := rc.commit(func(tx store.Tx) (change, error) {
		k, err := identityKeyTx(tx)
		if err != nil {
			return change{}, err
		}
		before, err := k.ListIdentityKeys(rc.ctx)
		if err != nil {
			return change{}, err
		}
		r, err := identity.Rotate(rc.ctx, tx, a.cfg.Secrets, rc.now, grace)
		if err != nil {
			return change{}, err
		}
		out = identityRotation{Current: identity.ViewOf(r.Current, rc.now), Next: identity.ViewOf(r.Next, rc.now), Deleted: r.Deleted}
		if r.Retired != nil {
			v := identity.ViewOf(*r.Retired, rc.now)
			out.Retired = &v
		}
		views := make([]identity.KeyView, len(before))
		for i, b := range before {
			views[i] = identity.ViewOf(b, rc.now)
		}
		return change{Resource: identity.Resource, ResourceID: r.Current.KID, Before: views,
			After: struct {
				identityRotation
				Grace string `json:"grace"`
			}{out, grace.String()}}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
