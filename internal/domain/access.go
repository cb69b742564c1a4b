package domain

import "time"

// Subscription states (§2, §9). A request starts pending (or approved at
// once when the service is the consumer's own tenant's and needs no
// approval); an approver approves or rejects it; an approved one can later
// be revoked. Rejected and revoked subscriptions are final: the consumer
// asks again with a new request.
const (
	SubscriptionPending  = "pending"
	SubscriptionApproved = "approved"
	SubscriptionRejected = "rejected"
	SubscriptionRevoked  = "revoked"
)

// What a rate limit counts by (Appendix A, route field rate_limit).
const (
	LimitByConsumer   = "consumer"
	LimitByCredential = "credential"
	LimitByRoute      = "route"
)

// RateLimit is Limit calls per Period, counted per consumer (default), per
// credential, or for the whole route.
type RateLimit struct {
	Limit  int      `json:"limit"`
	Period Duration `json:"period"`
	By     string   `json:"by,omitempty"`
}

// Quota is a number of calls per calendar period (§9), counted from the
// period's start (UTC) and reset at its end — unlike a rate limit, which
// spreads its calls over a sliding window.
type Quota struct {
	Limit  int64  `json:"limit"`
	Period string `json:"period"` // QuotaDay or QuotaMonth
	By     string `json:"by,omitempty"`
}

// Quota periods.
const (
	QuotaDay   = "day"
	QuotaMonth = "month"
)

// Window returns the quota period that holds now: [start, end), in UTC.
func (q *Quota) Window(now time.Time) (start, end time.Time) {
	now = now.UTC()
	if q.Period == QuotaMonth {
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	start = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 0, 1)
}

// Plan is what an approved subscription grants beyond access: a name for
// people and optional limits, applied on top of the route's own.
type Plan struct {
	Name      string     `json:"name,omitempty"`
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	Quota     *Quota     `json:"quota,omitempty"`
}

// Subscription is a consumer's right to call a service (§2). It joins two
// tenants, so it carries both: the consumer's (who asks) and the service's
// (who decides). They are copied from the consumer and the service at
// request time; neither can move to another tenant.
type Subscription struct {
	ID               string `json:"id"`
	ConsumerID       string `json:"consumer"`
	ServiceID        string `json:"service"`
	ConsumerTenantID string `json:"consumer_tenant"`
	ServiceTenantID  string `json:"service_tenant"`
	State            string `json:"state"`
	Plan             *Plan  `json:"plan,omitempty"`
	// Request: who asked (the audit actor, "name (id)"), when and why.
	RequestNote string    `json:"request_note,omitempty"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	// Decision (approve or reject). An automatic approval names
	// "gatehouse" as the decider.
	DecidedBy    string     `json:"decided_by,omitempty"`
	DecisionNote string     `json:"decision_note,omitempty"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
	// Revocation of an approved subscription.
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	RevokedBy  string     `json:"revoked_by,omitempty"`
	RevokeNote string     `json:"revoke_note,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Open reports whether the subscription is pending or approved: at most
// one open subscription exists per consumer and service.
func (s Subscription) Open() bool {
	return s.State == SubscriptionPending || s.State == SubscriptionApproved
}
