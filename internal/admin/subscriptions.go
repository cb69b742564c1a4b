package admin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// Subscriptions (§2, §9, issue 5): the approval workflow.
//
// Request (POST /subscriptions): an admin, or a tenant-admin of the
// CONSUMER's tenant, asks for a consumer's access to a service. A service
// of the consumer's own tenant that needs no approval is approved at once
// (the answer says so); one that needs approval, and any published service
// of another tenant, starts pending; another tenant's private service
// cannot be subscribed to (409). At most one open (pending or approved)
// subscription exists per consumer and service (409 naming it).
//
// Decisions: approve and reject (pending only) are for the approvers: a
// gateway admin, or a tenant-admin of the SERVICE's tenant. A tenant-admin
// of the consumer's side may request and revoke (give up its own access)
// but not approve or reject: that refusal is a 403, audited. Revoke takes
// an approved subscription only. Rejected and revoked are final; the
// consumer asks again with a new request.
//
// Reading: a subscription concerns two tenants, so an admin bound to
// either tenant reads it (and lists it). Its audit entries are filed under
// the service's tenant (the deciding side) with the consumer's tenant as
// OtherTenantID, so both sides' admins find them in their audit log.
//
// Every change publishes an event (subscription.requested, .approved,
// .rejected, .revoked) through Config.Events, plus a log line.

// Event types of the subscription workflow.
const (
	EventSubscriptionRequested = "subscription.requested"
	EventSubscriptionApproved  = "subscription.approved"
	EventSubscriptionRejected  = "subscription.rejected"
	EventSubscriptionRevoked   = "subscription.revoked"
)

// autoDecider is DecidedBy of a subscription approved without a decision.
const autoDecider = "gatehouse (automatic)"

// subscriptionRequest asks for a consumer's access to a service.
type subscriptionRequest struct {
	// Consumer is an id, a name, or tenant-slug/name.
	Consumer string `json:"consumer"`
	// Service is the service's id or name.
	Service string `json:"service"`
	// Note tells the approvers why access is needed.
	Note string     `json:"note,omitempty"`
	Plan *planInput `json:"plan,omitempty"`
}

// planInput is a plan as sent.
type planInput struct {
	Name      string          `json:"name,omitempty"`
	RateLimit *rateLimitInput `json:"rate_limit,omitempty"`
	Quota     *quotaInput     `json:"quota,omitempty"`
}

// approveRequest approves a pending subscription.
type approveRequest struct {
	Note string `json:"note,omitempty"`
	// Plan, when present, replaces the plan the request asked for.
	Plan *planInput `json:"plan,omitempty"`
}

// noteRequest rejects or revokes, with an optional note that the
// consumer's holders are told.
type noteRequest struct {
	Note string `json:"note,omitempty"`
}

// subscriptionView is a subscription as the API answers it.
type subscriptionView struct {
	domain.Subscription
	// Message says what happened and what comes next (answers to changes).
	Message string `json:"message,omitempty"`
	// Approvers names who can decide a pending request: the tenant-admins
	// of the service's tenant and the gateway admins.
	Approvers []string `json:"approvers,omitempty"`
}

// subscriptionEvent is the Data of every subscription event.
type subscriptionEvent struct {
	Subscription domain.Subscription `json:"subscription"`
	Consumer     eventRef            `json:"consumer"`
	Service      eventRef            `json:"service"`
	// Actor is the admin whose request caused the event ("name (id)").
	Actor string `json:"actor"`
	// Automatic marks an approval nobody had to give (own tenant, no
	// approval required).
	Automatic bool `json:"automatic,omitempty"`
}

// eventRef names an object in an event, with its tenant.
type eventRef struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	TenantID   string `json:"tenant"`
	TenantSlug string `json:"tenant_slug"`
}

// checkNote validates a free-text note.
func checkNote(field, note string) (string, error) {
	note = strings.TrimSpace(note)
	if len(note) > maxReasonLength || strings.ContainsFunc(note, unicode.IsControl) {
		return "", invalid("%s must be at most %d characters on one line", field, maxReasonLength)
	}
	return note, nil
}

// buildPlan validates a plan (nil stays nil).
func buildPlan(field string, in *planInput) (*domain.Plan, error) {
	if in == nil {
		return nil, nil
	}
	name := strings.TrimSpace(in.Name)
	if len(name) > 100 || strings.ContainsFunc(name, unicode.IsControl) {
		return nil, invalid("%s.name must be at most 100 characters without control characters", field)
	}
	rl, err := buildRateLimit(field+".rate_limit", in.RateLimit)
	if err != nil {
		return nil, err
	}
	if in.Quota != nil && in.Quota.By != "" {
		return nil, invalid("%s.quota.by does not apply: a plan's quota counts the calls of its subscription (one consumer, one service)", field)
	}
	q, err := buildQuota(field+".quota", in.Quota)
	if err != nil {
		return nil, err
	}
	if q != nil {
		q.By = "" // per subscription
	}
	return &domain.Plan{Name: name, RateLimit: rl, Quota: q}, nil
}

// slugIn names a tenant by slug inside tx, falling back to its id.
func (rc *reqCtx) slugIn(tx store.Tx, id string) string {
	if t, err := tx.GetTenant(rc.ctx, id); err == nil {
		return t.Slug
	}
	return id
}

// loadSubscription reads a subscription inside tx; an admin bound to a
// tenant reaches it from either side.
func (rc *reqCtx) loadSubscription(tx store.Tx, id string) (domain.Subscription, error) {
	s, err := tx.GetSubscription(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return s, notFound("subscription %q not found; list them with gatehouse subscription list", id)
	}
	if err != nil {
		return s, err
	}
	if sc := rc.scope(); sc != "" && sc != s.ConsumerTenantID && sc != s.ServiceTenantID {
		return s, rc.reach("subscription", s.ID, id, s.ServiceTenantID)
	}
	return s, nil
}

// mayDecide refuses a tenant-bound admin who is not of the service's
// tenant: only the publishing side approves or rejects.
func (rc *reqCtx) mayDecide(tx store.Tx, s domain.Subscription, svc domain.Service) error {
	if sc := rc.scope(); sc == "" || sc == s.ServiceTenantID {
		return nil
	}
	return &deniedError{Action: rc.ep.Action, Resource: "subscription", ResourceID: s.ID,
		Detail: fmt.Sprintf("subscription %s is decided by tenant %s, which publishes service %s: its tenant-admins or a gateway admin approve or reject it; "+
			"this %s token (%s) may request subscriptions for tenant %s's consumers and revoke them, not decide them",
			s.ID, rc.slugIn(tx, s.ServiceTenantID), svc.Name, rc.admin.Role, rc.admin.Name, rc.scopeSlug)}
}

// approvers lists who can decide requests for services of tenantID: that
// tenant's tenant-admins, then the gateway admins — admin tokens by name
// and console users by username (names only).
func (rc *reqCtx) approvers(tenantID string) ([]string, error) {
	all, _, err := collect(store.Page{Limit: maxLimit}, func(p store.Page) ([]domain.Admin, string, error) {
		return rc.api.cfg.Store.ListAdmins(rc.ctx, store.ListFilter{Page: p})
	}, nil)
	if err != nil {
		return nil, storeError(err)
	}
	var own, gateway []string
	add := func(role, tenant, name string) {
		switch {
		case role == domain.RoleTenantAdmin && tenant == tenantID:
			own = append(own, name)
		case role == domain.RoleAdmin:
			gateway = append(gateway, name)
		}
	}
	for _, a := range all {
		add(a.Role, a.TenantID, a.Name)
	}
	// Console users decide too (with their role, as tokens do); a
	// disabled one no longer can.
	if us, ok := rc.api.cfg.Store.(store.UserStore); ok {
		users, _, err := collect(store.Page{Limit: maxLimit}, func(p store.Page) ([]store.User, string, error) {
			return us.ListUsers(rc.ctx, store.ListFilter{Page: p})
		}, nil)
		if err != nil {
			return nil, storeError(err)
		}
		for _, u := range users {
			if u.DisabledAt == nil {
				add(u.Role, u.TenantID, u.Username)
			}
		}
	}
	slices.Sort(own)
	slices.Sort(gateway)
	return append(own, gateway...), nil
}

// view answers s; a pending one carries its approvers.
func (rc *reqCtx) subscriptionView(s domain.Subscription, msg string) (subscriptionView, error) {
	v := subscriptionView{Subscription: s, Message: msg}
	if s.State == domain.SubscriptionPending {
		names, err := rc.approvers(s.ServiceTenantID)
		if err != nil {
			return v, err
		}
		v.Approvers = names
	}
	return v, nil
}

func (rc *reqCtx) subscriptionEvent(tx store.Tx, typ string, s domain.Subscription, c domain.Consumer, svc domain.Service) Event {
	return Event{Type: typ, Data: subscriptionEvent{
		Subscription: s,
		Consumer:     eventRef{ID: c.ID, Name: c.Name, TenantID: c.TenantID, TenantSlug: rc.slugIn(tx, c.TenantID)},
		Service:      eventRef{ID: svc.ID, Name: svc.Name, TenantID: svc.TenantID, TenantSlug: rc.slugIn(tx, svc.TenantID)},
		Actor:        rc.actor(),
		Automatic:    s.DecidedBy == autoDecider && typ == EventSubscriptionApproved,
	}}
}

func (a *API) createSubscription(rc *reqCtx) (any, error) {
	var req subscriptionRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	if req.Service == "" {
		return nil, invalid("service is required: the id or name of the service the consumer needs (gatehouse service list)")
	}
	note, err := checkNote("note", req.Note)
	if err != nil {
		return nil, err
	}
	plan, err := buildPlan("plan", req.Plan)
	if err != nil {
		return nil, err
	}
	cid, err := rc.consumerID("consumer", req.Consumer)
	if err != nil {
		return nil, err
	}
	id, err := newID(prefixSubscription)
	if err != nil {
		return nil, internal(err, "could not generate an id")
	}
	var out domain.Subscription
	var msg string
	err = rc.commit(func(tx store.Tx) (change, error) {
		c, err := rc.loadConsumer(tx, cid)
		if err != nil {
			return change{}, err
		}
		if c.Status == domain.StatusDeleted {
			return change{}, conflict("consumer %s was deleted; a deleted consumer gets no subscriptions", c.Name)
		}
		// No reach check on the service: a consumer may ask for another
		// tenant's published service, which its admin cannot otherwise see.
		svc, err := tx.GetService(rc.ctx, req.Service)
		if errors.Is(err, store.ErrNotFound) {
			return change{}, notFound("service %q not found (looked up as id and as name); list them with gatehouse service list", req.Service)
		}
		if err != nil {
			return change{}, err
		}
		own := svc.TenantID == c.TenantID
		if !own && svc.Visibility != domain.VisibilityPublished {
			return change{}, conflict("service %s is private to tenant %s: it cannot be subscribed to by consumers of other tenants (tenant %s's admins may publish it: visibility \"published\")",
				svc.Name, rc.slugIn(tx, svc.TenantID), rc.slugIn(tx, svc.TenantID))
		}
		if open, err := tx.OpenSubscription(rc.ctx, c.ID, svc.ID); err == nil {
			e := conflict("consumer %s already has a %s subscription to service %s: %s (gatehouse subscription get %s)", c.Name, open.State, svc.Name, open.ID, open.ID)
			e.Extra = map[string]any{"existing": open.ID, "existing_state": open.State}
			return change{}, e
		} else if !errors.Is(err, store.ErrNotFound) {
			return change{}, err
		}
		s := domain.Subscription{ID: id, ConsumerID: c.ID, ServiceID: svc.ID, ConsumerTenantID: c.TenantID, ServiceTenantID: svc.TenantID,
			State: domain.SubscriptionPending, Plan: plan, RequestNote: note, RequestedBy: rc.actor(), RequestedAt: rc.now,
			CreatedAt: rc.now, UpdatedAt: rc.now}
		events := []Event{}
		if own && !svc.ApprovalRequired {
			at := rc.now
			s.State, s.DecidedBy, s.DecidedAt = domain.SubscriptionApproved, autoDecider, &at
			s.DecisionNote = fmt.Sprintf("approved at once: service %s belongs to the consumer's own tenant %s and requires no approval", svc.Name, rc.slugIn(tx, c.TenantID))
			msg = "Approved at once: " + strings.TrimPrefix(s.DecisionNote, "approved at once: ") + "."
		} else {
			why := "service " + svc.Name + " requires approval"
			if !own {
				why = "service " + svc.Name + " belongs to another tenant (" + rc.slugIn(tx, svc.TenantID) + ")"
			}
			msg = fmt.Sprintf("Pending: %s. Its tenant-admins or a gateway admin decide: gatehouse subscription approve %s (or reject %s --note …).", why, s.ID, s.ID)
		}
		if err := tx.PutSubscription(rc.ctx, s); err != nil {
			return change{}, err
		}
		events = append(events, rc.subscriptionEvent(tx, EventSubscriptionRequested, s, c, svc))
		if s.State == domain.SubscriptionApproved {
			events = append(events, rc.subscriptionEvent(tx, EventSubscriptionApproved, s, c, svc))
		}
		out = s
		return change{Resource: "subscription", ResourceID: s.ID, TenantID: svc.TenantID, OtherTenantID: c.TenantID, After: s, Events: events}, nil
	})
	if err != nil {
		return nil, err
	}
	return rc.subscriptionView(out, msg)
}

func (a *API) getSubscription(rc *reqCtx) (any, error) {
	var s domain.Subscription
	if err := rc.view(func(tx store.Tx) (err error) { s, err = rc.loadSubscription(tx, rc.r.PathValue("id")); return err }); err != nil {
		return nil, err
	}
	return rc.subscriptionView(s, "")
}

func (a *API) listSubscriptions(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{Page: p, TenantID: rc.scope(), State: rc.query("state")}
	if f.State != "" {
		if err := oneOf("state", f.State, domain.SubscriptionPending, domain.SubscriptionApproved, domain.SubscriptionRejected, domain.SubscriptionRevoked); err != nil {
			return nil, err
		}
	}
	if f.ConsumerID, err = rc.consumerFilter(); err != nil {
		return nil, err
	}
	if ref := rc.query("service"); ref != "" {
		// Another tenant's service is a fine filter for a tenant-bound
		// admin: the tenant filter still narrows the list to its side.
		err := rc.view(func(tx store.Tx) error {
			svc, err := tx.GetService(rc.ctx, ref)
			if errors.Is(err, store.ErrNotFound) {
				return notFound("service %q not found (looked up as id and as name); list them with gatehouse service list", ref)
			}
			f.ServiceID = svc.ID
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	items, next, err := a.cfg.Store.ListSubscriptions(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

// decideSubscription approves, rejects or revokes.
func (a *API) decideSubscription(to string) func(*reqCtx) (any, error) {
	return func(rc *reqCtx) (any, error) {
		var req approveRequest
		if to == domain.SubscriptionApproved {
			if err := rc.decode(&req, true); err != nil {
				return nil, err
			}
		} else {
			var nr noteRequest
			if err := rc.decode(&nr, true); err != nil {
				return nil, err
			}
			req.Note = nr.Note
		}
		note, err := checkNote("note", req.Note)
		if err != nil {
			return nil, err
		}
		plan, err := buildPlan("plan", req.Plan)
		if err != nil {
			return nil, err
		}
		var out domain.Subscription
		var msg string
		err = rc.commit(func(tx store.Tx) (change, error) {
			s, err := rc.loadSubscription(tx, rc.r.PathValue("id"))
			if err != nil {
				return change{}, err
			}
			c, err := tx.GetConsumer(rc.ctx, s.ConsumerID)
			if err != nil {
				return change{}, fmt.Errorf("consumer %s of subscription %s: %w", s.ConsumerID, s.ID, err)
			}
			svc, err := tx.GetService(rc.ctx, s.ServiceID)
			if err != nil {
				return change{}, fmt.Errorf("service %s of subscription %s: %w", s.ServiceID, s.ID, err)
			}
			if to != domain.SubscriptionRevoked {
				if err := rc.mayDecide(tx, s, svc); err != nil {
					return change{}, err
				}
			}
			if err := checkTransition(s, to); err != nil {
				return change{}, err
			}
			before := s
			at := rc.now
			s.UpdatedAt = rc.now
			var event string
			switch to {
			case domain.SubscriptionApproved:
				if c.Status == domain.StatusDeleted {
					return change{}, conflict("consumer %s was deleted; reject the request instead", c.Name)
				}
				if s.ConsumerTenantID != s.ServiceTenantID && svc.Visibility != domain.VisibilityPublished {
					return change{}, conflict("service %s is private to tenant %s now: publish it (visibility \"published\") before approving a subscription from another tenant, or reject the request",
						svc.Name, rc.slugIn(tx, svc.TenantID))
				}
				s.State, s.DecidedBy, s.DecisionNote, s.DecidedAt = to, rc.actor(), note, &at
				if plan != nil {
					s.Plan = plan
				}
				event = EventSubscriptionApproved
				msg = fmt.Sprintf("Approved: consumer %s may call service %s from its next request.", c.Name, svc.Name)
			case domain.SubscriptionRejected:
				s.State, s.DecidedBy, s.DecisionNote, s.DecidedAt = to, rc.actor(), note, &at
				event = EventSubscriptionRejected
				msg = fmt.Sprintf("Rejected: consumer %s's calls to service %s answer subscription.rejected; it may request again.", c.Name, svc.Name)
			case domain.SubscriptionRevoked:
				s.State, s.RevokedBy, s.RevokeNote, s.RevokedAt = to, rc.actor(), note, &at
				event = EventSubscriptionRevoked
				msg = fmt.Sprintf("Revoked: consumer %s's calls to service %s answer subscription.revoked from the next request.", c.Name, svc.Name)
			}
			if err := tx.PutSubscription(rc.ctx, s); err != nil {
				return change{}, err
			}
			out = s
			return change{Resource: "subscription", ResourceID: s.ID, TenantID: s.ServiceTenantID, OtherTenantID: s.ConsumerTenantID,
				Before: before, After: s, Events: []Event{rc.subscriptionEvent(tx, event, s, c, svc)}}, nil
		})
		if err != nil {
			return nil, err
		}
		return rc.subscriptionView(out, msg)
	}
}

// checkTransition allows approve and reject from pending only, and revoke
// from approved only, with a message that says what to do instead.
func checkTransition(s domain.Subscription, to string) error {
	verb := map[string]string{domain.SubscriptionApproved: "approved", domain.SubscriptionRejected: "rejected", domain.SubscriptionRevoked: "revoked"}[to]
	from := s.State
	switch {
	case to == domain.SubscriptionRevoked && from == domain.SubscriptionApproved,
		to != domain.SubscriptionRevoked && from == domain.SubscriptionPending:
		return nil
	case from == to:
		return conflict("subscription %s is already %s (%s)", s.ID, verb, decidedText(s))
	case from == domain.SubscriptionPending:
		return conflict("subscription %s is still pending: only an approved subscription can be revoked; reject the request instead (gatehouse subscription reject %s --note …)", s.ID, s.ID)
	case from == domain.SubscriptionApproved:
		return conflict("subscription %s is already approved (%s): only a pending request can be %s; revoke it instead (gatehouse subscription revoke %s)", s.ID, decidedText(s), verb, s.ID)
	}
	return conflict("subscription %s was %s (%s) and that is final: only a pending request can be approved or rejected, only an approved subscription revoked; the consumer may request access again (gatehouse subscription request --consumer %s --service %s)",
		s.ID, from, decidedText(s), s.ConsumerID, s.ServiceID)
}

// decidedText says who closed or decided s and when.
func decidedText(s domain.Subscription) string {
	by, at, note := s.DecidedBy, s.DecidedAt, s.DecisionNote
	if s.State == domain.SubscriptionRevoked {
		by, at, note = s.RevokedBy, s.RevokedAt, s.RevokeNote
	}
	out := "by " + by
	if at != nil {
		out += " at " + at.Format(time.RFC3339)
	}
	if note != "" {
		out += ": " + note
	}
	return out
}
