// Package npmtest installs the npm packages that tests use as independent
// clients (the openai SDK, http-message-signatures, jose) into the
// git-ignored <repo>/.npm-tests/<name>, from the calling package's
// testdata/npm/package-lock.json, so every run uses the locked versions.
package npmtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// Install runs `npm ci` for testdata/npm into <repo>/.npm-tests/<name>
// unless the same lock file is already installed there (probe is a
// package whose package.json proves the install), and returns the
// node_modules path.
func Install(t testing.TB, name, probe string) string {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("repository root (go.mod) not found")
		}
		root = parent
	}
	dir := filepath.Join(root, ".npm-tests", name)
	modules := filepath.Join(dir, "node_modules")
	lock, err := os.ReadFile(filepath.Join("testdata", "npm", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	installed, _ := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if _, err := os.Stat(filepath.Join(modules, probe, "package.json")); err == nil && bytes.Equal(installed, lock) {
		return modules
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "npm", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("node is installed but npm is not")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return modules
}

// Node returns the path of node for a test that drives an npm package
// (what names the test): skipped without node, failed under CI
// (testenv.Require).
func Node(t testing.TB, what string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	testenv.Require(t, "node, for the "+what, err)
	return node
}
