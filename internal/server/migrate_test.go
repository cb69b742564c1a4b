package server

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/store/sqlite"
)

// gatehouse migrate applies every migration with progress, is idempotent,
// and leaves a database the store opens without migrating again.
func TestMigrate(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "g.db")
	var out bytes.Buffer
	if err := Migrate(context.Background(), url, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[1/") || !strings.Contains(out.String(), "00001_schema.sql … done") {
		t.Fatalf("no progress lines:\n%s", out.String())
	}
	out.Reset()
	if err := Migrate(context.Background(), url, &out); err != nil || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	st, err := sqlite.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
}
