package domain

import "time"

// Alert rule kinds (§12).
const (
	// AlertThreshold fires when more than Threshold calls matching Reason
	// arrive within Window for one consumer, tenant, route or credential.
	AlertThreshold = "threshold"
	// AlertKeyExpiring fires for a live credential that expires within
	// Within.
	AlertKeyExpiring = "key_expiring"
	// AlertRotatedKeyUsed fires when a rotated API key is still used
	// during its grace period (the caller has not switched to the
	// successor yet).
	AlertRotatedKeyUsed = "rotated_key_used"
	// AlertNewIP fires when a credential is used from a client IP it has
	// not been seen from before.
	AlertNewIP = "new_ip"
	// AlertDeprecatedServiceUsed fires when a consumer still calls a
	// deprecated service (§2), once per consumer and service per cooldown.
	AlertDeprecatedServiceUsed = "deprecated_service_used"
)

// What a threshold rule counts per.
const (
	AlertByConsumer   = "consumer"
	AlertByTenant     = "tenant"
	AlertByRoute      = "route"
	AlertByCredential = "credential"
)

// AlertRule is one alert rule, from the admin API (stored) or from
// gatehouse.yaml (Declared, read-only). A rule with a TenantID watches only
// that tenant's calls and credentials; one without watches the gateway.
type AlertRule struct {
	ID       string `json:"id" yaml:"id"`
	Name     string `json:"name" yaml:"name"`
	TenantID string `json:"tenant,omitempty" yaml:"tenant"`
	Kind     string `json:"kind" yaml:"kind"`
	// Reason selects the calls a threshold rule counts: a reason code
	// ("jwt.expired"), a family prefix ending in "." ("jwt."), or empty
	// for every rejected call (status 400 and above).
	Reason string `json:"reason,omitempty" yaml:"reason"`
	// By is what a threshold rule counts per: consumer, tenant, route or
	// credential.
	By string `json:"by,omitempty" yaml:"by"`
	// Threshold: the rule fires when the count within Window exceeds it.
	Threshold int64    `json:"threshold,omitempty" yaml:"threshold"`
	Window    Duration `json:"window,omitempty" yaml:"window"`
	// ConsumerID and RouteID narrow any rule to one consumer or route.
	ConsumerID string `json:"consumer,omitempty" yaml:"consumer"`
	RouteID    string `json:"route,omitempty" yaml:"route"`
	// Within is a key_expiring rule's horizon.
	Within Duration `json:"within,omitempty" yaml:"within"`
	// Cooldown is the least time between two firings of the rule for the
	// same subject (consumer, credential…).
	Cooldown  Duration  `json:"cooldown,omitempty" yaml:"cooldown"`
	Declared  bool      `json:"declared,omitempty" yaml:"-"`
	CreatedAt time.Time `json:"created_at" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at" yaml:"-"`
}

// Alert is one firing of a rule: what was delivered as the webhook event's
// data and kept for GET /admin/v1/alerts.
type Alert struct {
	// ID is also the webhook event id (receivers de-duplicate on it).
	ID       string `json:"id"`
	RuleID   string `json:"rule"`
	RuleName string `json:"rule_name"`
	Kind     string `json:"kind"`
	// TenantID is the tenant the alert concerns ("" for a gateway-wide
	// alert, e.g. a route threshold of a gateway-wide rule): tenant-bound
	// admins list only their tenant's alerts.
	TenantID string `json:"tenant,omitempty"`
	// Subject names what the rule fired for, e.g. "consumer con_…".
	Subject      string `json:"subject"`
	ConsumerID   string `json:"consumer,omitempty"`
	RouteID      string `json:"route,omitempty"`
	CredentialID string `json:"credential_id,omitempty"`
	// Reason, Count, Threshold and Window describe a threshold firing.
	Reason    string   `json:"reason,omitempty"`
	Count     int64    `json:"count,omitempty"`
	Threshold int64    `json:"threshold,omitempty"`
	Window    Duration `json:"window,omitempty"`
	// ClientIP is the new address of a new_ip alert.
	ClientIP string `json:"client_ip,omitempty"`
	// ExpiresAt is the credential's expiry (key_expiring), GraceUntil and
	// Successor a rotated key's (rotated_key_used).
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	GraceUntil *time.Time `json:"grace_until,omitempty"`
	Successor  string     `json:"successor,omitempty"`
	// ServiceID and Sunset name the deprecated service a consumer still
	// calls (deprecated_service_used); Successor is its successor's id.
	ServiceID string     `json:"service,omitempty"`
	Sunset    *time.Time `json:"sunset,omitempty"`
	// Message says it in one sentence, for chat receivers and the CLI.
	Message string    `json:"message"`
	FiredAt time.Time `json:"fired_at"`
}
