// Package domain holds Gatehouse's entities and their statuses. It does no I/O:
// every other layer (store, snapshot, pipeline, admin) speaks these types.
package domain

import (
	"encoding/json"
	"time"
)

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusDeleted   = "deleted"
)

// Service visibility.
const (
	VisibilityPrivate   = "private"
	VisibilityPublished = "published"
)

// Environments a key or gateway can belong to. A gateway may also serve
// both (EnvBoth); its services are then pinned one by one.
const (
	EnvLive = "live"
	EnvTest = "test"
	EnvBoth = "both"
)

// Auth method names a route may accept (Appendix A).
const (
	AuthAPIKey        = "api_key"
	AuthJWT           = "jwt"
	AuthIntrospection = "introspection"
	AuthHTTPSignature = "http_signature"
	AuthMTLS          = "mtls"
	AuthBasic         = "basic"
)

// Disclosure levels for a route's rejections (§5).
const (
	DisclosureFull    = "full"
	DisclosureMinimal = "minimal"
)

// Error formats for a route's rejections (§5).
const (
	ErrorFormatProblem = "problem"
	ErrorFormatOpenAI  = "openai"
)

// Tenant is an isolated team or workspace.
type Tenant struct {
	ID          string     `json:"id"`
	Slug        string     `json:"slug"`
	Name        string     `json:"name"`
	Status      string     `json:"status"`
	SuspendedAt *time.Time `json:"suspended_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Consumer is an application or user that calls APIs; it belongs to one tenant.
type Consumer struct {
	ID          string            `json:"id"`
	TenantID    string            `json:"tenant"`
	Name        string            `json:"name"`
	Status      string            `json:"status"`
	Scopes      []string          `json:"scopes"`
	IPAllow     []string          `json:"ip_allow,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	SuspendedAt *time.Time        `json:"suspended_at,omitempty"`
	DeletedAt   *time.Time        `json:"deleted_at,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// APIKey is a consumer's API key credential. The secret itself is never
// stored: only the SHA-256 of the full key (Hash, lowercase hex) and its last
// four characters for display.
type APIKey struct {
	// ID is the key's public id: the 12 base62 characters inside a
	// gk_<env>_<id>_… key, or a generated id for an imported opaque key.
	ID          string `json:"id"`
	ConsumerID  string `json:"consumer"`
	Name        string `json:"name,omitempty"`
	Environment string `json:"environment"`
	Hash        string `json:"-"`
	Last4       string `json:"last4"`
	// Imported keys come from another system: any opaque string, looked up
	// by hash only.
	Imported      bool       `json:"imported,omitempty"`
	Scopes        []string   `json:"scopes"`
	IPAllow       []string   `json:"ip_allow,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	RevokedReason string     `json:"revoked_reason,omitempty"`
	// Rotation: a rotated key names its successor and works until GraceUntil.
	Successor   string     `json:"successor,omitempty"`
	GraceUntil  *time.Time `json:"grace_until,omitempty"`
	Predecessor string     `json:"predecessor,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
}

// Timeouts for one upstream service. Zero means the gateway default.
type Timeouts struct {
	Connect  Duration `json:"connect,omitempty"`
	Response Duration `json:"response,omitempty"` // until response headers
	Read     Duration `json:"read,omitempty"`     // whole response body idle bound
	Write    Duration `json:"write,omitempty"`
	Idle     Duration `json:"idle,omitempty"` // pooled connection idle
}

// Service is an upstream API published by a tenant.
type Service struct {
	ID               string   `json:"id"`
	TenantID         string   `json:"tenant"`
	Name             string   `json:"name"`
	Targets          []Target `json:"targets"`
	Visibility       string   `json:"visibility"`
	ApprovalRequired bool     `json:"approval_required"`
	Timeouts         Timeouts `json:"timeouts"`
	// Engine picks the forwarding engine: "" (default), "fast", "httputil".
	Engine string `json:"engine,omitempty"`
	// HostHeader: "" forwards the target's host; "preserve" keeps the client's.
	HostHeader string `json:"host_header,omitempty"`
	// Environment pins the service to live or test keys when the gateway
	// serves both environments ("" accepts either).
	Environment string `json:"environment,omitempty"`
	// PassiveHealth: eject a target after this many consecutive failures
	// (0 = default 3) for EjectFor (0 = default 10s).
	EjectAfter int      `json:"eject_after,omitempty"`
	EjectFor   Duration `json:"eject_for,omitempty"`
	Version    string   `json:"version,omitempty"`
	// IdentityJWT, when set and enabled, adds the gateway-signed identity
	// token X-Gatehouse-Identity to every request forwarded to the
	// service (§8); nil: the plain X-Gatehouse-* fields only.
	IdentityJWT *IdentityJWT `json:"identity_jwt,omitempty"`
	Declared    bool         `json:"declared,omitempty"` // from gatehouse.yaml: read-only via API
	// Lifecycle (§2): draft → active → deprecated (with a sunset date) →
	// retired; "" is active. A draft answers only its own tenant's test
	// keys; a deprecated service answers with Deprecation (RFC 9745) and
	// Sunset (RFC 8594); a retired one answers service.retired (410),
	// naming Successor (a service id) if any.
	Lifecycle    string     `json:"lifecycle,omitempty"`
	DeprecatedAt *time.Time `json:"deprecated_at,omitempty"`
	Sunset       *time.Time `json:"sunset,omitempty"`
	Successor    string     `json:"successor,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// Service lifecycle states (§2).
const (
	LifecycleDraft      = "draft"
	LifecycleActive     = "active"
	LifecycleDeprecated = "deprecated"
	LifecycleRetired    = "retired"
)

// ServiceLifecycle is how the stores keep a service's lifecycle: one JSON
// column, NULL while the service is active with nothing set.
type ServiceLifecycle struct {
	State        string     `json:"state,omitempty"`
	DeprecatedAt *time.Time `json:"deprecated_at,omitempty"`
	Sunset       *time.Time `json:"sunset,omitempty"`
	Successor    string     `json:"successor,omitempty"`
}

// LifecycleOf returns s's lifecycle for storage, nil when there is none
// to keep.
func (s *Service) LifecycleOf() *ServiceLifecycle {
	if s.Lifecycle == "" && s.DeprecatedAt == nil && s.Sunset == nil && s.Successor == "" {
		return nil
	}
	return &ServiceLifecycle{State: s.Lifecycle, DeprecatedAt: s.DeprecatedAt, Sunset: s.Sunset, Successor: s.Successor}
}

// SetLifecycle puts a stored lifecycle (nil: none, which is active) on s.
func (s *Service) SetLifecycle(l *ServiceLifecycle) {
	s.Lifecycle, s.DeprecatedAt, s.Sunset, s.Successor = "", nil, nil, ""
	if l != nil {
		s.Lifecycle, s.DeprecatedAt, s.Sunset, s.Successor = l.State, l.DeprecatedAt, l.Sunset, l.Successor
	}
}

// State is s's lifecycle state, "" read as active.
func (s *Service) State() string {
	if s.Lifecycle == "" {
		return LifecycleActive
	}
	return s.Lifecycle
}

// Target is one upstream base URL with a weight (default 1).
type Target struct {
	URL    string `json:"url"`
	Weight int    `json:"weight,omitempty"`
}

// Route maps requests to a service.
type Route struct {
	ID        string   `json:"id"`
	ServiceID string   `json:"service"`
	Name      string   `json:"name,omitempty"`
	Hosts     []string `json:"hosts,omitempty"`
	Paths     []string `json:"paths"`
	Methods   []string `json:"methods,omitempty"`
	// Auth lists accepted methods in order; empty means [api_key].
	Auth   []string `json:"auth"`
	Scopes []string `json:"scopes,omitempty"`
	// StripPrefix removes the matched path prefix before forwarding;
	// UpstreamPath is then prepended.
	StripPrefix  bool   `json:"strip_prefix,omitempty"`
	UpstreamPath string `json:"upstream_path,omitempty"`
	// QueryKey enables ?api_key= on this route (redacted from logs and the
	// upstream URL).
	QueryKey bool `json:"query_key,omitempty"`
	// ForwardCredential forwards the client's credential upstream.
	ForwardCredential bool   `json:"forward_credential,omitempty"`
	Disclosure        string `json:"disclosure,omitempty"`
	ErrorFormat       string `json:"error_format,omitempty"`
	MaxBody           int64  `json:"max_body,omitempty"`
	Type              string `json:"type,omitempty"`
	// PromptID is the prompt a route of type "prompt" serves (see Prompt
	// in ai.go); empty for every other type.
	PromptID string `json:"prompt,omitempty"`
	// RateLimit, when set, limits calls on this route (Appendix A).
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// Quota, when set, bounds the calls on this route per day or month.
	Quota *Quota `json:"quota,omitempty"`
	// CORS, when set, lets browsers on other origins call this route
	// (§8); nil: the gateway answers no CORS and refuses preflights.
	CORS      *CORS     `json:"cors,omitempty"`
	Declared  bool      `json:"declared,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Admin roles.
const (
	RoleAdmin       = "admin"
	RoleTenantAdmin = "tenant-admin"
	RoleViewer      = "viewer"
)

// RoleDeveloper is a user account's role, never an admin token's: a
// consumer's developer, who logs in to the developer portal (not the
// console, and not the admin API) and acts there for one consumer only.
const RoleDeveloper = "developer"

// Admin is an operator of the gateway, authenticated by a bearer token of
// which only the SHA-256 is stored.
type Admin struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	TokenHash string    `json:"-"`
	Role      string    `json:"role"`
	TenantID  string    `json:"tenant,omitempty"` // for tenant-admin
	CreatedAt time.Time `json:"created_at"`
}

// AuditEntry records one admin change: who, what, before/after (secrets
// masked), when.
type AuditEntry struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"` // e.g. "key.revoke"
	Resource   string          `json:"resource"`
	ResourceID string          `json:"resource_id"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	// TenantID is the tenant the changed resource belongs to ("" for
	// gateway-wide resources); ListAudit filters on it for tenant admins.
	TenantID string `json:"tenant,omitempty"`
	// OtherTenantID is a second tenant with an interest in the change, for
	// objects that join two tenants (a subscription of tenant A's consumer
	// to tenant B's service: TenantID is the service's tenant B, which
	// decides, OtherTenantID the consumer's tenant A). ListAudit's tenant
	// filter matches either, so both sides' admins read the entry.
	OtherTenantID string `json:"other_tenant,omitempty"`
}

// Trace step outcomes.
const (
	OutcomePass = "pass"
	OutcomeFail = "fail"
	OutcomeSkip = "skip"
)

// TraceStep is one step of a decision trace (§6).
type TraceStep struct {
	Stage   string `json:"stage"`
	Check   string `json:"check"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
	// Private marks a step whose detail the caller must not see (it reveals
	// more than the caller's credential proves); only operators see it.
	Private bool `json:"private,omitempty"`
}

// Call is one request through the proxy (§6).
type Call struct {
	RequestID      string      `json:"request_id"`
	Time           time.Time   `json:"time"`
	RouteID        string      `json:"route,omitempty"`
	ServiceID      string      `json:"service,omitempty"`
	TenantID       string      `json:"tenant,omitempty"`
	ConsumerID     string      `json:"consumer,omitempty"`
	CredentialID   string      `json:"credential_id,omitempty"`
	CredentialType string      `json:"credential_type,omitempty"`
	Method         string      `json:"method"`
	Path           string      `json:"path"`
	Status         int         `json:"status"`
	Code           string      `json:"code,omitempty"`
	ClientIP       string      `json:"client_ip,omitempty"`
	UserAgent      string      `json:"user_agent,omitempty"`
	LatencyMicros  int64       `json:"latency_us"`
	UpstreamMicros int64       `json:"upstream_us,omitempty"`
	BytesIn        int64       `json:"bytes_in"`
	BytesOut       int64       `json:"bytes_out"`
	Engine         string      `json:"engine,omitempty"`
	Trace          []TraceStep `json:"trace,omitempty"`
	// AI is set for calls on AI routes (§6: provider, model, tokens, cost).
	AI *CallAI `json:"ai,omitempty"`
}

// CallAI is what an AI call used and cost.
type CallAI struct {
	Provider         string `json:"provider,omitempty"`
	Model            string `json:"model,omitempty"`
	Alias            string `json:"alias,omitempty"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CachedTokens     int64  `json:"cached_tokens,omitempty"`
	CompletionTokens int64  `json:"completion_tokens"`
	ReasoningTokens  int64  `json:"reasoning_tokens,omitempty"`
	// CostMicros is the exact cost in millionths of the currency unit.
	CostMicros int64 `json:"cost_micros"`
	// Estimated is true when the provider reported no usage.
	Estimated bool `json:"estimated,omitempty"`
	// Attempts names the targets tried, in order ("openai/gpt-4o: 429").
	Attempts []string `json:"attempts,omitempty"`
}
