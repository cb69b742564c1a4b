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
