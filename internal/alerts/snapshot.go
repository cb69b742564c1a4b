package alerts

import (
	"gatehouse/internal/domain"
	"gatehouse/internal/snapshot"
)

// SnapshotKeys looks keys up in the gateway's current snapshot, for
// Options.Keys: a map lookup, no store query.
func SnapshotKeys(h *snapshot.Holder) func(id string) (domain.APIKey, bool) {
	return func(id string) (domain.APIKey, bool) {
		s := h.Load()
		if s == nil {
			return domain.APIKey{}, false
		}
		k := s.Key(id)
		if k == nil {
			return domain.APIKey{}, false
		}
		return k.APIKey(), true
	}
}

// SnapshotRouteService returns Options.RouteService over the snapshots h
// holds: the service a route forwards to.
func SnapshotRouteService(h *snapshot.Holder) func(routeID string) (domain.Service, bool) {
	return func(routeID string) (domain.Service, bool) {
		s := h.Load()
		if s == nil {
			return domain.Service{}, false
		}
		r := s.Route(routeID)
		if r == nil || r.Service == nil {
			return domain.Service{}, false
		}
		return r.Service.Service, true
	}
}
