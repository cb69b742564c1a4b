package postgres

import (
	"testing"

	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/store/storetest"
)

// openTemp opens a store in a fresh schema; the store is closed and the
// schema dropped when the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	return openURL(t, pgtest.Schema(t), Options{})
}

func openURL(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	s, err := OpenWith(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}
