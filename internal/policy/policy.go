// Package policy is the authorize stage (§4 step 5, §9): after the pipeline
// knows who is calling, it decides whether they may call this route —
// tenant match, scopes, IP allow-lists — and says which rule said no.
// Subscriptions and plans extend it (they are the next capability).
package policy

import (
	"net/netip"
	"strings"

	"gatehouse/internal/credential"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

// Input is what the authorize stage needs.
type Input struct {
	Route    *snapshot.Route
	Identity *credential.Identity
	// ClientIP is the address the gateway attributes the request to, and
	// IPSource says where it came from ("socket" or "X-Forwarded-For").
	ClientIP netip.Addr
	IPSource string
	Trace    *trace.Trace
}

const stage = "authorize"

// Authorize returns nil when the identity may call the route. Every
// rejection here is after proof of possession, so details may name the
// credential's tenant, grants and the address seen.
func Authorize(in *Input) *reason.Error {
	id, r, t := in.Identity, in.Route, in.Trace
	c := id.Consumer
	svc := r.Service
	if svc.TenantID != c.TenantID {
		svcTenant := svc.TenantID
		if svc.Tenant != nil {
			svcTenant = svc.Tenant.Slug
		}
		d := "Credential " + id.CredentialID + " belongs to tenant '" + c.Tenant.Slug + "'; service '" + svc.Name +
			"' belongs to tenant '" + svcTenant + "', and there is no subscription that lets it call the service."
		t.Fail(stage, "tenant", d)
		return &reason.Error{Code: reason.TenantMismatch, Detail: d, CredentialID: id.CredentialID, Possession: true}
	}
	t.Pass(stage, "tenant", "same tenant as the service")

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
				Scope: strings.Join(r.Scopes, " ")}
		}
		t.Pass(stage, "scopes", "all required scopes present")
	} else {
		t.Skip(stage, "scopes", "route requires no scope")
	}

	if len(c.IPAllow) > 0 || len(id.IPAllow) > 0 {
		if !allowed(c.IPAllow, in.ClientIP) || !allowed(id.IPAllow, in.ClientIP) {
			d := "The gateway saw client address " + in.ClientIP.String() + " (from " + in.IPSource +
				"), which is not in the allow-list of credential " + id.CredentialID + "."
			t.Fail(stage, "ip", d)
			return &reason.Error{Code: reason.IPNotAllowed, Detail: d, CredentialID: id.CredentialID, Possession: true}
		}
		t.Pass(stage, "ip", "client address allowed")
	}
	return nil
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
