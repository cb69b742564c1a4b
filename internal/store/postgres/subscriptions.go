package postgres

import (
	"context"
	"fmt"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

const subscriptionCols = `id, consumer_id, service_id, consumer_tenant_id, service_tenant_id, state, plan, request_note,
	requested_by, requested_at, decided_by, decision_note, decided_at, revoked_at, revoked_by, revoke_note,
	created_at, updated_at`

var subscriptionUpsert = upsertSQL("subscriptions", subscriptionCols)

func scanSubscription(r rowScanner) (domain.Subscription, error) {
	var (
		s                  domain.Subscription
		plan               *string
		requested, c, u    int64
		decided, revokedAt *int64
	)
	if err := r.Scan(&s.ID, &s.ConsumerID, &s.ServiceID, &s.ConsumerTenantID, &s.ServiceTenantID, &s.State, &plan,
		&s.RequestNote, &s.RequestedBy, &requested, &s.DecidedBy, &s.DecisionNote, &decided, &revokedAt,
		&s.RevokedBy, &s.RevokeNote, &c, &u); err != nil {
		return s, err
	}
	if err := decOpt(plan, &s.Plan); err != nil {
		return s, fmt.Errorf("subscription %q: %w", s.ID, err)
	}
	s.RequestedAt, s.DecidedAt, s.RevokedAt = fromTm(requested), fromTmOpt(decided), fromTmOpt(revokedAt)
	s.CreatedAt, s.UpdatedAt = fromTm(c), fromTm(u)
	return s, nil
}

func putSubscription(ctx context.Context, t *tx, s domain.Subscription) error {
	plan, err := encOpt(s.Plan)
	if err != nil {
		return err
	}
	return t.put(ctx, "subscription", s.ID, func(c string) error {
		if c == "subscriptions_open" {
			return conflict("consumer %q already has an open (pending or approved) subscription to service %q", s.ConsumerID, s.ServiceID)
		}
		return otherUnique("subscription", c)
	}, subscriptionUpsert, s.ID, s.ConsumerID, s.ServiceID, s.ConsumerTenantID, s.ServiceTenantID, s.State, plan, s.RequestNote,
		s.RequestedBy, tm(s.RequestedAt), s.DecidedBy, s.DecisionNote, tmOpt(s.DecidedAt), tmOpt(s.RevokedAt),
		s.RevokedBy, s.RevokeNote, tm(s.CreatedAt), tm(s.UpdatedAt))
}

// GetSubscription finds a subscription by id.
func (t *tx) GetSubscription(ctx context.Context, id string) (domain.Subscription, error) {
	return getOne(ctx, t, scanSubscription, func() error { return notFound("subscription %q not found", id) },
		`SELECT `+subscriptionCols+` FROM subscriptions WHERE id = $1`, id)
}

// OpenSubscription finds the consumer's pending or approved subscription to
// the service (the partial unique index allows at most one).
func (t *tx) OpenSubscription(ctx context.Context, consumerID, serviceID string) (domain.Subscription, error) {
	return getOne(ctx, t, scanSubscription,
		func() error {
			return notFound("consumer %q has no open subscription to service %q", consumerID, serviceID)
		},
		`SELECT `+subscriptionCols+` FROM subscriptions
		 WHERE consumer_id = $1 AND service_id = $2 AND state IN ('pending', 'approved') LIMIT 1`, consumerID, serviceID)
}

// PutSubscription inserts or replaces a subscription. Its consumer,
// service and both tenants must exist; the named checks come first so the
// error says which one is missing.
func (t *tx) PutSubscription(ctx context.Context, s domain.Subscription) error {
	if t.readOnly {
		return readOnly("put subscription")
	}
	if err := requireID("subscription", s.ID); err != nil {
		return err
	}
	for _, p := range []struct{ table, what, id string }{
		{"consumers", "consumer", s.ConsumerID},
		{"services", "service", s.ServiceID},
		{"tenants", "tenant", s.ConsumerTenantID},
		{"tenants", "tenant", s.ServiceTenantID},
	} {
		if err := t.requireParent(ctx, p.table, p.what, p.id); err != nil {
			return err
		}
	}
	return putSubscription(ctx, t, s)
}

// ListSubscriptions lists subscriptions in id order, filtered by consumer,
// service, state and tenant (the consumer's or the service's).
func (s *Store) ListSubscriptions(ctx context.Context, f store.ListFilter) ([]domain.Subscription, string, error) {
	var w filter
	w.eq("consumer_id", f.ConsumerID)
	w.eq("service_id", f.ServiceID)
	w.eq("state", f.State)
	if f.TenantID != "" {
		n := w.arg(f.TenantID)
		w.where = append(w.where, fmt.Sprintf("(consumer_tenant_id = %s OR service_tenant_id = %s)", n, n))
	}
	return listByID(ctx, s, subscriptionCols, "subscriptions", w, f.Page, scanSubscription,
		func(v domain.Subscription) string { return v.ID })
}

// The statements of loadAccess, in the order it reads them.
const (
	subscriptionLoad = `SELECT ` + subscriptionCols + ` FROM subscriptions ORDER BY id`
	approverLoad     = `SELECT ` + adminCols + ` FROM admins
		WHERE role IN ('admin', 'tenant-admin') ORDER BY name, id`
)

// accessLoads are loadAccess's statements, for Load to queue.
var accessLoads = []string{subscriptionLoad, approverLoad}

// loadAccess reads the subscriptions (reduced to the current one per
// consumer and service) and the approvers' names for Load.
func loadAccess(ctx context.Context, q querier, d *store.Data) error {
	all, err := queryAll(ctx, q, scanSubscription, subscriptionLoad)
	if err != nil {
		return wrapErr(ctx, "load subscriptions", err)
	}
	d.Subscriptions = store.CurrentSubscriptions(all)
	admins, err := queryAll(ctx, q, scanAdmin, approverLoad)
	if err != nil {
		return wrapErr(ctx, "load approvers", err)
	}
	d.Approvers = map[string][]string{}
	for _, a := range admins {
		switch {
		case a.Role == domain.RoleAdmin:
			d.Approvers[""] = append(d.Approvers[""], a.Name)
		case a.TenantID != "":
			d.Approvers[a.TenantID] = append(d.Approvers[a.TenantID], a.Name)
		}
	}
	return nil
}
