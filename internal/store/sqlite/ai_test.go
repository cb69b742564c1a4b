package sqlite

import (
	"testing"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

func TestConformanceAI(t *testing.T) {
	storetest.RunAI(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestConformanceAIInMemory(t *testing.T) {
	storetest.RunAI(t, func(t *testing.T) store.Store {
		s, err := Open(t.Context(), "sqlite://:memory:")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
