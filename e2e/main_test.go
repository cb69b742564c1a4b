// Package e2e drives the real gatehouse binary as a user would: built with
// go build, started as a process, talked to over loopback, killed.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, "./cmd/gatehouse")
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// node is one running gatehouse process.
type node struct {
	cmd          *exec.Cmd
	proxy, admin string
	token        string
	stderr       *bytes.Buffer
}

func startNode(t *testing.T, dir, configYAML string) *node {
	t.Helper()
	return startNodeEnv(t, dir, configYAML)
}

// startNodeEnv starts a node with extra environment variables.
func startNodeEnv(t *testing.T, dir, configYAML string, env ...string) *node {
	t.Helper()
	cfg := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready.json")
	_ = os.Remove(ready)
	n := &node{token: "gh_admin_e2e_token_0123456789abcdefghijkl", stderr: &bytes.Buffer{}}
	n.cmd = exec.Command(binary, "serve", "--config", cfg, "--ready-file", ready)
	n.cmd.Env = append(append(os.Environ(), "GATEHOUSE_ADMIN_TOKEN="+n.token), env...)
	n.cmd.Stdout = io.Discard
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			_ = n.cmd.Wait()
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			var addrs map[string]string
			if json.Unmarshal(b, &addrs) == nil {
				n.proxy, n.admin = "http://"+addrs["proxy"], "http://"+addrs["admin"]
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse did not become ready: %s", n.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) adminPost(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", n.admin+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
	}
	return out
}
