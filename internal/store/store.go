// Package store defines the persistence interface behind Gatehouse. The
// embedded implementation (sqlite/) and the cluster one (postgres/, later)
// run the same migrations (migrations/) and satisfy the same tests.
//
// The request path never calls a Store: admin writes go here, then reach the
// in-memory snapshot through Load (see internal/snapshot).
package store

import (
	"context"
	"errors"
	"time"

	"gatehouse/internal/domain"
)

// ErrNotFound is returned (wrapped) when an object does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) when a unique field (slug, name, key id,
// key hash) is already taken. The wrapping message names the field.
var ErrConflict = errors.New("conflict")

// ErrReadOnly is returned (wrapped) by the write methods of a Tx obtained
// from View.
var ErrReadOnly = errors.New("read-only transaction")

// ErrBadCursor is returned (wrapped) when Page.After is not a cursor this
// list returned (admin: a 400 on the "after"/"cursor" parameter).
var ErrBadCursor = errors.New("invalid cursor")

// ErrUnavailable is returned (wrapped) when the store could not be reached
// or did not answer in time: the request was not at fault, and the same
// request may succeed once the store is back. The call-log writer retries
// such a batch whole instead of splitting it (internal/calllog).
var ErrUnavailable = errors.New("database unavailable")

// ErrRefused is returned (wrapped) when the store refused a write because
// of the data it carries (a value too large for an index, bytes a column
// cannot hold): retrying the same rows cannot succeed. The call-log writer
// splits such a batch at once, so that the other records of the batch are
// stored and only the refused ones are lost (internal/calllog).
var ErrRefused = errors.New("refused by the store")

// Data is everything the request path needs, loaded in one consistent read.
type Data struct {
	// Version is the store's change counter at the time of the read.
	Version   int64
	Tenants   []domain.Tenant
	Consumers []domain.Consumer // including deleted ones (they must answer consumer.deleted)
	Keys      []domain.APIKey
	Services  []domain.Service
	Routes    []domain.Route
	// Subscriptions holds the current subscription of every consumer and
	// service pair that has one (see CurrentSubscriptions): the open one
	// (pending or approved) if any, else the most recently closed
	// (rejected or revoked), so the request path can answer
	// subscription.pending, .rejected or .revoked without a lookup.
	Subscriptions []domain.Subscription
	// Approvers names who can decide a service's subscription requests,
	// for the subscription.* hints: Approvers[tenantID] lists the names of
	// that tenant's tenant-admins, and Approvers[""] the gateway admins
	// (role admin), who can approve for every tenant. Names only: never
	// ids or token hashes.
	Approvers map[string][]string
	// Issuers are the trusted JWT issuers, with their secrets still sealed
	// (secrets.Box.Open them).
	Issuers []domain.Issuer
	// Credentials are every jwt_binding, hmac, mtls and basic credential,
	// revoked ones included (they must answer as revoked, not unknown);
	// hmac secrets still sealed. A revoked credential may share its key id,
	// username, fingerprint or binding with a live one: the live one wins.
	Credentials []domain.Credential
	// The AI gateway's objects (§11), filled by stores implementing AIStore
	// (nil otherwise), each in id order (AIAccess in consumer id order).
	// Provider keys are still sealed (secrets.Box.Open them); model
	// targets name providers by id and are in fallback order.
	Providers []domain.Provider
	Models    []domain.Model
	AIAccess  []domain.AIAccess
	Budgets   []domain.Budget
	Prompts   []domain.Prompt
	// IdentityKeys are the gateway's identity-token signing keys (see
	// IdentityKeyTx), newest first, private keys still sealed.
	IdentityKeys []domain.IdentityKey
}

// KeyStreamer is implemented by stores that can hand the API keys of a
// Load to the snapshot one row at a time, and read only the keys changed
// since a version. A million keys collected into Data.Keys first would
// cost gigabytes and seconds on every change; streamed into the
// snapshot's compact index they cost neither (internal/snapshot,
// KeyLoader). Both stores in this repository implement it.
type KeyStreamer interface {
	// LoadStream is Load with the keys handed to opts.Key (Data.Keys stays
	// nil), limited to those changed after opts.KeysSince when it is set.
	// The rest of Data is complete, as Load returns it.
	LoadStream(ctx context.Context, opts LoadOptions) (*Data, error)
}

// LoadOptions configure KeyStreamer.LoadStream.
type LoadOptions struct {
	// KeysSince, when > 0, limits the keys to those written by changes
	// committed after that version (the version of the snapshot being
	// updated); 0 streams every key. Keys are never deleted through the
	// Store, so a change is always a written row; a row deleted by hand
	// is noticed by the next full load only.
	KeysSince int64
	// Key receives each key, in no particular order. The key is valid only
	// during the call: the store may reuse it, its times and the bytes of
	// its ID, Hash, Name, Last4 and Predecessor for the next row; its
	// other strings and slices may be kept. An error stops the load and is
	// returned (wrapped).
	Key func(k *domain.APIKey) error
	// Expect, when set, is called before the first key of a load of every
	// key with the store's estimate of how many it will stream, so the
	// receiver can size its index once; a store without an estimate does
	// not call it.
	Expect func(n int)
}

// Page asks for one page of a list: After is the cursor returned as Next by
// the previous page (empty for the first page); Limit 0 means 100.
type Page struct {
	After string
	Limit int
}

// ListFilter narrows list calls. Empty fields do not filter.
type ListFilter struct {
	Page
	TenantID   string // consumers, services, admins, audit (by resource tenant), subscriptions (either side)
	ConsumerID string // keys, subscriptions
	ServiceID  string // routes, subscriptions
	Name       string // consumers, services: exact name
	State      string // subscriptions: pending, approved, rejected, revoked
	Type       string // credentials: jwt_binding, hmac, mtls, basic
	IssuerID   string // credentials (jwt bindings of an issuer)
	ScopeID    string // budgets: the consumer, credential or tenant id a budget counts
}

// CallFilter narrows call-log queries.
type CallFilter struct {
	Page
	Since      time.Time
	Until      time.Time
	ConsumerID string
	RouteID    string
	TenantID   string
	Status     int
	Code       string
}

// Tx is one atomic admin change. Every write method records nothing by itself:
// the caller adds exactly one Audit entry per logical change. Commit bumps
// the store's version once.
type Tx interface {
	GetTenant(ctx context.Context, idOrSlug string) (domain.Tenant, error)
	PutTenant(ctx context.Context, t domain.Tenant) error // insert or update by ID
	GetConsumer(ctx context.Context, id string) (domain.Consumer, error)
	// GetConsumerByName finds a consumer by name within a tenant.
	GetConsumerByName(ctx context.Context, tenantID, name string) (domain.Consumer, error)
	PutConsumer(ctx context.Context, c domain.Consumer) error
	GetKey(ctx context.Context, id string) (domain.APIKey, error)
	PutKey(ctx context.Context, k domain.APIKey) error
	GetService(ctx context.Context, idOrName string) (domain.Service, error)
	PutService(ctx context.Context, s domain.Service) error
	DeleteService(ctx context.Context, id string) error
	GetRoute(ctx context.Context, id string) (domain.Route, error)
	PutRoute(ctx context.Context, r domain.Route) error
	DeleteRoute(ctx context.Context, id string) error
	GetAdmin(ctx context.Context, id string) (domain.Admin, error)
	PutAdmin(ctx context.Context, a domain.Admin) error
	DeleteAdmin(ctx context.Context, id string) error
	GetSubscription(ctx context.Context, id string) (domain.Subscription, error)
	// OpenSubscription finds the pending or approved subscription of a
	// consumer to a service (ErrNotFound when there is none).
	OpenSubscription(ctx context.Context, consumerID, serviceID string) (domain.Subscription, error)
	// PutSubscription inserts or updates a subscription; its consumer,
	// service and both tenants must exist. A second open subscription for
	// the same consumer and service is ErrConflict.
	PutSubscription(ctx context.Context, s domain.Subscription) error
	// GetIssuer finds an issuer by id or, failing that, by name.
	GetIssuer(ctx context.Context, idOrName string) (domain.Issuer, error)
	// PutIssuer inserts or updates an issuer; a taken name or "iss" value
	// is ErrConflict.
	PutIssuer(ctx context.Context, i domain.Issuer) error
	// DeleteIssuer removes an issuer no live (unrevoked) jwt_binding uses
	// (ErrConflict otherwise).
	DeleteIssuer(ctx context.Context, id string) error
	GetCredential(ctx context.Context, id string) (domain.Credential, error)
	// PutCredential inserts or updates a credential; its consumer (and a
	// jwt_binding's issuer) must exist. What identifies a caller must be
	// unique among live credentials (hmac key id, basic username,
	// jwt_binding issuer+claim+value, mtls fingerprint or subject):
	// ErrConflict otherwise.
	PutCredential(ctx context.Context, c domain.Credential) error
	// ConflictingCredential finds the live credential, other than c
	// itself, that holds what c would identify callers by (ErrNotFound
	// when there is none), so a conflict can name it.
	ConflictingCredential(ctx context.Context, c domain.Credential) (domain.Credential, error)
	Audit(ctx context.Context, e domain.AuditEntry) error
}

// Store is the persistence interface. Implementations are safe for
// concurrent use.
type Store interface {
	// Update runs fn in one transaction; if fn returns an error nothing is
	// written. The version is bumped once on commit.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction (writes through tx fail).
	View(ctx context.Context, fn func(tx Tx) error) error

	// Load reads everything the snapshot needs, consistently.
	Load(ctx context.Context) (*Data, error)
	// Version is the store's current change counter.
	Version(ctx context.Context) (int64, error)

	ListTenants(ctx context.Context, f ListFilter) (items []domain.Tenant, next string, err error)
	ListConsumers(ctx context.Context, f ListFilter) ([]domain.Consumer, string, error)
	ListKeys(ctx context.Context, f ListFilter) ([]domain.APIKey, string, error)
	ListServices(ctx context.Context, f ListFilter) ([]domain.Service, string, error)
	ListRoutes(ctx context.Context, f ListFilter) ([]domain.Route, string, error)
	ListAdmins(ctx context.Context, f ListFilter) ([]domain.Admin, string, error)
	// ListAudit lists entries newest first; f.TenantID matches an entry's
	// TenantID or its OtherTenantID.
	ListAudit(ctx context.Context, f ListFilter) ([]domain.AuditEntry, string, error)
	// ListSubscriptions lists subscriptions in id order, filtered by
	// ConsumerID, ServiceID, State, and TenantID (either side's tenant).
	ListSubscriptions(ctx context.Context, f ListFilter) ([]domain.Subscription, string, error)
	// ListIssuers lists issuers in id order.
	ListIssuers(ctx context.Context, f ListFilter) ([]domain.Issuer, string, error)
	// ListCredentials lists credentials in id order, filtered by
	// ConsumerID, Type, IssuerID and TenantID (the consumer's tenant).
	ListCredentials(ctx context.Context, f ListFilter) ([]domain.Credential, string, error)
	// AdminByTokenHash finds an admin by the SHA-256 (hex) of its token.
	AdminByTokenHash(ctx context.Context, hash string) (domain.Admin, error)

	// InsertCalls writes a batch of call records in one transaction.
	InsertCalls(ctx context.Context, calls []domain.Call) error
	// QueryCalls lists call records newest first.
	QueryCalls(ctx context.Context, f CallFilter) ([]domain.Call, string, error)
	GetCall(ctx context.Context, requestID string) (domain.Call, error)
	// DeleteCallsBefore removes call records older than t (retention).
	DeleteCallsBefore(ctx context.Context, t time.Time) (int64, error)
	// TouchKeys records last-used times in bulk (best effort, batched).
	TouchKeys(ctx context.Context, lastUsed map[string]time.Time) error
	// TouchCredentials is TouchKeys for credentials.
	TouchCredentials(ctx context.Context, lastUsed map[string]time.Time) error

	Close() error
}

// RollupFilter narrows QueryRollups. Empty fields do not filter.
type RollupFilter struct {
	// Since (inclusive) and Until (exclusive) bound the rollups' minutes;
	// zero means unbounded.
	Since time.Time
	Until time.Time
	// Step merges the per-minute rows into buckets of this width aligned
	// to the Unix epoch (UTC): 0 or one minute returns the minutes
	// themselves, time.Hour hours, 24*time.Hour UTC days. It must be a
	// whole number of minutes. Each result's Minute is its bucket start.
	Step       time.Duration
	TenantID   string
	ConsumerID string
	RouteID    string
	// Code keeps the rows of one reason code.
	Code string
	// Model keeps the rows of one AI model (Rollup.Model).
	Model string
	// Limit bounds the rows returned (0: no bound); a caller that gets
	// exactly Limit rows must assume more exist.
	Limit int
}

// AlertFilter narrows ListAlerts. Empty fields do not filter.
type AlertFilter struct {
	Page
	TenantID string
	RuleID   string
	Since    time.Time
}

// Analytics is the store's side of analytics and alerts (§6, §12): the
// per-minute rollups of the call log, the alert rules' listing, and the
// fired alerts. It is separate from Store so that an engine can be built
// up to it; every Store in this repository is meant to implement it (the
// sqlite store does, storetest.RunAnalytics checks it), and callers that
// hold a Store type-assert it.
type Analytics interface {
	// UpsertRollups adds each rollup into the stored row with the same
	// key (minute, tenant, consumer, route, status class, code,
	// credential type), creating it when missing, in one transaction: all
	// or none. Every counter and histogram bucket is added, the latency
	// maximum is the larger of the two. Rows with the same key inside one
	// call are added too. Rollups are not admin changes: the version does
	// not move.
	UpsertRollups(ctx context.Context, rollups []domain.Rollup) error
	// QueryRollups returns the rollups matching f, merged by f.Step,
	// ordered by minute, tenant, consumer, route, status class, code and
	// credential type.
	QueryRollups(ctx context.Context, f RollupFilter) ([]domain.Rollup, error)
	// DeleteRollupsBefore removes rollups of minutes strictly before t.
	DeleteRollupsBefore(ctx context.Context, t time.Time) (int64, error)

	// ListAlertRules returns every stored alert rule in id order.
	ListAlertRules(ctx context.Context) ([]domain.AlertRule, error)
	// InsertAlert stores one fired alert; an alert whose ID is already
	// stored is ignored.
	InsertAlert(ctx context.Context, a domain.Alert) error
	// ListAlerts lists fired alerts newest first (FiredAt, then ID).
	ListAlerts(ctx context.Context, f AlertFilter) ([]domain.Alert, string, error)
	// DeleteAlertsBefore removes alerts fired strictly before t.
	DeleteAlertsBefore(ctx context.Context, t time.Time) (int64, error)
}

// AlertRuleTx is the alert-rule part of a Tx (admin changes, audited in
// the same transaction). The Tx of every Store implementing Analytics
// implements it; callers type-assert it.
type AlertRuleTx interface {
	GetAlertRule(ctx context.Context, id string) (domain.AlertRule, error)
	// PutAlertRule inserts or updates a rule by ID; a name taken by
	// another rule of the same tenant is ErrConflict.
	PutAlertRule(ctx context.Context, r domain.AlertRule) error
	DeleteAlertRule(ctx context.Context, id string) error
}

// AITx is the AI gateway part of a Tx (issue 8): providers, models,
// per-consumer allowed models, budgets and prompts, each changed with its
// one audit entry in the same transaction. It is separate from Tx so that
// an engine can be built up to it; the Tx of every Store implementing
// AIStore implements it, and callers type-assert it. Put inserts or
// updates by ID (AIAccess by consumer id); Get and Delete of a missing
// object are ErrNotFound naming it; a taken unique field is ErrConflict
// naming the field and value. Writes in a View are ErrReadOnly.
type AITx interface {
	// GetProvider finds a provider by id or, failing that, by name.
	GetProvider(ctx context.Context, idOrName string) (domain.Provider, error)
	// PutProvider stores a provider (keys sealed); a taken name is
	// ErrConflict.
	PutProvider(ctx context.Context, p domain.Provider) error
	// DeleteProvider removes a provider no model targets (ErrConflict
	// naming the models otherwise).
	DeleteProvider(ctx context.Context, id string) error
	// GetModel finds a model by id or, failing that, by name.
	GetModel(ctx context.Context, idOrName string) (domain.Model, error)
	// PutModel stores a model and replaces its targets (order kept); a
	// taken name is ErrConflict, a target's missing provider ErrNotFound.
	PutModel(ctx context.Context, m domain.Model) error
	// DeleteModel removes a model no prompt names (ErrConflict naming the
	// prompts otherwise).
	DeleteModel(ctx context.Context, id string) error
	// GetAIAccess finds a consumer's allow-list (ErrNotFound: none, every
	// model allowed).
	GetAIAccess(ctx context.Context, consumerID string) (domain.AIAccess, error)
	// PutAIAccess stores a consumer's allow-list; the consumer must exist.
	PutAIAccess(ctx context.Context, a domain.AIAccess) error
	DeleteAIAccess(ctx context.Context, consumerID string) error
	GetBudget(ctx context.Context, id string) (domain.Budget, error)
	// PutBudget stores a budget; its tenant must exist; a second budget
	// with the same scope, scope id and period is ErrConflict.
	PutBudget(ctx context.Context, b domain.Budget) error
	DeleteBudget(ctx context.Context, id string) error
	GetPrompt(ctx context.Context, id string) (domain.Prompt, error)
	// PutPrompt stores a prompt; its tenant must exist; a name taken in
	// the same tenant is ErrConflict.
	PutPrompt(ctx context.Context, p domain.Prompt) error
	// DeletePrompt removes a prompt no route binds (ErrConflict naming
	// the routes otherwise).
	DeletePrompt(ctx context.Context, id string) error
}

// AIStore is the AI gateway part of a Store: the lists of the admin API
// (cursor-paged in id order like every list; AIAccess in consumer id
// order) and Data's AI fields in Load. Stores implementing it have a Tx
// implementing AITx; storetest.RunAI checks both. Callers holding a Store
// type-assert it.
type AIStore interface {
	// ListProviders lists providers, filtered by Name.
	ListProviders(ctx context.Context, f ListFilter) ([]domain.Provider, string, error)
	// ListModels lists models, filtered by Name.
	ListModels(ctx context.Context, f ListFilter) ([]domain.Model, string, error)
	// ListAIAccess lists allow-lists, filtered by ConsumerID and TenantID
	// (the consumer's tenant).
	ListAIAccess(ctx context.Context, f ListFilter) ([]domain.AIAccess, string, error)
	// ListBudgets lists budgets, filtered by TenantID and ScopeID.
	ListBudgets(ctx context.Context, f ListFilter) ([]domain.Budget, string, error)
	// ListPrompts lists prompts, filtered by TenantID and Name.
	ListPrompts(ctx context.Context, f ListFilter) ([]domain.Prompt, string, error)
}

// subscriptionRank orders states for CurrentSubscriptions: an open
// subscription wins over a closed one.
func subscriptionRank(s domain.Subscription) int {
	if s.Open() {
		return 1
	}
	return 0
}

// CurrentSubscriptions reduces all subscriptions to the current one per
// consumer and service: the open one (pending or approved; there is at
// most one) if any, else the closed one (rejected or revoked) updated
// last, ties broken by the larger id. The result is in the input's order.
// Every Store implementation's Load uses it, so Data.Subscriptions means
// the same on every engine.
func CurrentSubscriptions(all []domain.Subscription) []domain.Subscription {
	type pair struct{ consumer, service string }
	best := make(map[pair]int, len(all))
	for i, s := range all {
		k := pair{s.ConsumerID, s.ServiceID}
		j, ok := best[k]
		if !ok {
			best[k] = i
			continue
		}
		b := all[j]
		switch rs, rb := subscriptionRank(s), subscriptionRank(b); {
		case rs != rb:
			if rs > rb {
				best[k] = i
			}
		case s.UpdatedAt.After(b.UpdatedAt), s.UpdatedAt.Equal(b.UpdatedAt) && s.ID > b.ID:
			best[k] = i
		}
	}
	out := make([]domain.Subscription, 0, len(best))
	for i, s := range all {
		if best[pair{s.ConsumerID, s.ServiceID}] == i {
			out = append(out, s)
		}
	}
	return out
}
