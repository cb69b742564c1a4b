package sqlite

import (
	"testing"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

func TestConformanceUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) store.Store { return openTemp(t) })
}
