package postgres

import (
	"testing"

	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/store/storetest"
)

func TestConformanceUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) store.Store { return openURL(t, pgtest.Schema(t), Options{}) })
}
