package sqlite

import (
	"path/filepath"
	"testing"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// openTemp opens a fresh store on a temp file and closes it after the test.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
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
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.Context(), "sqlite://:memory:")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestKeyStreamConformance runs the key-streaming suite (LoadStream,
// incremental key loads).
func TestKeyStreamConformance(t *testing.T) {
	storetest.RunKeyStream(t, func(t *testing.T) store.Store { return openTemp(t) })
}
