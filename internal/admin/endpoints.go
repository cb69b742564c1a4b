package admin

import (
	"net/http"
	"slices"

	"gatehouse/internal/domain"
)

// perm is what an endpoint asks of the admin's role.
type perm int

const (
	// permRead: every role; an admin bound to a tenant sees only its
	// tenant's objects.
	permRead perm = iota
	// permWrite: admin and tenant-admin (the latter on objects of its own
	// tenant only); never a viewer.
	permWrite
	// permAdmin: the unrestricted admin role only (tenants' lifecycle and
	// the admins themselves).
	permAdmin
	// permPublic: no token (the OpenAPI document).
	permPublic
)

func (p perm) String() string {
	switch p {
	case permRead:
		return "any role (tenant-bound admins see their tenant only)"
	case permWrite:
		return "admin, or tenant-admin for objects of its tenant"
	case permAdmin:
		return "admin"
	}
	return "public"
}

// param is a query parameter an endpoint accepts.
type param struct {
	Name        string
	Type        string // JSON Schema type: "string" or "integer"
	Description string
}

// endpoint is one row of the route table: the mux is built from it, and so
// is the OpenAPI document, so every served route is documented.
type endpoint struct {
	Method   string
	Path     string // ServeMux and OpenAPI path template: /admin/v1/keys/{id}
	Action   string // audit action of a change or a refusal: "key.revoke"
	Resource string
	Summary  string
	Perm     perm
	Query    []param
	// Body is the request body's type (a zero value), nil when none.
	Body         any
	BodyOptional bool
	// Status is the success status; Resp the success body's type (nil for
	// 204); List wraps Resp as {"items":[Resp…],"next":…}.
	Status int
	Resp   any
	List   bool
	handle func(*reqCtx) (any, error)
}

var (
	pParams = []param{
		{Name: "after", Type: "string", Description: "cursor: the \"next\" value of the previous page"},
		{Name: "limit", Type: "integer", Description: "page size, 1-1000 (default 100)"},
	}
	pTenant   = param{Name: "tenant", Type: "string", Description: "tenant id or slug"}
	pConsumer = param{Name: "consumer", Type: "string", Description: "consumer id, name, or tenant-slug/name"}
	pService  = param{Name: "service", Type: "string", Description: "service id or name"}
	pName     = param{Name: "name", Type: "string", Description: "exact name"}
)

func withPage(ps ...param) []param { return append(ps, pParams...) }

// routeTable lists every admin endpoint.
func (a *API) routeTable() []*endpoint {
	return append([]*endpoint{
		// Tenants.
		{Method: http.MethodGet, Path: basePath + "/tenants", Action: "tenant.list", Resource: "tenant", Summary: "List tenants",
			Perm: permRead, Query: withPage(), Status: 200, Resp: domain.Tenant{}, List: true, handle: a.listTenants},
		{Method: http.MethodPost, Path: basePath + "/tenants", Action: "tenant.create", Resource: "tenant", Summary: "Create a tenant",
			Perm: permAdmin, Body: tenantRequest{}, Status: 201, Resp: domain.Tenant{}, handle: a.createTenant},
		{Method: http.MethodGet, Path: basePath + "/tenants/{id}", Action: "tenant.get", Resource: "tenant", Summary: "Get a tenant by id or slug",
			Perm: permRead, Status: 200, Resp: domain.Tenant{}, handle: a.getTenant},
		{Method: http.MethodPost, Path: basePath + "/tenants/{id}/suspend", Action: "tenant.suspend", Resource: "tenant",
			Summary: "Suspend a tenant: every credential under it is refused (tenant.suspended) from the next request",
			Perm:    permAdmin, Status: 200, Resp: domain.Tenant{}, handle: a.tenantStatus(domain.StatusSuspended)},
		{Method: http.MethodPost, Path: basePath + "/tenants/{id}/resume", Action: "tenant.resume", Resource: "tenant", Summary: "Resume a suspended tenant",
			Perm: permAdmin, Status: 200, Resp: domain.Tenant{}, handle: a.tenantStatus(domain.StatusActive)},

		// Consumers.
		{Method: http.MethodGet, Path: basePath + "/consumers", Action: "consumer.list", Resource: "consumer", Summary: "List consumers",
			Perm: permRead, Query: withPage(pTenant, pName), Status: 200, Resp: domain.Consumer{}, List: true, handle: a.listConsumers},
		{Method: http.MethodPost, Path: basePath + "/consumers", Action: "consumer.create", Resource: "consumer", Summary: "Create a consumer",
			Perm: permWrite, Body: consumerRequest{}, Status: 201, Resp: domain.Consumer{}, handle: a.createConsumer},
		{Method: http.MethodGet, Path: basePath + "/consumers/{id}", Action: "consumer.get", Resource: "consumer",
			Summary: "Get a consumer by id, name, or tenant-slug/name (escape the '/' as %2F)",
			Perm:    permRead, Status: 200, Resp: domain.Consumer{}, handle: a.getConsumer},
		{Method: http.MethodPatch, Path: basePath + "/consumers/{id}", Action: "consumer.update", Resource: "consumer",
			Summary: "Change a consumer's name, scopes, IP allow-list or labels (fields present replace)",
			Perm:    permWrite, Body: consumerPatch{}, Status: 200, Resp: domain.Consumer{}, handle: a.updateConsumer},
		{Method: http.MethodPost, Path: basePath + "/consumers/{id}/suspend", Action: "consumer.suspend", Resource: "consumer",
			Summary: "Suspend a consumer: its keys answer consumer.suspended from the next request",
			Perm:    permWrite, Status: 200, Resp: domain.Consumer{}, handle: a.consumerStatus(domain.StatusSuspended)},
		{Method: http.MethodPost, Path: basePath + "/consumers/{id}/resume", Action: "consumer.resume", Resource: "consumer", Summary: "Resume a suspended consumer",
			Perm: permWrite, Status: 200, Resp: domain.Consumer{}, handle: a.consumerStatus(domain.StatusActive)},
		{Method: http.MethodDelete, Path: basePath + "/consumers/{id}", Action: "consumer.delete", Resource: "consumer",
			Summary: "Delete a consumer: it keeps its row with status deleted and its keys answer consumer.deleted",
			Perm:    permWrite, Status: 204, handle: a.deleteConsumer},

		// Keys.
		{Method: http.MethodGet, Path: basePath + "/keys", Action: "key.list", Resource: "key", Summary: "List API keys (never the key or its hash)",
			Perm: permRead, Query: withPage(pConsumer), Status: 200, Resp: keyView{}, List: true, handle: a.listKeys},
		{Method: http.MethodPost, Path: basePath + "/keys", Action: "key.create", Resource: "key",
			Summary: "Create an API key; the answer carries the key itself, shown only this once",
			Perm:    permWrite, Body: keyRequest{}, Status: 201, Resp: keyCreated{}, handle: a.createKey},
		{Method: http.MethodPost, Path: basePath + "/keys/import", Action: "key.import", Resource: "key",
			Summary: "Import a key from another system (stored by hash only); a gk_ key keeps its own id",
			Perm:    permWrite, Body: keyImportRequest{}, Status: 201, Resp: keyView{}, handle: a.importKey},
		{Method: http.MethodGet, Path: basePath + "/keys/{id}", Action: "key.get", Resource: "key", Summary: "Get an API key (never the key or its hash)",
			Perm: permRead, Status: 200, Resp: keyView{}, handle: a.getKey},
		{Method: http.MethodPost, Path: basePath + "/keys/{id}/revoke", Action: "key.revoke", Resource: "key",
			Summary: "Revoke a key with a reason; it answers key.revoked from the next request",
			Perm:    permWrite, Body: revokeRequest{}, Status: 200, Resp: keyView{}, handle: a.revokeKey},
		{Method: http.MethodPost, Path: basePath + "/keys/{id}/rotate", Action: "key.rotate", Resource: "key",
			Summary: "Rotate a key: a successor is issued (key shown once) and the old key works until the grace period ends",
			Perm:    permWrite, Body: rotateRequest{}, BodyOptional: true, Status: 201, Resp: keyCreated{}, handle: a.rotateKey},

		// Services.
		{Method: http.MethodGet, Path: basePath + "/services", Action: "service.list", Resource: "service", Summary: "List services",
			Perm: permRead, Query: withPage(pTenant, pName), Status: 200, Resp: domain.Service{}, List: true, handle: a.listServices},
		{Method: http.MethodPost, Path: basePath + "/services", Action: "service.create", Resource: "service", Summary: "Create a service",
			Perm: permWrite, Body: serviceRequest{}, Status: 201, Resp: domain.Service{}, handle: a.createService},
		{Method: http.MethodGet, Path: basePath + "/services/{id}", Action: "service.get", Resource: "service", Summary: "Get a service by id or name",
			Perm: permRead, Status: 200, Resp: domain.Service{}, handle: a.getService},
		{Method: http.MethodPatch, Path: basePath + "/services/{id}", Action: "service.update", Resource: "service",
			Summary: "Change a service (fields present replace; declared services are read-only)",
			Perm:    permWrite, Body: serviceRequest{}, Status: 200, Resp: domain.Service{}, handle: a.updateService},
		{Method: http.MethodDelete, Path: basePath + "/services/{id}", Action: "service.delete", Resource: "service",
			Summary: "Delete a service that no route uses (declared services are read-only)",
			Perm:    permWrite, Status: 204, handle: a.deleteService},

		// Routes.
		{Method: http.MethodGet, Path: basePath + "/routes", Action: "route.list", Resource: "route", Summary: "List routes",
			Perm: permRead, Query: withPage(pService), Status: 200, Resp: domain.Route{}, List: true, handle: a.listRoutes},
		{Method: http.MethodPost, Path: basePath + "/routes", Action: "route.create", Resource: "route", Summary: "Create a route",
			Perm: permWrite, Body: routeRequest{}, Status: 201, Resp: domain.Route{}, handle: a.createRoute},
		{Method: http.MethodGet, Path: basePath + "/routes/{id}", Action: "route.get", Resource: "route", Summary: "Get a route",
			Perm: permRead, Status: 200, Resp: domain.Route{}, handle: a.getRoute},
		{Method: http.MethodPatch, Path: basePath + "/routes/{id}", Action: "route.update", Resource: "route",
			Summary: "Change a route (fields present replace; declared routes are read-only)",
			Perm:    permWrite, Body: routeRequest{}, Status: 200, Resp: domain.Route{}, handle: a.updateRoute},
		{Method: http.MethodDelete, Path: basePath + "/routes/{id}", Action: "route.delete", Resource: "route",
			Summary: "Delete a route (declared routes are read-only)",
			Perm:    permWrite, Status: 204, handle: a.deleteRoute},

		// Credentials (jwt_binding, hmac, mtls, basic).
		{Method: http.MethodGet, Path: basePath + "/credentials", Action: "credential.list", Resource: "credential",
			Summary: "List credentials other than API keys (never a secret or password hash)",
			Perm:    permRead, Query: withPage(pConsumer,
				param{Name: "type", Type: "string", Description: "jwt_binding, hmac, mtls or basic"},
				param{Name: "issuer", Type: "string", Description: "issuer id or name (its jwt bindings)"},
				pTenant,
			), Status: 200, Resp: credentialView{}, List: true, handle: a.listCredentials},
		{Method: http.MethodPost, Path: basePath + "/credentials", Action: "credential.create", Resource: "credential",
			Summary: "Create a jwt_binding, hmac, mtls or basic credential; a generated HMAC secret is in the answer, base64, only this once",
			Perm:    permWrite, Body: credentialRequest{}, Status: 201, Resp: credentialCreated{}, handle: a.createCredential},
		{Method: http.MethodGet, Path: basePath + "/credentials/{id}", Action: "credential.get", Resource: "credential",
			Summary: "Get a credential (never its secret or password hash)",
			Perm:    permRead, Status: 200, Resp: credentialView{}, handle: a.getCredential},
		{Method: http.MethodPost, Path: basePath + "/credentials/{id}/revoke", Action: "credential.revoke", Resource: "credential",
			Summary: "Revoke a credential with a reason; it is refused from the next request and its identifier is free again",
			Perm:    permWrite, Body: revokeRequest{}, Status: 200, Resp: credentialView{}, handle: a.revokeCredential},

		// Issuers.
		{Method: http.MethodGet, Path: basePath + "/issuers", Action: "issuer.list", Resource: "issuer",
			Summary: "List trusted JWT issuers (secrets only as has_… flags)",
			Perm:    permRead, Query: withPage(pName), Status: 200, Resp: issuerView{}, List: true, handle: a.listIssuers},
		{Method: http.MethodPost, Path: basePath + "/issuers", Action: "issuer.create", Resource: "issuer",
			Summary: "Trust a JWT issuer (JWKS, OIDC discovery, introspection or an HS256 secret); its secrets are encrypted and never returned",
			Perm:    permAdmin, Body: issuerRequest{}, Status: 201, Resp: issuerView{}, handle: a.createIssuer},
		{Method: http.MethodGet, Path: basePath + "/issuers/{id}", Action: "issuer.get", Resource: "issuer", Summary: "Get an issuer by id or name",
			Perm: permRead, Status: 200, Resp: issuerView{}, handle: a.getIssuer},
		{Method: http.MethodPatch, Path: basePath + "/issuers/{id}", Action: "issuer.update", Resource: "issuer",
			Summary: "Change an issuer (fields present replace; a secret set to \"\" or null is removed; declared issuers are read-only)",
			Perm:    permAdmin, Body: issuerRequest{}, Status: 200, Resp: issuerView{}, handle: a.updateIssuer},
		{Method: http.MethodDelete, Path: basePath + "/issuers/{id}", Action: "issuer.delete", Resource: "issuer",
			Summary: "Delete an issuer no live jwt binding uses (declared issuers are read-only)",
			Perm:    permAdmin, Status: 204, handle: a.deleteIssuer},

		// Subscriptions.
		{Method: http.MethodGet, Path: basePath + "/subscriptions", Action: "subscription.list", Resource: "subscription",
			Summary: "List subscriptions (tenant-bound admins see those where their tenant is the consumer's or the service's)",
			Perm:    permRead, Query: withPage(pConsumer, pService,
				param{Name: "tenant", Type: "string", Description: "tenant id or slug: subscriptions where the consumer or the service belongs to it"},
				param{Name: "state", Type: "string", Description: "pending, approved, rejected or revoked"},
			), Status: 200, Resp: domain.Subscription{}, List: true, handle: a.listSubscriptions},
		{Method: http.MethodPost, Path: basePath + "/subscriptions", Action: "subscription.request", Resource: "subscription",
			Summary: "Request a consumer's access to a service: approved at once for its own tenant's service that needs no approval, else pending",
			Perm:    permWrite, Body: subscriptionRequest{}, Status: 201, Resp: subscriptionView{}, handle: a.createSubscription},
		{Method: http.MethodGet, Path: basePath + "/subscriptions/{id}", Action: "subscription.get", Resource: "subscription",
			Summary: "Get a subscription (a pending one names who can approve it)",
			Perm:    permRead, Status: 200, Resp: subscriptionView{}, handle: a.getSubscription},
		{Method: http.MethodPost, Path: basePath + "/subscriptions/{id}/approve", Action: "subscription.approve", Resource: "subscription",
			Summary: "Approve a pending subscription (admin, or tenant-admin of the service's tenant); the consumer may call from its next request",
			Perm:    permWrite, Body: approveRequest{}, BodyOptional: true, Status: 200, Resp: subscriptionView{}, handle: a.decideSubscription(domain.SubscriptionApproved)},
		{Method: http.MethodPost, Path: basePath + "/subscriptions/{id}/reject", Action: "subscription.reject", Resource: "subscription",
			Summary: "Reject a pending subscription (admin, or tenant-admin of the service's tenant); its calls answer subscription.rejected with the note",
			Perm:    permWrite, Body: noteRequest{}, BodyOptional: true, Status: 200, Resp: subscriptionView{}, handle: a.decideSubscription(domain.SubscriptionRejected)},
		{Method: http.MethodPost, Path: basePath + "/subscriptions/{id}/revoke", Action: "subscription.revoke", Resource: "subscription",
			Summary: "Revoke an approved subscription (admin, or tenant-admin of either side); its calls answer subscription.revoked",
			Perm:    permWrite, Body: noteRequest{}, BodyOptional: true, Status: 200, Resp: subscriptionView{}, handle: a.decideSubscription(domain.SubscriptionRevoked)},

		// AI gateway: providers (gateway admins), models (read by all, written
		// by gateway admins), per-consumer allowed models, budgets, prompts.
		{Method: http.MethodGet, Path: basePath + "/providers", Action: "provider.list", Resource: "provider",
			Summary: "List AI providers (keys only as a count and last four characters; not for tenant-bound admins)",
			Perm:    permRead, Query: withPage(pName), Status: 200, Resp: providerView{}, List: true, handle: a.listProviders},
		{Method: http.MethodPost, Path: basePath + "/providers", Action: "provider.create", Resource: "provider",
			Summary: "Add an AI provider account (openai, anthropic, gemini, azure-openai); its API keys are encrypted and never returned",
			Perm:    permAdmin, Body: providerRequest{}, Status: 201, Resp: providerView{}, handle: a.createProvider},
		{Method: http.MethodGet, Path: basePath + "/providers/{id}", Action: "provider.get", Resource: "provider",
			Summary: "Get an AI provider by id or name (keys only as a count and last four characters)",
			Perm:    permRead, Status: 200, Resp: providerView{}, handle: a.getProvider},
		{Method: http.MethodPatch, Path: basePath + "/providers/{id}", Action: "provider.update", Resource: "provider",
			Summary: "Change an AI provider (fields present replace; api_keys present replaces every key; declared providers are read-only)",
			Perm:    permAdmin, Body: providerRequest{}, Status: 200, Resp: providerView{}, handle: a.updateProvider},
		{Method: http.MethodDelete, Path: basePath + "/providers/{id}", Action: "provider.delete", Resource: "provider",
			Summary: "Delete an AI provider no model targets",
			Perm:    permAdmin, Status: 204, handle: a.deleteProvider},
		{Method: http.MethodGet, Path: basePath + "/models", Action: "model.list", Resource: "model",
			Summary: "List the model catalogue: aliases, targets in fallback order, prices per 1M tokens",
			Perm:    permRead, Query: withPage(pName), Status: 200, Resp: modelView{}, List: true, handle: a.listModels},
		{Method: http.MethodPost, Path: basePath + "/models", Action: "model.create", Resource: "model",
			Summary: "Add a model alias with ordered targets and exact decimal prices (default: the configured or shipped price of its first known target)",
			Perm:    permAdmin, Body: modelRequest{}, Status: 201, Resp: modelView{}, handle: a.createModel},
		{Method: http.MethodGet, Path: basePath + "/models/{id}", Action: "model.get", Resource: "model", Summary: "Get a model by id or name",
			Perm: permRead, Status: 200, Resp: modelView{}, handle: a.getModel},
		{Method: http.MethodPatch, Path: basePath + "/models/{id}", Action: "model.update", Resource: "model",
			Summary: "Change a model's targets, price or max_output_tokens (fields present replace; price null returns to the default; the name cannot change)",
			Perm:    permAdmin, Body: modelRequest{}, Status: 200, Resp: modelView{}, handle: a.updateModel},
		{Method: http.MethodDelete, Path: basePath + "/models/{id}", Action: "model.delete", Resource: "model",
			Summary: "Delete a model no prompt uses",
			Perm:    permAdmin, Status: 204, handle: a.deleteModel},
		{Method: http.MethodGet, Path: basePath + "/model-access", Action: "model_access.list", Resource: "model_access",
			Summary: "List consumers' model allow-lists (a consumer without one may use every model)",
			Perm:    permRead, Query: withPage(pConsumer, pTenant), Status: 200, Resp: accessView{}, List: true, handle: a.listAccess},
		{Method: http.MethodGet, Path: basePath + "/consumers/{id}/models", Action: "model_access.get", Resource: "model_access",
			Summary: "A consumer's allowed models (restricted false: every model)",
			Perm:    permRead, Status: 200, Resp: accessView{}, handle: a.getAccess},
		{Method: http.MethodPut, Path: basePath + "/consumers/{id}/models", Action: "model_access.set", Resource: "model_access",
			Summary: "Restrict a consumer to these models (names or \"prefix*\"); others answer ai.model_not_allowed",
			Perm:    permWrite, Body: accessRequest{}, Status: 200, Resp: accessView{}, handle: a.setAccess},
		{Method: http.MethodDelete, Path: basePath + "/consumers/{id}/models", Action: "model_access.clear", Resource: "model_access",
			Summary: "Remove a consumer's allow-list: it may use every model",
			Perm:    permWrite, Status: 204, handle: a.clearAccess},
		{Method: http.MethodGet, Path: basePath + "/budgets", Action: "budget.list", Resource: "budget",
			Summary: "List AI budgets (money per day or month, RPM, TPM)",
			Perm:    permRead, Query: withPage(pTenant, pConsumer,
				param{Name: "scope_id", Type: "string", Description: "id of the consumer, credential or tenant a budget counts"},
			), Status: 200, Resp: domain.Budget{}, List: true, handle: a.listBudgets},
		{Method: http.MethodPost, Path: basePath + "/budgets", Action: "budget.create", Resource: "budget",
			Summary: "Set a budget for a consumer, credential or tenant (a tenant's own budget: gateway admins only)",
			Perm:    permWrite, Body: budgetRequest{}, Status: 201, Resp: domain.Budget{}, handle: a.createBudget},
		{Method: http.MethodGet, Path: basePath + "/budgets/{id}", Action: "budget.get", Resource: "budget", Summary: "Get a budget",
			Perm: permRead, Status: 200, Resp: domain.Budget{}, handle: a.getBudget},
		{Method: http.MethodPatch, Path: basePath + "/budgets/{id}", Action: "budget.update", Resource: "budget",
			Summary: "Change a budget's limits (fields present replace; amount \"0\" removes the money limit)",
			Perm:    permWrite, Body: budgetRequest{}, Status: 200, Resp: domain.Budget{}, handle: a.updateBudget},
		{Method: http.MethodDelete, Path: basePath + "/budgets/{id}", Action: "budget.delete", Resource: "budget", Summary: "Delete a budget",
			Perm: permWrite, Status: 204, handle: a.deleteBudget},
		{Method: http.MethodGet, Path: basePath + "/prompts", Action: "prompt.list", Resource: "prompt", Summary: "List prompt templates",
			Perm: permRead, Query: withPage(pTenant, pName), Status: 200, Resp: domain.Prompt{}, List: true, handle: a.listPrompts},
		{Method: http.MethodPost, Path: basePath + "/prompts", Action: "prompt.create", Resource: "prompt",
			Summary: "Create a prompt template: {{variable}} placeholders, declared typed variables, a model alias",
			Perm:    permWrite, Body: promptRequest{}, Status: 201, Resp: domain.Prompt{}, handle: a.createPrompt},
		{Method: http.MethodGet, Path: basePath + "/prompts/{id}", Action: "prompt.get", Resource: "prompt",
			Summary: "Get a prompt by id, name, or tenant-slug/name (escape the '/' as %2F)",
			Perm:    permRead, Status: 200, Resp: domain.Prompt{}, handle: a.getPrompt},
		{Method: http.MethodPatch, Path: basePath + "/prompts/{id}", Action: "prompt.update", Resource: "prompt",
			Summary: "Change a prompt (fields present replace; the tenant cannot change)",
			Perm:    permWrite, Body: promptRequest{}, Status: 200, Resp: domain.Prompt{}, handle: a.updatePrompt},
		{Method: http.MethodDelete, Path: basePath + "/prompts/{id}", Action: "prompt.delete", Resource: "prompt",
			Summary: "Delete a prompt no route serves",
			Perm:    permWrite, Status: 204, handle: a.deletePrompt},

		// Calls.
		{Method: http.MethodGet, Path: basePath + "/calls", Action: "call.list", Resource: "call", Summary: "Query the call log, newest first",
			Perm: permRead, Query: withPage(
				param{Name: "since", Type: "string", Description: "RFC 3339 time, or a duration before now (1h, 7d)"},
				param{Name: "until", Type: "string", Description: "RFC 3339 time, or a duration before now"},
				pConsumer,
				param{Name: "route", Type: "string", Description: "route id"},
				pTenant,
				param{Name: "status", Type: "integer", Description: "HTTP status"},
				param{Name: "reason", Type: "string", Description: "reason code, e.g. key.revoked"},
			), Status: 200, Resp: domain.Call{}, List: true, handle: a.listCalls},
		{Method: http.MethodGet, Path: basePath + "/calls/{id}", Action: "call.get", Resource: "call",
			Summary: "One call record with its full decision trace (gatehouse explain)",
			Perm:    permRead, Status: 200, Resp: callView{}, handle: a.getCall},

		// Analytics and alerts.
		{Method: http.MethodGet, Path: basePath + "/stats", Action: "stats.get", Resource: "stats",
			Summary: "Call statistics from the per-minute rollups: totals, error rate over time, top reasons, top failing consumers, latency quantiles",
			Perm:    permRead, Query: pStatsQuery, Status: 200, Resp: statsReport{}, handle: a.stats},
		{Method: http.MethodGet, Path: basePath + "/alerts", Action: "alert.list", Resource: "alert",
			Summary: "Fired alerts, newest first (tenant-bound admins see their tenant's)",
			Perm:    permRead, Query: pAlertsQuery, Status: 200, Resp: domain.Alert{}, List: true, handle: a.listAlerts},
		{Method: http.MethodGet, Path: basePath + "/alerts/rules", Action: "alert_rule.list", Resource: "alert_rule",
			Summary: "List alert rules (tenant-bound admins see their tenant's)",
			Perm:    permRead, Query: pAlertRuleQuery, Status: 200, Resp: domain.AlertRule{}, List: true, handle: a.listAlertRules},
		{Method: http.MethodPost, Path: basePath + "/alerts/rules", Action: "alert_rule.create", Resource: "alert_rule",
			Summary: "Create an alert rule: threshold (more than N calls with a reason within a window per consumer, tenant, route or credential), key_expiring, rotated_key_used, new_ip or deprecated_service_used; delivered as signed webhooks with a cooldown",
			Perm:    permWrite, Body: alertRuleRequest{}, Status: 201, Resp: domain.AlertRule{}, handle: a.createAlertRule},
		{Method: http.MethodGet, Path: basePath + "/alerts/rules/{id}", Action: "alert_rule.get", Resource: "alert_rule", Summary: "Get an alert rule",
			Perm: permRead, Status: 200, Resp: domain.AlertRule{}, handle: a.getAlertRule},
		{Method: http.MethodDelete, Path: basePath + "/alerts/rules/{id}", Action: "alert_rule.delete", Resource: "alert_rule",
			Summary: "Delete an alert rule (declared rules are read-only); its fired alerts stay listed",
			Perm:    permWrite, Status: 204, handle: a.deleteAlertRule},

		// Audit.
		{Method: http.MethodGet, Path: basePath + "/audit", Action: "audit.list", Resource: "audit", Summary: "Read the audit log, newest first",
			Perm: permRead, Query: withPage(pTenant,
				param{Name: "action", Type: "string", Description: "exact action (key.revoke) or a prefix ending in '.' (key.)"},
				param{Name: "resource", Type: "string", Description: "resource type: tenant, consumer, key, service, route, subscription, credential, issuer, admin, provider, model, model_access, budget, prompt, user, identity_key"},
				param{Name: "resource_id", Type: "string", Description: "id of the changed object"},
				param{Name: "actor", Type: "string", Description: "admin id or name"},
			), Status: 200, Resp: domain.AuditEntry{}, List: true, handle: a.listAudit},

		// Admins.
		{Method: http.MethodGet, Path: basePath + "/admins", Action: "admin.list", Resource: "admin", Summary: "List admins (never their tokens)",
			Perm: permRead, Query: withPage(), Status: 200, Resp: domain.Admin{}, List: true, handle: a.listAdmins},
		{Method: http.MethodPost, Path: basePath + "/admins", Action: "admin.create", Resource: "admin",
			Summary: "Create an admin; the answer carries its token, shown only this once",
			Perm:    permAdmin, Body: adminRequest{}, Status: 201, Resp: adminCreated{}, handle: a.createAdmin},
		{Method: http.MethodGet, Path: basePath + "/admins/{id}", Action: "admin.get", Resource: "admin", Summary: "Get an admin (never its token)",
			Perm: permRead, Status: 200, Resp: domain.Admin{}, handle: a.getAdmin},
		{Method: http.MethodDelete, Path: basePath + "/admins/{id}", Action: "admin.delete", Resource: "admin",
			Summary: "Delete an admin; its token stops working at once (the last admin cannot be deleted)",
			Perm:    permAdmin, Status: 204, handle: a.deleteAdmin},

		// Gateway.
		{Method: http.MethodGet, Path: basePath + "/status", Action: "status.get", Resource: "status",
			Summary: "Gateway version, store version and runtime status (call-log queue, snapshot)",
			Perm:    permRead, Status: 200, Resp: statusView{}, handle: a.status},
		{Method: http.MethodGet, Path: openAPIPath, Action: "openapi.get", Resource: "openapi",
			Summary: "This API's OpenAPI 3.1 document (no token needed)",
			Perm:    permPublic, Status: 200, handle: func(*reqCtx) (any, error) { return rawJSON(a.openapi), nil }},
	}, slices.Concat(a.userEndpoints(), a.identityEndpoints())...)
}
