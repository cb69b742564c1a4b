package admin

import (
	"errors"
	"strconv"
	"strings"

	"gatehouse/internal/domain"
	"gatehouse/internal/reqid"
	"gatehouse/internal/store"
)

func (a *API) listCalls(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.CallFilter{Page: p, RouteID: rc.query("route"), TenantID: rc.scope()}
	// A route's calls outlive it, so an id no route has now is a fair
	// question; anything else is a mistake, not "no calls".
	if r := f.RouteID; r != "" && !strings.HasPrefix(r, prefixRoute) {
		if strings.HasPrefix(r, "/") {
			return nil, invalid("route %q is a path; route takes a route id (%s…): find it with gatehouse route list", r, prefixRoute)
		}
		return nil, invalid("route %q is not a route id (%s…): list them with gatehouse route list", r, prefixRoute)
	}
	if s := rc.query("since"); s != "" {
		if f.Since, err = parseInstant("since", s, rc.now); err != nil {
			return nil, err
		}
	}
	if s := rc.query("until"); s != "" {
		if f.Until, err = parseInstant("until", s, rc.now); err != nil {
			return nil, err
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return nil, invalid("until (%s) is before since (%s)", f.Until.Format("2006-01-02T15:04:05Z07:00"), f.Since.Format("2006-01-02T15:04:05Z07:00"))
	}
	if s := rc.query("status"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return nil, invalid("status %q must be an HTTP status code such as 401", s)
		}
		f.Status = n
	}
	if f.Code, err = rc.reasonFilter(); err != nil {
		return nil, err
	}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	if f.ConsumerID, err = rc.consumerFilter(); err != nil {
		return nil, err
	}
	items, next, err := a.cfg.Store.QueryCalls(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	return list(items, next), nil
}

func (a *API) getCall(rc *reqCtx) (any, error) {
	id := strings.TrimSpace(rc.r.PathValue("id"))
	if up := strings.ToUpper(id); up != id && reqid.Valid(up) {
		id = up // request IDs are upper case; one retyped in lower case is the same ID
	}
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') }) {
		return nil, invalid("%q is not a request id: one is 26 letters and digits (e.g. 01JD3V8X2K9P4QW7M5N6R3T1YZ), from the X-Request-Id header or the error body's request_id", id)
	}
	c, err := a.cfg.Store.GetCall(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no call with request id %q: records reach the log within about a second of the response and are kept for the retention period (default 7 days); copy the id from the X-Request-Id header or the error body. whoami's and gatehouse doctor's dry runs are not calls: their request ids are not recorded", id)
	}
	if err != nil {
		return nil, storeError(err)
	}
	if s := rc.scope(); s != "" && c.TenantID != s {
		return nil, rc.reach("call", c.RequestID, c.RequestID, c.TenantID)
	}
	v := callView{Call: c, Trace: c.Trace, Consumer: c.ConsumerID}
	if v.Trace == nil {
		v.Trace = []domain.TraceStep{}
	}
	return v, nil
}

// callView is one call for gatehouse explain: always with its trace and
// consumer members (Appendix A), empty when the call kept no trace or
// identified no consumer.
type callView struct {
	domain.Call
	Trace    []domain.TraceStep `json:"trace"`
	Consumer string             `json:"consumer"` // shadows Call's omitempty member
}
