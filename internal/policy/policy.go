// Package policy is the authorize stage (§4 step 5, §9): after the pipeline
// knows who is calling, it decides whether they may call this route —
// tenant match, scopes, IP allow-lists — and says which rule said no.
// Subscriptions and plans extend it (they are the next capability).
package policy

import (
	"time"

	"gatehouse/internal/domain"
	"net/http"
	"net/netip"
	"strings"

	"gatehouse/internal/credential"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

// Input is what the authorize stage needs.
type Input struct {
	// Snap answers subscription lookups and approver names.
	Snap     *snapshot.Snapshot
	Route    *snapshot.Route
	Identity *credential.Identity
	// ClientIP is the address the gateway attributes the request to, and
	// IPSource says where it came from ("socket" or "X-Forwarded-For").
	ClientIP netip.Addr
	IPSource string
	// Header is the request's header, read only to explain a refusal
	// (an X-Forwarded-For the gateway did not believe); Method and Path
	// are the request's, for details.
	Header       http.Header
	Method, Path string
	Trace        *trace.Trace

	// Subscription is set by Authorize to the approved subscription that
	// admitted the call, if one was needed (its plan limits apply).
	Subscription *domain.Subscription
}

const stage = "authorize"

// Authorize returns nil when the identity may call the route. Every
// rejection here is after proof of possession, so details may name the
// credential's tenant, grants and the address seen.
func Authorize(in *Input) *reason.Error {
	id, r, t := in.Identity, in.Route, in.Trace
	c := id.Consumer
	if rerr := lifecycle(in); rerr != nil {
		return rerr
	}
	if rerr := access(in, in.Snap); rerr != nil {
		return rerr
	}
	if env := r.Service.Environment; env != "" && id.Environment != "" && id.Environment != env {
		d := "This is a " + id.Environment + " key; service '" + r.Service.Name + "' serves " + env + " keys only."
		t.Fail(stage, "environment", d)
		return &reason.Error{Code: reason.KeyWrongEnvironment, Detail: d, CredentialID: id.CredentialID,
			Hint: "Use a gk_" + env + "_ key for this service."}
	}

	if len(r.Scopes) > 0 {
		var missing []string
		for _, need := range r.Scopes {
			if !contains(id.Scopes, need) {
				missing = append(missing, need)
			}
		}
		if len(missing) > 0 {
			d := "This route requires scope(s) " + strings.Join(r.Scopes, ", ") + "; credential " + id.CredentialID +
				" lacks " + strings.Join(missing, ", ") + "."
			t.Fail(stage, "scopes", d)
			return &reason.Error{Code: reason.ScopeInsufficient, Detail: d, CredentialID: id.CredentialID, Possession: true,
				Scope: strings.Join(r.Scopes, " "), Hint: scopeHint(id.Type)}
		}
		t.Pass(stage, "scopes", "all required scopes present")
	} else {
		t.Skip(stage, "scopes", "route requires no scope")
	}

	if len(c.IPAllow) > 0 || len(id.IPAllow) > 0 {
		// Name the list that refused (the application's or the
		// credential's) and, per §5, where the address came from.
		var list string
		switch {
		case !allowed(c.IPAllow, in.ClientIP):
			list = "the allow-list of application '" + c.Name + "'"
		case !allowed(id.IPAllow, in.ClientIP):
			list = "the allow-list of credential " + id.CredentialID
		}
		if list != "" {
			src := "from the connection"
			if in.IPSource == "X-Forwarded-For" {
				src = "from X-Forwarded-For, sent by a trusted proxy"
			} else if in.Header != nil && in.Header.Get("X-Forwarded-For") != "" {
				src = "from the connection; the request's X-Forwarded-For was not used: the peer is not one of the gateway's trusted_proxies, or the field names no address outside them"
			}
			d := "The gateway saw client address " + in.ClientIP.String() + " (" + src + "), which is not in " + list + "."
			t.Fail(stage, "ip", d)
			return &reason.Error{Code: reason.IPNotAllowed, Detail: d, CredentialID: id.CredentialID, Possession: true}
		}
		t.Pass(stage, "ip", "client address allowed")
	}
	return nil
}

// lifecycle applies the service's lifecycle (§2). A retired service
// answers service.retired (410) to every caller, naming the successor to
// those who may see it (its own tenant's, or anyone's when it is
// published); a draft is reachable only by its own tenant's test keys —
// to anyone else it does not exist yet (route.not_found), and its own
// tenant's other credentials are told why. It runs after possession is
// proven: before, a caller learns nothing of the service (§5).
func lifecycle(in *Input) *reason.Error {
	id, svc, t := in.Identity, in.Route.Service, in.Trace
	own := svc.TenantID == id.Consumer.TenantID
	switch svc.Lifecycle {
	case domain.LifecycleRetired:
		d := "Service '" + svc.Name + "'" + versionText(svc.Version) + " is retired."
		hint := "Ask the API's operator what replaces it."
		// The successor is named to whoever may call it: its own tenant's
		// callers, or anyone's when it is published and past draft.
		succ := svc.SuccessorService
		if succ != nil && (succ.TenantID == id.Consumer.TenantID ||
			(succ.Visibility == domain.VisibilityPublished && succ.Lifecycle != domain.LifecycleDraft)) {
			name := "service '" + succ.Name + "'" + versionText(succ.Version)
			d += " Its successor is " + name + "."
			hint = "Move to " + name + "."
		}
		t.Fail(stage, "lifecycle", d)
		return &reason.Error{Code: reason.ServiceRetired, Detail: d, Hint: hint, CredentialID: id.CredentialID, Possession: true}
	case domain.LifecycleDraft:
		if own && id.Environment == domain.EnvTest {
			t.Pass(stage, "lifecycle", "draft service: a test key of its own tenant")
			return nil
		}
		if !own {
			// To another tenant's caller a draft does not exist yet: the
			// operator's step says why, the caller's answer is the one a
			// path without a route gets.
			t.Private(stage, "lifecycle", domain.OutcomeFail, "service '"+svc.Name+"' is a draft: only test keys of its own tenant reach it")
			return &reason.Error{Code: reason.RouteNotFound, Detail: "No route matches " + in.Method + " " + in.Path + " on this gateway.",
				CredentialID: id.CredentialID, Possession: true}
		}
		t.Fail(stage, "lifecycle", "service '"+svc.Name+"' is a draft: only test keys of its own tenant reach it")
		return &reason.Error{Code: reason.RouteNotFound, CredentialID: id.CredentialID, Possession: true,
			Detail: "Service '" + svc.Name + "' is a draft: only test keys (gk_test_…) of its own tenant reach it until it is made active.",
			Hint:   "Call it with a test key, or ask the operator to make the service active."}
	case domain.LifecycleDeprecated:
		t.Pass(stage, "lifecycle", "deprecated service: answered with Deprecation and Sunset")
	}
	return nil
}

// access applies tenant isolation and subscriptions (§9): a consumer
// reaches a service of its own tenant if the service needs no approval;
// any other service only with an approved subscription; a service of
// another tenant only if it is published. On success it returns the
// approved subscription in in.Subscription (nil when none was needed).
func access(in *Input, snap *snapshot.Snapshot) *reason.Error {
	id, t := in.Identity, in.Trace
	c := id.Consumer
	svc := in.Route.Service
	sameTenant := svc.TenantID == c.TenantID
	svcTenant := svc.TenantID
	if svc.Tenant != nil {
		svcTenant = svc.Tenant.Slug
	}
	if sameTenant && !svc.ApprovalRequired {
		t.Pass(stage, "tenant", "same tenant as the service; no approval required")
		return nil
	}
	if !sameTenant && svc.Visibility != domain.VisibilityPublished {
		d := "Credential " + id.CredentialID + " belongs to tenant '" + c.Tenant.Slug + "'; service '" + svc.Name +
			"' is private to tenant '" + svcTenant + "': only that tenant's applications can call it."
		t.Fail(stage, "tenant", d)
		return &reason.Error{Code: reason.TenantMismatch, Detail: d, CredentialID: id.CredentialID, Possession: true,
			Hint: "Use a key of an application of tenant '" + svcTenant + "'."}
	}
	if sameTenant {
		t.Pass(stage, "tenant", "same tenant as the service; approval required")
	} else {
		t.Pass(stage, "tenant", "published service of another tenant: a subscription is required")
	}
	var sub *domain.Subscription
	if snap != nil {
		sub = snap.Subscription(c.ID, svc.ID)
	}
	if sub != nil && sub.State == domain.SubscriptionApproved {
		in.Subscription = sub
		t.Pass(stage, "subscription", "approved subscription")
		return nil
	}
	// Refusals only from here: the strings below are built for them.
	who := "application '" + c.Name + "'"
	approvers := ""
	if snap != nil {
		if names := snap.Approvers(svc.TenantID); len(names) > 0 {
			approvers = " (approvers: " + strings.Join(names, ", ") + ")"
		}
	}
	fail := func(code, detail, hint string) *reason.Error {
		t.Fail(stage, "subscription", detail)
		return &reason.Error{Code: code, Detail: detail, Hint: hint, CredentialID: id.CredentialID, Possession: true}
	}
	switch {
	case sub == nil:
		return fail(reason.SubscriptionRequired,
			"Service '"+svc.Name+"' requires an approved subscription and "+who+" has none.",
			"Request one: gatehouse subscription request --consumer "+c.Tenant.Slug+"/"+c.Name+" --service "+svc.Name+
				" (or in the portal); an admin of tenant '"+svcTenant+"'"+approvers+" approves it.")
	case sub.State == domain.SubscriptionPending:
		return fail(reason.SubscriptionPending,
			"Subscription "+sub.ID+" of "+who+" to service '"+svc.Name+"' has been waiting for approval since "+
				sub.RequestedAt.UTC().Format(time.RFC3339)+".",
			"Ask an admin of tenant '"+svcTenant+"'"+approvers+" to approve subscription "+sub.ID+".")
	case sub.State == domain.SubscriptionRejected:
		d := "Subscription " + sub.ID + " of " + who + " to service '" + svc.Name + "' was rejected"
		if sub.DecidedBy != "" {
			d += " by " + sub.DecidedBy
		}
		if sub.DecidedAt != nil {
			d += " at " + sub.DecidedAt.UTC().Format(time.RFC3339)
		}
		if sub.DecisionNote != "" {
			d += ": " + sub.DecisionNote
		}
		return fail(reason.SubscriptionRejected, d+".",
			"Read the note; talk to an admin of tenant '"+svcTenant+"'"+approvers+" before requesting again.")
	case sub.State == domain.SubscriptionRevoked:
		d := "Subscription " + sub.ID + " of " + who + " to service '" + svc.Name + "' was revoked"
		if sub.RevokedBy != "" {
			d += " by " + sub.RevokedBy
		}
		if sub.RevokedAt != nil {
			d += " at " + sub.RevokedAt.UTC().Format(time.RFC3339)
		}
		if sub.RevokeNote != "" {
			d += ": " + sub.RevokeNote
		}
		return fail(reason.SubscriptionRevoked, d+".", "Contact an admin of tenant '"+svcTenant+"'"+approvers+".")
	}
	return fail(reason.SubscriptionRequired, "Subscription "+sub.ID+" is in an unknown state.", "")
}

func allowed(list []netip.Prefix, a netip.Addr) bool {
	if len(list) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// scopeHint says how a caller gets the scopes it lacks, by credential
// type: a key is issued with its scopes, a token's come from its issuer
// within its binding's grant, the others' from the operator.
func scopeHint(typ string) string {
	switch typ {
	case domain.AuthJWT, domain.AuthIntrospection:
		return "Get a token with the missing scopes from its issuer; the application's binding must grant them too (ask the operator)."
	case domain.AuthAPIKey:
		return "" // the catalogue's: create a key with the missing scopes
	}
	return "Ask the operator to grant this credential the missing scopes (its application must be granted them first)."
}

// versionText is " (version v)", or "" without a version.
func versionText(v string) string {
	if v == "" {
		return ""
	}
	return " (version " + v + ")"
}
