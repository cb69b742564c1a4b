package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestApprovalWorkflowThroughCLI: request → the caller gets
// subscription.pending → approve → the next call passes (no restart, no
// wait) → revoke → the next call fails with subscription.revoked. Every
// step through the real binary's CLI against a real gateway process.
func TestApprovalWorkflowThroughCLI(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer up.Close()
	dir := t.TempDir()
	n := startNode(t, dir, fmt.Sprintf("proxy_addr: 127.0.0.1:0\nadmin_addr: 127.0.0.1:0\ndatabase: sqlite://%s\nlog_level: warn\n", filepath.Join(dir, "g.db")))
	owner := n.adminPost(t, "/admin/v1/tenants", map[string]any{"slug": "payments", "name": "Payments"})["id"]
	shop := n.adminPost(t, "/admin/v1/tenants", map[string]any{"slug": "shop", "name": "Shop"})["id"]
	svc := n.adminPost(t, "/admin/v1/services", map[string]any{"tenant": owner, "name": "ledger", "targets": []string{up.URL}, "visibility": "published"})["id"]
	n.adminPost(t, "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/ledger"}})
	con := n.adminPost(t, "/admin/v1/consumers", map[string]any{"tenant": shop, "name": "checkout"})["id"]
	key := n.adminPost(t, "/admin/v1/keys", map[string]any{"consumer": con})["key"].(string)

	cli := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(binary, append(args, "-o", "json")...)
		cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_URL="+n.admin, "GATEHOUSE_ADMIN_TOKEN="+n.token)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gatehouse %v: %v\n%s", args, err, out)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("gatehouse %v: not JSON: %s", args, out)
		}
		return v
	}
	call := func() (int, string) {
		req, _ := http.NewRequest("GET", n.proxy+"/ledger/entries", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&b)
		code, _ := b["code"].(string)
		return resp.StatusCode, code
	}

	if st, code := call(); st != 403 || code != "subscription.required" {
		t.Fatalf("before any request: %d %s", st, code)
	}
	sub := cli("subscription", "request", "--consumer", "shop/checkout", "--service", "ledger", "--note", "checkout needs the ledger")
	id, _ := sub["id"].(string)
	if sub["state"] != "pending" || id == "" {
		t.Fatalf("request: %v", sub)
	}
	if st, code := call(); st != 403 || code != "subscription.pending" {
		t.Fatalf("pending: %d %s", st, code)
	}
	cli("subscription", "approve", id, "--note", "ok")
	if st, code := call(); st != 200 {
		t.Fatalf("right after approval: %d %s", st, code)
	}
	cli("subscription", "revoke", id, "--note", "contract ended")
	if st, code := call(); st != 403 || code != "subscription.revoked" {
		t.Fatalf("right after revocation: %d %s", st, code)
	}
}
